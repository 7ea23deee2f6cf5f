"""The native RTL generator: an IR graph to one pipelined Verilog-2005 module.

Structure (initiation interval 1, fixed latency):

* stage 0 registers the input bus (``<input>_q``);
* every ``Dense``/``Conv`` (fused with the ``Activation`` right after it when that is its only
  consumer) and every other computing layer (``Activation``, ``Pool``, ``ScaleShift``,
  ``Add``, ``Steps``) is one combinational stage ending in a register named after the stage's
  last layer (``<layer>_q``); ``Reshape`` is wiring and ``Concat`` wiring plus casts (no
  register). Each layer's output bus is a named net (``<layer>_y``), so a mismatch can be
  traced to a layer;
* graphs with several paths (``inputs``: skip connections) are scheduled so every path into a
  layer has the same latency: the earlier operands go through delay registers
  (``<bus>_d<k>``);
* a valid shift register (``valid_q``) runs beside the data; ``rst`` clears only it.

Arithmetic follows ``asicflow.golden`` bit for bit (:mod:`asicflow.rtl.layers`). With constant
weights and an exact accumulator, the rows of a layer that read the same inputs (a Dense, one
output position of a Conv) are one constant matrix built as a shared adder graph of two-input
adders (:mod:`asicflow.rtl.cmvm`, :mod:`asicflow.rtl.adders`), optionally pipelined inside
(``pipe``). Otherwise each constant product ``x * w`` is written as its canonical-signed-digit
shift-add terms, and all terms of one output go into a single multi-operand sum (sign
extension eliminated, see :mod:`asicflow.rtl.arith`). With
``weights="ports"`` every weight, bias and scale is a field of the input port ``params_in``
(layout in ``rtl.json`` ``params``) and every product is a real multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asicflow.errors import UnsupportedModel
from asicflow.fixed import FixedType
from asicflow.ir import (
    Activation,
    Add,
    Concat,
    Conv,
    Dense,
    Graph,
    Input,
    Layer,
    Pool,
    Reshape,
    ScaleShift,
    Steps,
)
from asicflow.rtl.adders import Pipe
from asicflow.rtl.layers import LayerLogic, Params
from asicflow.rtl.params import PARAMS_PORT, param_layout
from asicflow.rtl.reuse import Control
from asicflow.rtl.verilog import Module, Sig, identifier, literal

VERILOG_FILE = "top.v"
WEIGHT_MODES = ("const", "ports")


@dataclass
class RtlDesign:
    """The generated Verilog and its description (written as ``rtl.json``)."""

    top: str
    verilog: str
    info: dict[str, Any]


@dataclass
class Val:
    """A layer's output: element views of bus net ``bus`` valid ``stage`` cycles after input."""

    bus: str
    t: FixedType
    elems: list[Sig]
    stage: int
    arrival: float = 0.0  # > 0: combinational, this many ns into stage ``stage``


@dataclass
class Plan:
    """Registered stage groups (a computing layer + fused activation) and wiring layers."""

    groups: list[list[Layer]] = field(default_factory=list)
    wires: list[Layer] = field(default_factory=list)


def _is_wire(lay: Layer) -> bool:
    return isinstance(lay, Reshape | Concat)


def plan(graph: Graph) -> Plan:
    """Group the layers after the input into pipeline stages."""
    out = Plan()
    group_of: dict[str, list[Layer]] = {}
    for lay in graph.layers[1:]:
        if _is_wire(lay):
            out.wires.append(lay)
            continue
        prods = graph.producers(lay)
        if isinstance(lay, Activation) and len(prods) == 1:
            g = group_of.get(prods[0].name)
            if (
                g is not None
                and len(g) == 1
                and isinstance(g[0], Dense | Conv)
                and len(graph.consumers(prods[0])) == 1
            ):
                g.append(lay)
                group_of[lay.name] = g
                continue
        g = [lay]
        out.groups.append(g)
        group_of[lay.name] = g
    return out


