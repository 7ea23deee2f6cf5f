"""Calibrate the pipeliner's adder delay model (:class:`asicflow.rtl.adders.DelayModel`) on a
PDK corner: generate adder chains and trees exactly as the generator writes them (registered
inputs and output, the same :class:`~asicflow.rtl.adders.Graph`), synthesize each with the
synth step's own Yosys script, time it with OpenSTA, and fit the model's parameters to the
measured critical paths.

    python -m asicflow.rtl.calibrate [--pdk sky130hd] [--corner tt] [--work build/calibrate]

Prints each design's measured and modelled delay and the ``delay_model`` block to put in the
corner of ``pdk_configs/<pdk>.yaml``. It runs once per PDK corner (about 10 minutes on two
cores; ``--refit`` reuses the measured designs), not in a flow: the flows read the numbers from
the PDK configuration. Synthesis includes the synth step's fan-out buffering.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asicflow.errors import AsicflowError
from asicflow.fixed import FixedType
from asicflow.ir_random import random_mlp
from asicflow.liberty import plain_liberty
from asicflow.pdk import find_root, load_pdk
from asicflow.rtl.adders import DelayModel, Graph, Node, Pipe, emit_cmvm, sum_tree
from asicflow.rtl.arith import multiply, relu
from asicflow.rtl.cast import cast
from asicflow.rtl.cmvm import Cmvm, solve
from asicflow.rtl.generator import generate
from asicflow.rtl.layers import product_node
from asicflow.rtl.verilog import Module, Sig

# (kind, operand width, operands, outputs): single adders of several widths (the flip-flop
# overhead and the carry), chains of adders whose every partial sum is read twice (as the
# common subexpressions of a shared adder graph are: Yosys cannot merge them into one
# carry-save sum), and layers as the generator builds them: a random constant matrix
# (6-bit weights, a quarter of them zero) as a shared adder graph, each output cast, ReLU'd
# and saturated to 6 bits, as a Dense layer with a fused activation; and the same matrices'
# sums registered without the cast (where a pipeline register cuts a layer), so the fit
# tells the sums' delay from the cast's.
DESIGNS: tuple[tuple[str, int, int, int], ...] = (
    ("adder", 4, 2, 1),
    ("adder", 8, 2, 1),
    ("adder", 16, 2, 1),
    ("adder", 24, 2, 1),
    ("shared", 8, 5, 4),
    ("shared", 8, 9, 8),
    ("shared", 6, 13, 12),
    ("layer", 8, 4, 4),
    ("layer", 8, 16, 8),
    ("layer", 6, 16, 16),
    ("layer", 8, 32, 8),
    ("layer", 6, 32, 16),
    ("layer", 6, 64, 8),
    ("layer", 8, 64, 16),
    ("layer", 8, 16, 64),
    ("layer", 6, 32, 32),
    ("layer", 8, 64, 32),
    ("layer", 6, 64, 32),
    ("sums", 6, 16, 16),
    ("sums", 8, 32, 8),
    ("sums", 6, 64, 8),
    ("sums", 8, 16, 64),
    ("sums", 6, 32, 32),
    ("sums", 8, 64, 32),
)

# Layers with weights as ports (the I2C designs: general multipliers), their sums registered:
# (kind, bits of inputs and weights, inputs, outputs). They set ``mul_ns`` only.
PORT_DESIGNS: tuple[tuple[str, int, int, int], ...] = (
    ("ports", 4, 16, 4),
    ("ports", 6, 16, 4),
    ("ports", 8, 8, 4),
)

# Random networks (dense -> quantized ReLU ... -> dense) generated with the pipeliner at a
# 10 ns clock, for the model's cast and derate corrections (:func:`networks`): cutting a sum
# leaves complete sums Yosys cannot merge across the register, and a stage ending in a layer's
# cast and activation gets its sum bits together from a register, which the fit on single
# layers does not see. (sizes, weight bits, activation
# bits, zero-weight fraction, input bits, seed)
NETWORKS: tuple[tuple[tuple[int, ...], int, int, float, int, int], ...] = (
    ((32, 32, 16, 10), 8, 8, 0.2, 8, 11),
    ((16, 64, 32, 5), 6, 8, 0.5, 10, 12),
    ((64, 16, 10), 6, 6, 0.3, 6, 13),
)


def network_design(index: int, model: DelayModel, budget: float) -> tuple[str, float]:
    """Verilog (module ``cal``) of calibration network ``index`` pipelined at ``budget``, and
    the model's worst stage."""
    sizes, w_bits, act_bits, sparsity, in_bits, seed = NETWORKS[index]
    graph = random_mlp(
        list(sizes),
        seed=seed,
        in_type=FixedType(in_bits, 1, True, "RND_CONV", "SAT"),
        w_bits=w_bits,
        act_bits=act_bits,
        sparsity=sparsity,
        name="cal",
    )
    pipe = Pipe(budget_ns=budget, model=model)
    return generate(graph, "cal", pipe=pipe).verilog, pipe.worst_ns


