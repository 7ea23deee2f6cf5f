"""The native RTL generator: an IR graph to one fully parallel, pipelined Verilog-2005 module.

Structure (initiation interval 1, fixed latency):

* stage 0 registers the input bus (``<input>_q``);
* every ``Dense`` (fused with the ``Activation`` right after it, if any) and every other
  ``Activation`` is one combinational stage ending in a register named after the stage's
  last layer (``<layer>_q``); each layer's output bus is also a named net (``<layer>_y``),
  so a mismatch can be traced to a layer;
* a valid shift register (``valid_q``) runs beside the data; ``rst`` clears only it.

Arithmetic follows ``asicflow.golden`` bit for bit. Each constant product ``x * w`` is
written as its canonical-signed-digit shift-add terms, and all terms of one output go into a
single multi-operand sum (sign extension eliminated, see :mod:`asicflow.rtl.arith`; Yosys
builds one carry-save tree from it). When the accumulator is narrower than a product (a
precision override), every product is first formed exactly and cast to the accumulator with
its rounding mode, as the golden model does. The sums of a layer sit in one ``always @*``
block (see :meth:`Module.comb`); casts, ReLUs and buses are continuous assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asicflow.fixed import FixedType
from asicflow.fixed import cast as fixed_cast
from asicflow.ir import Activation, Dense, Graph, Input, Layer
from asicflow.rtl.arith import Term, add, product, relu
from asicflow.rtl.cast import cast
from asicflow.rtl.csd import csd
from asicflow.rtl.verilog import Module, Sig, identifier, literal

VERILOG_FILE = "top.v"


@dataclass
class RtlDesign:
    """The generated Verilog and its description (written as ``rtl.json``)."""

    top: str
    verilog: str
    info: dict[str, Any]


def stages(graph: Graph) -> list[list[Layer]]:
    """Layers after the input grouped into pipeline stages (Dense + following Activation)."""
    out: list[list[Layer]] = []
    for lay in graph.layers[1:]:
        if (
            isinstance(lay, Activation)
            and out
            and len(out[-1]) == 1
            and isinstance(out[-1][0], Dense)
        ):
            out[-1].append(lay)
        else:
            out.append([lay])
    return out


class _Builder:
    def __init__(self, graph: Graph, top: str) -> None:
        self.graph = graph
        self.m = Module(top)
        self.regs: list[str] = []

    # -- layers -------------------------------------------------------------------------
    def dense(self, lay: Dense, xs: list[Sig], in_type: FixedType) -> list[Sig]:
        fx, fw = in_type.frac, lay.weight_type.frac
        acc = lay.accum
        acc_wrap = acc.with_modes(acc.rounding, "WRAP")
        bias = fixed_cast(lay.bias, lay.bias_type.frac, acc_wrap)
        exact = acc.frac >= fx + fw  # every product lands exactly in the accumulator
        products: dict[tuple[int, int], Sig] = {}
        if not exact:  # form each product, then cast it to the accumulator (rounding)
            block: list[str] = []
            for i, w in sorted({(i, int(w)) for (i, _), w in np.ndenumerate(lay.weights) if w}):
                name = f"{lay.name}_p{i}_{_num(w)}"
                products[i, w] = product(self.m, name, xs[i], w, block)
            self.m.comb(block)
            products = {
                key: cast(self.m, p, fx + fw, acc_wrap, f"{p.base}_acc")
                for key, p in products.items()
            }
        block = []
        totals = []
        for j in range(lay.size):
            terms: list[Term] = []
            for i, x in enumerate(xs):
                w = int(lay.weights[i, j])
                if w and exact:
                    terms += [Term(d, x, k + acc.frac - fx - fw) for k, d in csd(w)]
                elif w:
                    terms.append(Term(1, products[i, w], 0))
            totals.append(add(self.m, f"{lay.name}_acc{j}", int(bias[j]), terms, acc, block))
        self.m.comb(block)
        return [
            cast(self.m, total, acc.frac, lay.out_type, f"{lay.name}_{j}")
            for j, total in enumerate(totals)
        ]

    def activation(self, lay: Activation, xs: list[Sig]) -> list[Sig]:
        outs = []
        for j, x in enumerate(xs):
            if lay.relu:
                x = relu(self.m, f"{lay.name}_relu{j}", x)
            outs.append(cast(self.m, x, lay.in_type.frac, lay.out_type, f"{lay.name}_{j}"))
        return outs

    # -- buses --------------------------------------------------------------------------
    def bus(self, name: str, t: FixedType, elems: list[Sig]) -> list[Sig]:
        """Pack ``elems`` into net ``<name>_y`` (``t.width`` bits each); its element views."""
        net = self.m.net(f"{name}_y", t.width * len(elems))
        packed = ", ".join(self.m.fit(e, t.width) for e in reversed(elems))
        self.m.body.append(
            f"assign {net} = {{{packed}}};" if len(elems) > 1 else f"assign {net} = {packed};"
        )
        return _views(net, t, elems)

    def register(self, name: str, t: FixedType, src: list[Sig]) -> tuple[str, list[Sig]]:
        net = self.m.net(f"{name}_q", t.width * len(src), reg=True)
        whole = Sig(src[0].base, 0, t.width * len(src), False, 0, 0)
        self.regs.append(f"{net} <= {self.m.ref(whole)};")
        return net, _views(net, t, src)


def _views(net: str, t: FixedType, elems: list[Sig]) -> list[Sig]:
    return [Sig(net, j * t.width, t.width, t.signed, e.lo, e.hi) for j, e in enumerate(elems)]


def _num(w: int) -> str:
    return f"m{-w}" if w < 0 else str(w)


def generate(graph: Graph, top: str) -> RtlDesign:
    """The Verilog module ``top`` computing ``graph`` and its description."""
    top = identifier(top)
    inp = graph.input
    if not isinstance(inp, Input):
        raise TypeError("the graph must start with an Input layer")
    b = _Builder(graph, top)
    m = b.m
    groups = stages(graph)
    latency = 1 + len(groups)
    t_in, t_out = inp.out_type, graph.output.out_type
    clk = m.port("input", "clk", 1)
    rst = m.port("input", "rst", 1)
    in_valid = m.port("input", "in_valid", 1)
    in_data = m.port("input", "in_data", inp.size * t_in.width)
    m.port("output", "out_valid", 1)
    m.port("output", "out_data", graph.output.size * t_out.width)
    m.ref(clk)

    full = [
        Sig(in_data.base, j * t_in.width, t_in.width, t_in.signed, t_in.raw_min, t_in.raw_max)
        for j in range(inp.size)
    ]
    net, xs = b.register(inp.name, t_in, full)
    probes = [_probe(inp, net, 1, 0)]
    prev: Layer = inp
    for k, group in enumerate(groups, start=1):
        m.body.append(f"// stage {k}: {' + '.join(lay.name for lay in group)}")
        for lay in group:
            if isinstance(lay, Dense):
                ys = b.dense(lay, xs, prev.out_type)
            elif isinstance(lay, Activation):
                ys = b.activation(lay, xs)
            else:
                raise TypeError(f"no RTL rule for layer kind {lay.kind!r}")
            xs = b.bus(lay.name, lay.out_type, ys)
            if lay is group[-1]:
                net, xs = b.register(lay.name, lay.out_type, xs)
                probes.append(_probe(lay, net, k + 1, k))
            else:
                probes.append(_probe(lay, xs[0].base, k, k))
            prev = lay

    valid = m.net("valid_q", latency, reg=True)
    vq = Sig(valid, 0, latency, False, 0, 0)
    shift_in = (
        m.ref(in_valid)
        if latency == 1
        else f"{{{m.ref(vq.bits(0, latency - 1, False, 0, 0))}, {m.ref(in_valid)}}}"
    )
    m.body.append(f"assign out_valid = {m.bit(vq, latency - 1)};")
    m.body.append(f"assign out_data = {m.ref(Sig(net, 0, len(xs) * t_out.width, False, 0, 0))};")
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
    m.unused_sink()
    info = _info(graph, top, latency, probes, groups, m, m.cells["operands"])
    m.header = _header(graph, info)
    return RtlDesign(top, m.text(), info)


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
        "initiation interval 1.",
        "// Data registers have no reset; only the valid pipeline is reset.",
        "// Sums: constant products as canonical-signed-digit shift-adds; signed operands are",
        "// added as sign-inverted unsigned fields with the offsets folded into the constant.",
        "//",
        f"// {'layer':<16}{'kind':<12}{'size':>5}  {'type':<46}{'stage':<7}keras layer",
    ]
    for p in info["layers"]:
        lines.append(
            f"// {p['name']:<16}{p['kind']:<12}{p['size']:>5}  {p['type']:<46}"
            f"{p['stage']:<7}{p['source']}"
        )
    return [*lines, ""]