class _Builder:
    def __init__(
        self,
        graph: Graph,
        m: Module,
        params: Params | None,
        ctl: Control | None,
        pipe: Pipe | None = None,
    ) -> None:
        self.graph = graph
        self.m = m
        self.beat = ctl.beat if ctl is not None else 1
        self.regs: list[str] = []
        self.pipe = pipe or Pipe()
        self.pipe.regs = self.regs
        self.logic = LayerLogic(m, params, ctl, self.pipe)
        self.delays: dict[tuple[str, int], Val] = {}
        self.probes: list[dict[str, Any]] = []

    # -- buses and registers --------------------------------------------------------------
    def bus(self, name: str, t: FixedType, elems: list[Sig], stage: int) -> Val:
        """Pack ``elems`` into net ``<name>_y`` (``t.width`` bits each)."""
        net = self.m.net(f"{name}_y", t.width * len(elems))
        packed = ", ".join(self.m.fit(e, t.width) for e in reversed(elems))
        self.m.body.append(
            f"assign {net} = {{{packed}}};" if len(elems) > 1 else f"assign {net} = {packed};"
        )
        return Val(net, t, _views(net, t, elems), stage)

    def register(self, name: str, v: Val) -> Val:
        """``v`` one cycle later, in register ``<name>``."""
        width = v.t.width * len(v.elems)
        net = self.m.net(name, width, reg=True)
        self.regs.append(f"{net} <= {self.m.ref(Sig(v.bus, 0, width, False, 0, 0))};")
        return Val(net, v.t, _views(net, v.t, v.elems), v.stage + 1)

    def settled(self, v: Val) -> Val:
        """``v`` from a register: ``v`` itself, or (a combinational value the pipeliner left
        unregistered) ``<bus>_q`` one stage later."""
        if v.arrival <= 0.0:
            return v
        key = (v.bus, 0)
        if key not in self.delays:
            self.delays[key] = self.register(f"{v.bus}_q", v)
        return self.delays[key]

    def at(self, v: Val, stage: int) -> Val:
        """``v`` delayed to ``stage`` (shared delay registers ``<bus>_d<k>``)."""
        assert stage >= v.stage
        if stage > v.stage:
            v = self.settled(v)
        out = v
        for k in range(1, stage - v.stage + 1):
            key = (v.bus, k)
            if key not in self.delays:
                self.delays[key] = self.register(f"{v.bus}_d{k}", out)
            out = self.delays[key]
        return out

    def probe(self, lay: Layer, v: Val, stage: int, registered: bool = True) -> None:
        """Record where ``lay``'s output can be read: ``v.stage`` registers after the input,
        in the first cycle of that beat (a register or wiring: steady for the whole beat),
        or in its last cycle (a combinational result: complete at the last phase)."""
        r = self.beat
        cycle = 1 + (v.stage - 1) * r if registered else v.stage * r
        self.probes.append(_probe(lay, v.bus, cycle, stage))

    # -- layers ---------------------------------------------------------------------------
    def compute(self, lay: Layer, ins: list[Val], prods: list[Layer]) -> list[Sig]:
        lg = self.logic
        xs = ins[0].elems
        if isinstance(lay, Dense):
            return lg.dense(lay, xs, prods[0].out_type)
        if isinstance(lay, Conv):
            return lg.conv(lay, xs, prods[0].out_type)
        if isinstance(lay, Activation):
            return lg.activation(lay, xs)
        if isinstance(lay, Pool):
            return lg.pool(lay, xs)
        if isinstance(lay, ScaleShift):
            return lg.scale(lay, xs, prods[0].out_type)
        if isinstance(lay, Steps):
            return lg.steps(lay, xs)
        if isinstance(lay, Add):
            return lg.add(lay, [v.elems for v in ins], [p.out_type for p in prods])
        if isinstance(lay, Concat):
            return lg.concat(lay, [v.elems for v in ins], prods)
        raise UnsupportedModel(f"no RTL rule for layer '{lay.name}' of kind {lay.kind!r}")

    def inputs(self, vals: dict[str, Val], lay: Layer) -> tuple[list[Val], list[Layer], int]:
        """The producers' values, aligned to the latest of them (delay registers)."""
        prods = self.graph.producers(lay)
        if not prods:
            raise TypeError(f"layer '{lay.name}' has no producer")
        for p in prods:
            if p.name not in vals:
                raise TypeError(f"layer '{lay.name}' reads '{p.name}' before it is computed")
        t = max(vals[p.name].stage for p in prods)
        ins = [self.at(vals[p.name], t) for p in prods]
        if not (len(ins) == 1 and self.logic.pipelined(lay, prods[0].out_type)):
            ins = [self.settled(v) for v in ins]  # logic outside the pipeliner's model
            t = max(v.stage for v in ins)
            ins = [self.at(v, t) for v in ins]
        return ins, prods, t

    def group(self, vals: dict[str, Val], group: list[Layer], k: int) -> None:
        """A Dense/Conv (and its fused activation) or another computing layer, ending in
        register ``<layer>_q``; with the pipeliner on, a layer read only by pipelined layers
        ends unregistered when its outputs arrive within the stage (the next layer's
        adders continue the stage)."""
        ins, prods, t = self.inputs(vals, group[0])
        self.m.body.append(f"// stage {k}: {' + '.join(lay.name for lay in group)}")
        lg = self.logic
        arrival = 0.0
        for lay in group:
            piped = lg.pipelined(lay, prods[0].out_type)
            lg.t_in = ins[0].arrival
            ys = self.compute(lay, ins, prods)
            t += lg.take_stages()  # pipeline registers inside the layer
            v = self.bus(lay.name, lay.out_type, ys, t)
            # a fused activation is part of the pipelined layer's modelled cast
            arrival = lg.t_out if piped else arrival if lay is not group[0] else 0.0
            v.arrival = arrival
            if lay is group[-1]:
                if v.arrival > 0.0 and lay is not self.graph.output:
                    self.probe(lay, v, t, registered=False)
                else:
                    v = self.register(f"{lay.name}_q", v)
                    self.probe(lay, v, t)
            else:
                self.probe(lay, v, t, registered=False)
            vals[lay.name] = v
            ins, prods = [v], [lay]

    def wire(self, vals: dict[str, Val], lay: Layer) -> None:
        if isinstance(lay, Reshape):  # wiring: a combinational value stays one
            prods = self.graph.producers(lay)
            src = vals[prods[0].name]
            v = Val(src.bus, src.t, src.elems, src.stage, src.arrival)
            self.probe(lay, v, v.stage, registered=v.arrival <= 0.0)
            vals[lay.name] = v
            return
        ins, prods, t = self.inputs(vals, lay)
        self.m.body.append(f"// {lay.name}: wiring")
        v = self.bus(lay.name, lay.out_type, self.compute(lay, ins, prods), t)
        self.probe(lay, v, t)
        vals[lay.name] = v