@dataclass
class Sample:
    kind: str
    width: int
    operands: int
    outputs: int
    measured_ns: float


def design(kind: str, width: int, n: int, outs: int, model: DelayModel) -> tuple[str, float]:
    """Verilog of one calibration design (module ``cal``, one stage) and the model's delay."""
    m = Module("cal")
    clk = m.port("input", "clk", 1)
    m.ref(clk)
    xin = m.port("input", "x", width * n)
    q = m.net("xq", width * n, reg=True)
    regs = [f"{q} <= {m.ref(xin)};"]
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    xs = [Node(Sig(q, i * width, width, True, lo, hi), 0, 0.0) for i in range(n)]
    pipe = Pipe(model=model)
    pipe.regs = regs
    g = Graph(m, "s", pipe)
    results: list[Sig] = []
    if kind == "adder":
        node = g.add2(xs[0], 0, xs[1], 0, 1, None)
        results, t = [node.sig], node.t
    elif kind == "shared":  # a chain whose every partial sum is also an output (fanout 2)
        node, t = xs[0], 0.0
        for k, x in enumerate(xs[1:]):
            node = g.add2(node, 0, x, k % 3, 1 if k % 2 == 0 else -1, None)
            results.append(node.sig)
            t = max(t, node.t)
    elif kind == "ports":  # weights from registers: x * w multipliers, sums registered
        win = m.port("input", "w", width * n * outs)
        wq = m.net("wq", width * n * outs, reg=True)
        regs.append(f"{wq} <= {m.ref(win)};")
        block: list[str] = []
        rows = []
        for j in range(outs):
            terms = []
            for i, x in enumerate(xs):
                w = Sig(wq, (j * n + i) * width, width, True, lo, hi)
                p = multiply(m, f"p{j}_{i}", x.sig, w, block)
                terms.append((1, product_node(p, x.sig, w, model), 0))
            rows.append(terms)
        m.comb(block)
        nodes = [sum_tree(g, terms, 0, None) for terms in rows]
        results = [node.sig for node in nodes]
        t = max(node.t for node in nodes)
    elif kind == "sums":  # a layer's sums, registered as they are (no cast)
        sol, biases = _layer(n, outs)
        nodes = emit_cmvm(g, sol, xs, biases, 0, None)
        results = [node.sig for node in nodes]
        t = max(node.t for node in nodes)
    else:
        sol, biases = _layer(n, outs)
        nodes = emit_cmvm(g, sol, xs, biases, 0, None)
        t = 0.0
        for j, node in enumerate(nodes):
            sig = node.sig
            mid = FixedType(max(sig.width - 2, 4), sig.width - 4, True, "RND", "SAT")
            y = relu(m, f"r{j}", cast(m, sig, 4, mid, f"c{j}"))
            results.append(cast(m, y, mid.frac, FixedType(6, 2, False, "TRN", "SAT"), f"o{j}"))
            t = max(t, model.cast(node.t, node.sig.width))
    g.flush()
    total = sum(r.width for r in results)
    m.port("output", "y", total, reg=True)
    packed = ", ".join(m.ref(r) if r.const is None else f"{r.width}'d0" for r in results)
    regs.append(f"y <= {{{packed}}};")
    m.seq = ["always @(posedge clk) begin", *[f"    {r}" for r in regs], "end"]
    m.unused_sink()
    return m.text(), t