def _views(net: str, t: FixedType, elems: list[Sig]) -> list[Sig]:
    return [Sig(net, j * t.width, t.width, t.signed, e.lo, e.hi) for j, e in enumerate(elems)]


def generate(graph: Graph, top: str, weights: str = "const", pipe: Pipe | None = None) -> RtlDesign:
    """The Verilog module ``top`` computing ``graph`` and its description.

    ``weights="const"``: weights are constants of the design; ``"ports"``: they come from
    the ``params_in`` port (see :func:`param_layout`). ``pipe``: pipeline registers inside
    the shared adder graphs of constant-weight layers (default: none, one stage per layer);
    ignored with reuse factors > 1.
    """
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights must be one of {WEIGHT_MODES}, not {weights!r}")
    top = identifier(top)
    inp = graph.input
    if not isinstance(inp, Input):
        raise UnsupportedModel("the graph must start with an Input layer")
    for lay in graph.layers[1:]:
        if isinstance(lay, Input):
            raise TypeError(f"layer '{lay.name}': only one Input layer is supported")
    layout = param_layout(graph) if weights == "ports" else []
    params_width = sum(p["count"] * p["width"] for p in layout)

    m = Module(top)
    t_in, t_out = inp.out_type, graph.output.out_type
    clk = m.port("input", "clk", 1)
    rst = m.port("input", "rst", 1)
    in_valid = m.port("input", "in_valid", 1)
    in_data = m.port("input", "in_data", inp.size * t_in.width)
    params: Params | None = None
    if weights == "ports":
        params = {}
        if params_width:
            m.port("input", PARAMS_PORT, params_width)
        for p in layout:
            lo = -(1 << (p["width"] - 1)) if p["signed"] else 0
            hi = (1 << (p["width"] - 1)) - 1 if p["signed"] else (1 << p["width"]) - 1
            params[p["layer"], p["name"]] = [
                Sig(PARAMS_PORT, p["offset"] + k * p["width"], p["width"], p["signed"], lo, hi)
                for k in range(p["count"])
            ]
    beat = max([lay.reuse for lay in graph.layers if isinstance(lay, Dense | Conv)] + [1])
    ctl: Control | None = None
    if beat > 1:
        m.port("output", "in_ready", 1)
    m.port("output", "out_valid", 1)
    m.port("output", "out_data", graph.output.size * t_out.width)
    if beat > 1:
        out_ready = m.port("input", "out_ready", 1)
        pw = (beat - 1).bit_length()
        phase = m.net("phase_q", pw, reg=True)
        ctl = Control(Sig(phase, 0, pw, False, 0, beat - 1), beat)
    m.ref(clk)
    b = _Builder(graph, m, params, ctl, pipe if ctl is None else None)

    full = [
        Sig(in_data.base, j * t_in.width, t_in.width, t_in.signed, t_in.raw_min, t_in.raw_max)
        for j in range(inp.size)
    ]
    v_in = b.register(f"{inp.name}_q", Val(in_data.base, t_in, full, 0))
    b.probe(inp, v_in, 0)
    vals = {inp.name: v_in}
    pl = plan(graph)
    first = {g[0].name: (k, g) for k, g in enumerate(pl.groups, start=1)}
    wires = {lay.name for lay in pl.wires}
    for lay in graph.layers[1:]:
        if lay.name in first:
            b.group(vals, first[lay.name][1], first[lay.name][0])
        elif lay.name in wires:
            b.wire(vals, lay)
    out = vals[graph.output.name]
    latency = out.stage

    valid = m.net("valid_q", latency, reg=True)
    vq = Sig(valid, 0, latency, False, 0, 0)
    shift_in = (
        m.ref(in_valid)
        if latency == 1
        else f"{{{m.ref(vq.bits(0, latency - 1, False, 0, 0))}, {m.ref(in_valid)}}}"
    )
    if ctl is None:
        m.body.append(f"assign out_valid = {m.bit(vq, latency - 1)};")
    width = len(out.elems) * t_out.width
    m.body.append(f"assign out_data = {m.ref(Sig(out.bus, 0, width, False, 0, 0))};")
    if ctl is None:
        m.seq = [
            "// data registers: no reset, loaded every cycle (out_valid qualifies them)",
            "always @(posedge clk) begin",
            *[f"    {r}" for r in b.regs],
            "end",
            "",
            "// valid pipeline: the only state rst clears (synchronous, active high)",
            "always @(posedge clk) begin",
            f"    if ({m.ref(rst)}) {valid} <= {literal(0, latency)};",
            f"    else {valid} <= {shift_in};",
            "end",
        ]
    else:
        m.seq = _beat_control(m, ctl, b.regs, valid, shift_in, vq, latency, out_ready, rst)
    m.unused_sink()
    cycles = latency if ctl is None else 1 + (latency - 1) * beat
    info = _info(graph, top, cycles, b.probes, pl.groups, m, m.cells["operands"])
    info["weights"] = weights
    info["pipeline_flops"] = b.pipe.registers  # registers inside the adder graphs
    info["registers"] = [[name, width] for name, width in m.registers]  # for activity
    if ctl is not None:
        info["ii"] = beat
        info["ports"]["in_ready"] = 1
        info["ports"]["out_ready"] = 1
        info["backpressure"] = True
        info["port_map"] = {**NATIVE_READY}
        info["multipliers"] = ctl.multipliers
        info["shared_operands"] = ctl.operands
        info["reuse"] = {
            lay.name: lay.reuse for lay in graph.layers if isinstance(lay, Dense | Conv)
        }
    if weights == "ports":
        if params_width:
            info["ports"][PARAMS_PORT] = params_width
        info["params"] = layout
        info["params_width"] = params_width
        info["multipliers"] = m.cells.get("multipliers", 0)
    m.header = _header(graph, info)
    return RtlDesign(top, m.text(), info)


NATIVE_READY: dict[str, Any] = {
    "clk": "clk",
    "rst": "rst",
    "rst_active": 1,
    "in_valid": "in_valid",
    "in_data": "in_data",
    "in_ready": "in_ready",
    "out_valid": "out_valid",
    "out_data": "out_data",
    "out_ready": "out_ready",
}


def _beat_control(
    m: Module,
    ctl: Control,
    regs: list[str],
    valid: str,
    shift_in: str,
    vq: Sig,
    latency: int,
    out_ready: Sig,
    rst: Sig,
) -> list[str]:
    """Beats of R cycles: ``phase_q`` counts 0 .. R-1 and waits at R-1 until the pipeline can
    advance (the output register is empty or taken: ``out_ready``); the pipeline registers
    and the valid bits move only then, and an input is taken only then (``in_ready``)."""
    r = ctl.beat
    pw = ctl.phase.width
    phase = ctl.phase.base
    last = m.net("last_phase", 1)
    advance = m.net("advance", 1)
    taken = m.net("out_taken_q", 1, reg=True)
    m.body.append(f"assign {last} = {m.ref(ctl.phase)} == {literal(r - 1, pw)};")
    # the output register's value is offered until it is taken (once), then withdrawn
    m.body.append(f"assign out_valid = {m.bit(vq, latency - 1)} & ~{taken};")
    m.body.append(f"assign {advance} = {last} & (~out_valid | {m.ref(out_ready)});")
    m.body.append(f"assign in_ready = {advance};")
    for net in (last, advance, taken):
        m.ref(Sig(net, 0, 1, False, 0, 1))
    return [
        "// beat controller: phase, and whether the current output was taken",
        "always @(posedge clk) begin",
        f"    if ({m.ref(rst)}) {phase} <= {literal(0, pw)};",
        f"    else if (~{last}) {phase} <= {phase} + {literal(1, pw)};",
        f"    else if ({advance}) {phase} <= {literal(0, pw)};",
        "end",
        "always @(posedge clk) begin",
        f"    if ({m.ref(rst)} | {advance}) {taken} <= 1'b0;",
        f"    else if (out_valid & {m.ref(out_ready)}) {taken} <= 1'b1;",
        "end",
        "",
        "// accumulators of the time-multiplexed layers: the earlier phases' sum",
        "always @(posedge clk) begin",
        f"    if (~{last}) begin",
        *[f"        {a}" for a in ctl.acc_regs],
        "    end",
        "end",
        "",
        "// pipeline registers: no reset, loaded at the end of a beat (advance)",
        "always @(posedge clk) begin",
        f"    if ({advance}) begin",
        *[f"        {r_}" for r_ in regs],
        "    end",
        "end",
        "",
        "// valid pipeline (synchronous, active high reset)",
        "always @(posedge clk) begin",
        f"    if ({m.ref(rst)}) {valid} <= {literal(0, latency)};",
        f"    else if ({advance}) {valid} <= {shift_in};",
        "end",
    ]