@functools.cache
def _layer(n: int, outs: int) -> tuple[Cmvm, list[int]]:
    """A random constant matrix (seeded by its shape) as a shared adder graph, and biases."""
    rng = np.random.default_rng(1000 * n + outs)
    matrix = rng.integers(-31, 32, size=(outs, n))
    matrix[rng.random(matrix.shape) < 0.25] = 0
    sol = solve([[int(w) for w in row] for row in matrix], n)
    return sol, [int(b) for b in rng.integers(-64, 64, outs)]


def measure(
    work: Path,
    spec: tuple[str, int, int, int],
    liberty: Path,
    pdk: str,
    verilog: str = "",
    tag: str = "",
) -> float:
    """Critical path (ns) of one design (``verilog``, default: the spec unpipelined) after
    the synth step's Yosys script."""
    from asicflow.steps.sta import sdc, tcl_script
    from asicflow.steps.synth import buffer_netlist, strip_signed, synth_script

    cells = load_pdk(pdk).cells
    kind, width, n, outs = spec
    folder = work / f"{kind}_{width}b_{n}x{outs}{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    verilog = verilog or design(kind, width, n, outs, DelayModel())[0]
    period = 100.0
    script = synth_script("cal", "top.v", liberty, cells)
    done = folder / "sta.log"  # the same design timed before (a re-run of the calibration)
    same = [(folder / f, text) for f, text in (("top.v", verilog), ("synth.ys", script))]
    if all(p.is_file() and p.read_text() == text for p, text in same):
        found = re.search(r"^worst slack (\S+)", done.read_text() if done.is_file() else "", re.M)
        if found is not None:
            return period - float(found.group(1))
    (folder / "top.v").write_text(verilog)
    (folder / "synth.ys").write_text(script)
    _run([sys.executable, "-m", "asicflow.pyosys_run", "synth.ys"], folder)
    strip_signed(folder / "netlist.v")
    buffer_netlist(folder, liberty, cells)
    (folder / "constraints.sdc").write_text(sdc(period, True, cells.buffer))
    (folder / "sta.tcl").write_text(tcl_script(liberty, "netlist.v", "cal"))
    out = _run(["sta", "-no_init", "-exit", "sta.tcl"], folder)
    found = re.search(r"^worst slack (\S+)", out, re.MULTILINE)
    if found is None:
        raise AsicflowError(f"no worst slack in OpenSTA's output in {folder}")
    return period - float(found.group(1))