def _probe(lay: Layer, signal: str, cycle: int, stage: int) -> dict[str, Any]:
    t = lay.out_type
    return {
        "name": lay.name,
        "kind": lay.kind,
        "source": lay.source,
        "size": lay.size,
        "type": t.ac(),
        "width": t.width,
        "signed": t.signed,
        "signal": signal,
        "cycle": cycle,
        "stage": stage,
    }


def _info(
    graph: Graph,
    top: str,
    latency: int,
    probes: list[dict[str, Any]],
    groups: list[list[Layer]],
    m: Module,
    operands: int,
) -> dict[str, Any]:
    t_in, t_out = graph.input.out_type, graph.output.out_type
    n_in, n_out = graph.input.size, graph.output.size
    return {
        "top": top,
        "file": VERILOG_FILE,
        "generator": "native",
        "latency_cycles": latency,
        "ii": 1,
        "ports": {
            "clk": 1,
            "rst": 1,
            "in_valid": 1,
            "in_data": n_in * t_in.width,
            "out_valid": 1,
            "out_data": n_out * t_out.width,
        },
        "input": {"size": n_in, "width": t_in.width, "signed": t_in.signed, "type": t_in.ac()},
        "output": {"size": n_out, "width": t_out.width, "signed": t_out.signed, "type": t_out.ac()},
        "stages": [[lay.name for lay in g] for g in groups],
        "layers": probes,
        "flops": m.cells["flops"],
        "adder_operands": operands,
    }


def _header(graph: Graph, info: dict[str, Any]) -> list[str]:
    lines = [
        f"// {info['top']}: generated by asicflow's native RTL generator from graph "
        f"'{graph.name}'. Do not edit.",
        "//",
        "// Interface: clk; rst (synchronous, active high; clears the valid pipeline only);",
        f"// in_valid; in_data[{info['ports']['in_data'] - 1}:0] = {info['input']['size']} x "
        f"{info['input']['type']}, element i at [i*{info['input']['width']} +: "
        f"{info['input']['width']}];",
        f"// out_valid; out_data[{info['ports']['out_data'] - 1}:0] = {info['output']['size']} x "
        f"{info['output']['type']}, element i at [i*{info['output']['width']} +: "
        f"{info['output']['width']}].",
        f"// Latency {info['latency_cycles']} cycles (in_valid sampled -> out_valid), "
        f"initiation interval {info['ii']}.",
        *(
            [
                "// Handshake: an input is taken when in_valid & in_ready, an output when",
                "// out_valid & out_ready (in_ready depends on out_ready: backpressure).",
            ]
            if info.get("backpressure")
            else []
        ),
        "// Data registers have no reset; only the valid pipeline is reset.",
        *(
            [
                f"// params_in[{info['params_width'] - 1}:0]: every weight, bias and scale "
                "(layout in rtl.json 'params'); hold it steady while data flows.",
            ]
            if info.get("params_width")
            else []
        ),
        "// Sums: constant matrices as shared two-input adders of canonical signed digits",
        "// (common subexpressions computed once); other sums as multi-operand additions.",
        "//",
        f"// {'layer':<16}{'kind':<12}{'size':>5}  {'type':<46}{'stage':<7}keras layer",
    ]
    for p in info["layers"]:
        lines.append(
            f"// {p['name']:<16}{p['kind']:<12}{p['size']:>5}  {p['type']:<46}"
            f"{p['stage']:<7}{p['source']}"
        )
    return [*lines, ""]