def _run(argv: list[str], cwd: Path) -> str:
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    (cwd / f"{Path(argv[-1]).stem}.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise AsicflowError(f"{' '.join(argv)} failed in {cwd} (log beside it)")
    return res.stdout


def predict(model: DelayModel, s: Sample) -> float:
    return design(s.kind, s.width, s.operands, s.outputs, model)[1] + model.register_ns


def fit(samples: Sequence[Sample], register_ns: float) -> DelayModel:
    """(sum_ns, carry_ns, fanout_ns, csa_ns) of least squared error with ``register_ns`` fixed (a
    grid, then Nelder-Mead from its best point), then the margin that covers the worst
    underestimate."""
    from scipy.optimize import minimize

    def model_of(x: Sequence[float]) -> DelayModel:
        return DelayModel(
            sum_ns=float(x[0]),
            carry_ns=float(x[1]),
            register_ns=register_ns,
            fanout_ns=float(x[2]),
            csa_ns=float(x[3]),
        )

    def error(x: Sequence[float]) -> float:
        if min(x) < 0.0:
            return 1e9
        # relative: the single adders (the carry) weigh as much as the largest layers
        return sum((predict(model_of(x), s) / s.measured_ns - 1.0) ** 2 for s in samples)

    grid = [
        (a, b, c, d)
        for a in (0.2, 0.5)
        for b in (0.1, 0.25, 0.4)
        for c in (0.0, 0.3)
        for d in (0.3, 0.6)
    ]
    start = min(grid, key=error)
    res = minimize(error, start, method="Nelder-Mead", options={"xatol": 0.005, "fatol": 0.01})
    best = model_of([round(float(v), 3) for v in res.x])
    under = max(s.measured_ns - predict(best, s) for s in samples)
    return dataclasses.replace(best, margin_ns=round(max(under, 0.0), 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m asicflow.rtl.calibrate", description=__doc__)
    ap.add_argument("--pdk", default="sky130hd")
    ap.add_argument("--corner", default="")
    ap.add_argument("--pdk-root", default="")
    ap.add_argument("--work", default="build/calibrate")
    ap.add_argument("--refit", action="store_true", help="reuse the designs measured before")
    args = ap.parse_args(argv)
    cfg = load_pdk(args.pdk)
    corner = args.corner or cfg.default_corner
    if corner not in cfg.corners:
        raise AsicflowError(f"corner {corner!r}: choose one of {', '.join(sorted(cfg.corners))}")
    root, _ = find_root(cfg, Path(args.pdk_root) if args.pdk_root else None)
    work = Path(args.work) / f"{args.pdk}_{corner}"
    liberty = plain_liberty(root / cfg.corners[corner].liberty, work / "liberty")
    done = work / "measured.json"  # kept: --refit fits again without synthesizing
    known = json.loads(done.read_text()) if args.refit and done.is_file() else {}
    samples = []
    for spec in DESIGNS:
        key = "_".join(map(str, spec))
        t = known[key] if key in known else measure(work, spec, liberty, args.pdk)
        known[key] = t
        samples.append(Sample(*spec, t))
        print(f"{_name(samples[-1]):<22} {t:7.3f} ns", flush=True)
    done.write_text(json.dumps(known, indent=1) + "\n")
    model = fit(samples, _register_overhead(samples))
    print("\nmeasured  model  design")
    for s in samples:
        print(f"{s.measured_ns:8.3f} {predict(model, s):6.3f}  {_name(s)}")
    model = networks(model, work, liberty, args.pdk)
    model = dataclasses.replace(model, voter_ns=voter(work, liberty, args.pdk))
    model = dataclasses.replace(model, mul_ns=products(model, work, liberty, args.pdk))
    print(
        f"\n# {args.pdk} corner {corner}: python -m asicflow.rtl.calibrate "
        f"({len(samples)} designs)\n"
        f"    delay_model: {{sum_ns: {model.sum_ns:.3f}, carry_ns: {model.carry_ns:.3f}, "
        f"fanout_ns: {model.fanout_ns:.3f}, csa_ns: {model.csa_ns:.3f}, "
        f"register_ns: {model.register_ns:.2f}, "
        f"margin_ns: {model.margin_ns:.2f}, derate: {model.derate:.3f}, "
        f"cast_ns: {model.cast_ns:.2f}, voter_ns: {model.voter_ns:.2f}, "
        f"mul_ns: {model.mul_ns:.2f}}}"
    )
    return 0


def networks(model: DelayModel, work: Path, liberty: Path, pdk: str, rounds: int = 6) -> DelayModel:
    """``model`` with the ``cast_ns``, ``margin_ns`` and ``derate`` its calibration networks
    need at a 10 ns clock, as measured. Each round pipelines the networks and measures their
    worst stage. A miss first corrects ``cast_ns`` by the model's underestimate of the worst
    network (most over-long stages end in a layer's cast and activation, measured: the
    pipeliner then ends the sums' stage earlier instead of cutting every sum tighter), then
    scales the ``derate`` by the measured over the wanted logic delay. A meet with more than
    0.3 ns to spare gives the spare back from ``margin_ns`` (the single-stage designs' worst
    underestimate, which the networks, built as the flows are, do not all need), until a
    round misses. The last trial that met wins, else the one with the lowest measured worst
    stage (cutting tighter does not always help: more cuts make more complete sums, each
    with its own carry chain)."""
    period, guard = 10.0, 0.1
    want = period - guard - model.register_ns
    trial = model
    met: DelayModel | None = None
    tried: list[tuple[float, int, DelayModel]] = []  # (measured worst, round, model)
    for k in range(rounds):
        worst, under = 0.0, 0.0  # the worst stage, and the model's underestimate of it
        for i, (sizes, *_) in enumerate(NETWORKS):
            verilog, modelled = network_design(i, trial, trial.budget(period))
            name = "-".join(map(str, sizes))
            tag = f"_{name}_c{trial.cast_ns:.2f}_m{trial.margin_ns:.2f}_d{trial.derate:.3f}"
            t = measure(work, ("net", 0, i, 0), liberty, pdk, verilog, tag)
            if t > worst:
                worst, under = t, t - (modelled + trial.register_ns)
            print(
                f"{t:8.3f} {modelled + trial.register_ns:6.3f}  network {name}, pipelined, "
                f"cast {trial.cast_ns:.2f} ns, margin {trial.margin_ns:.2f} ns, "
                f"derate {trial.derate:.3f}",
                flush=True,
            )
        tried.append((worst, k, trial))
        spare = period - guard - worst
        if spare >= 0.0:
            met = trial
            if spare < 0.3 or trial.margin_ns == 0.0:
                return trial
            nxt = dataclasses.replace(trial, margin_ns=round(max(trial.margin_ns - spare, 0.0), 2))
        elif met is not None:
            return met  # the margin given back was too much: the last trial that met
        elif trial.cast_ns == model.cast_ns:
            nxt = dataclasses.replace(trial, cast_ns=round(max(under, 0.0) + model.cast_ns, 2))
        else:
            factor = max(1.0, trial.derate * (worst - model.register_ns) / want)
            nxt = dataclasses.replace(trial, derate=round(factor, 3))
            if worst > min(w for w, _, _ in tried) + 0.2:
                break  # the last correction made it worse
        if nxt == trial:
            break
        trial = nxt
    if met is not None:
        return met
    worst, _, best = min(tried, key=lambda x: (x[0], x[1]))
    print(
        f"WARNING: the calibration networks miss {period:g} ns at every trial "
        f"(best: {worst:.3f} ns at cast {best.cast_ns:.2f} ns, derate {best.derate:.3f}); "
        "flows on this corner may miss timing"
    )
    return best


def products(model: DelayModel, work: Path, liberty: Path, pdk: str) -> float:
    """``mul_ns``: the smallest extra delay of a multiplier's partial products with which
    ``model``'s margin covers every port-weight layer of :data:`PORT_DESIGNS` (a product's
    every bit moves by it, so each design's modelled delay moves by it exactly)."""
    need = 0.0
    for spec in PORT_DESIGNS:
        t = measure(work, spec, liberty, pdk)
        modelled = predict(dataclasses.replace(model, mul_ns=0.0), Sample(*spec, t))
        print(f"{t:8.3f} {modelled:6.3f}  {_name(Sample(*spec, t))} (mul_ns 0)", flush=True)
        need = max(need, t - modelled - model.margin_ns)
    return round(need, 2)


# The designs timed with and without TMR insertion for the voters' cost.
VOTER_DESIGNS: tuple[tuple[str, int, int, int], ...] = (("layer", 8, 16, 8), ("layer", 6, 32, 16))


def voter(work: Path, liberty: Path, pdk: str) -> float:
    """What TMR insertion (``asicflow.tmr``: a majority voter after every register) adds to
    a stage: the largest measured difference over :data:`VOTER_DESIGNS` with and without it."""
    import functools

    from asicflow import tmr
    from asicflow.runner import run_tool

    worst = 0.0
    for spec in VOTER_DESIGNS:
        verilog = design(*spec, DelayModel())[0]
        plain = measure(work, spec, liberty, pdk, verilog)
        folder = work / f"tmr_{'_'.join(map(str, spec))}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plain.v").write_text(verilog)
        tmr.insert(
            functools.partial(run_tool, log=folder / "log.txt"), folder / "plain.v", "cal", folder
        )
        t = measure(work, spec, liberty, pdk, (folder / "top.v").read_text(), "_tmr")
        print(f"{t:8.3f} {plain:6.3f}  {_name(Sample(*spec, t))} with TMR, without", flush=True)
        worst = max(worst, t - plain)
    return round(worst, 2)


def _name(s: Sample) -> str:
    return f"{s.kind} {s.width}-bit {s.operands}x{s.outputs}"


def _register_overhead(samples: Sequence[Sample]) -> float:
    """Clock-to-output plus setup, from the single-adder designs: extrapolated to no logic
    (the measured delay of the two narrowest single adders, linear in width, at width 0)."""
    singles = sorted((s.width, s.measured_ns) for s in samples if s.kind == "adder")
    (w0, t0), (w1, t1) = singles[0], singles[1]
    return round(max(t0 - (t1 - t0) / (w1 - w0) * w0, 0.2), 2)


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
