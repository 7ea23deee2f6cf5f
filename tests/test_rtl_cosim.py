"""Native Verilog generator, the rtl step (Verilator lint) and the rtl_cosim step (cocotb).

Real runs: Verilator and Icarus simulate the generated Verilog against the golden model; the
Verilog cast is checked against ``asicflow.fixed.cast`` on every input of small types, for
every rounding and overflow mode.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from graphs import layer_zoo, random_inputs, random_mlp, zoo_inputs

from asicflow.config import FlowConfig, RtlConfig, SimConfig
from asicflow.errors import CheckFailed, ToolMissing
from asicflow.fixed import OVERFLOW, ROUNDING, FixedType, cast
from asicflow.ir import Activation, Conv, Dense, Graph, Input, Layer
from asicflow.precision import Override, infer
from asicflow.rtl import RtlDesign, generate
from asicflow.rtl import cast as rtl_cast
from asicflow.rtl.cosim_run import TESTBENCH_DIR
from asicflow.rtl.csd import csd
from asicflow.rtl.suite import wrap
from asicflow.rtl.tools import check_simulator, find_verilator, tool_path
from asicflow.rtl.verilog import Module, Sig, identifier
from asicflow.steps.base import execute
from asicflow.steps.cosim import CosimStep
from asicflow.steps.rtl import LINT_FLAGS, RtlStep
from asicflow.stimuli import load_stimuli, write_stimuli


def prepare(
    build: Path, graph: Graph, name: str, n: int, sim: str = "verilator", pipeline: str = "layer"
) -> FlowConfig:
    """What the convert and golden steps would leave in ``build/<name>``; the RTL with one
    stage per layer unless ``pipeline`` says otherwise (tests/test_pipeline.py: 'auto')."""
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, n), build / name / "golden")
    flow = FlowConfig(model=Path("unused.h5"), name=name)
    return dataclasses.replace(flow, sim=SimConfig(simulator=sim), rtl=RtlConfig(pipeline=pipeline))


def rtl_and_cosim(build: Path, flow: FlowConfig) -> dict[str, object]:
    execute(RtlStep(), flow, build=build)
    return execute(CosimStep(), flow, build=build)


def assert_cosim_clean(metrics: dict[str, object], n: int, latency: int, sim: str) -> None:
    assert metrics["cosim__vectors"] == n
    assert metrics["cosim__mismatches"] == 0
    assert metrics["cosim__latency_cycles"] == latency
    assert metrics["cosim__ii"] == 1
    assert metrics["cosim__simulator"] == sim


def override_graph() -> Graph:
    """Standalone quantizers, rounded products, saturation, a zero row and a zero column."""
    rng = np.random.default_rng(11)
    w0 = rng.integers(-32, 32, (10, 8))
    w0[3, :] = 0  # input 3 meets only zero weights
    w0[:, 5] = 0  # output 5 is its bias
    w1 = rng.integers(-8, 8, (8, 5))
    layers: list[Layer] = [
        Input("input", "input", 10, FixedType(9, 3, True, "RND_CONV", "SAT")),
        Activation("in_q", "in_q", 10, FixedType(7, 2, True, "RND_INF", "SAT_SYM")),
        Dense(
            "dense0",
            "fc1",
            8,
            FixedType(1, 1),
            n_in=10,
            weight_type=FixedType(6, 0),
            bias_type=FixedType(9, 2),
            weights=w0,
            bias=rng.integers(-256, 256, 8),
        ),
        Activation("relu0", "relu0", 8, FixedType(6, 2, False, "RND_ZERO", "SAT"), relu=True),
        Activation("q0", "q0", 8, FixedType(4, 1, False, "RND_MIN_INF", "SAT_ZERO")),
        Dense(
            "dense1",
            "fc2",
            5,
            FixedType(1, 1),
            n_in=8,
            weight_type=FixedType(4, 1, True),
            bias_type=FixedType(6, 3),
            weights=w1,
            bias=rng.integers(-32, 32, 5),
        ),
    ]
    graph = Graph("overrides", layers)
    t = FixedType.parse
    infer(
        graph,
        {  # products have 11 fractional bits; the accumulators keep fewer: rounding
            "dense0": Override(
                t("ac_fixed<13, 5, true, AC_RND_CONV>"),
                t("ac_fixed<7, 3, true, AC_TRN_ZERO, AC_SAT>"),
            ),
            "dense1": Override(
                t("ac_fixed<9, 4, true, AC_RND>"), t("ac_fixed<5, 2, true, AC_RND_INF, AC_SAT_SYM>")
            ),
        },
    )
    return graph


# -- no tools ------------------------------------------------------------------------------


def test_csd_is_canonical() -> None:
    for w in range(-300, 301):
        digits = csd(w)
        assert sum(d << k for k, d in digits) == w
        shifts = [k for k, _ in digits]
        assert all(b - a >= 2 for a, b in itertools.pairwise(shifts))  # non-adjacent
        assert len(digits) <= (abs(w).bit_length() + 2) // 2 + 1


def test_generator_structure() -> None:
    g = random_mlp([8, 4, 3], seed=0)
    design = generate(g, "my-net")
    info = design.info
    assert info["top"] == "my_net" and "module my_net (" in design.verilog
    assert info["latency_cycles"] == 3 and info["ii"] == 1
    assert info["stages"] == [["dense0", "relu0"], ["dense1"]]
    assert info["ports"]["in_data"] == 8 * 8 and info["ports"]["out_data"] == 3 * 13
    probes = {p["name"]: (p["signal"], p["cycle"]) for p in info["layers"]}
    assert probes == {
        "input": ("input_q", 1),
        "dense0": ("dense0_y", 1),
        "relu0": ("relu0_q", 2),
        "dense1": ("dense1_q", 3),
    }
    assert "if (rst) valid_q <= 3'h0;" in design.verilog
    assert identifier("module") == "module_" and identifier("3x-y") == "n3x_y"


# -- Verilog cast against asicflow.fixed.cast, every mode, every input ---------------------

SRC_FRAC = 4
CAST_SOURCES = {  # name: (width, signed, lo, hi) of the source value
    "src_s": (6, True, -32, 31),
    "src_u": (6, False, 0, 63),
    "src_r": (7, True, -21, 9),  # a declared field wider than the value range
}


def cast_cases() -> list[FixedType]:
    out = []
    for shift, width, signed, r, o in itertools.product(
        (-2, 0, 1, 2, 3, 6, 8), (3, 7), (True, False), ROUNDING, OVERFLOW
    ):
        frac = SRC_FRAC - shift
        out.append(FixedType(width, width - frac, signed, r, o))
    return out


def cast_module(
    name: str, width: int, signed: bool, lo: int, hi: int, dsts: list[FixedType]
) -> str:
    """One module per cast (so lint sees each alone) and a wrapper ``name`` of them all."""
    texts = []
    for k, d in enumerate(dsts):
        m = Module(f"{name}_c{k}")
        m.port("input", "x", width)
        m.port("output", "y", d.width)
        y = rtl_cast.cast(m, Sig("x", 0, width, signed, lo, hi), SRC_FRAC, d, "c")
        m.body.append(f"assign y = {m.fit(y, d.width)};")
        m.unused_sink()
        texts.append(m.text())
    total = sum(d.width for d in dsts)
    lines = [f"module {name} (input wire [{width - 1}:0] x, output wire [{total - 1}:0] y);"]
    pos = 0
    for k, d in enumerate(dsts):
        lines.append(f"    {name}_c{k} u{k} (.x(x), .y(y[{pos + d.width - 1}:{pos}]));")
        pos += d.width
    return "\n".join([*texts, *lines, "endmodule", ""])


def cast_testbench(dsts: list[FixedType]) -> str:
    lines = ["`timescale 1ns/1ps", "module tb;"]
    body = []
    for name, (width, _, lo, hi) in CAST_SOURCES.items():
        out_w = sum(d.width for d in dsts)
        lines += [
            f"reg [{width - 1}:0] {name}_x;",
            f"wire [{out_w - 1}:0] {name}_y;",
            f"{name} u_{name} (.x({name}_x), .y({name}_y));",
        ]
        body += [
            f"for (i = {lo}; i <= {hi}; i = i + 1) begin",
            f'  {name}_x = i; #1; $display("{name} %0d %h", i, {name}_y);',
            "end",
        ]
    return "\n".join(
        [*lines, "integer i;", "initial begin", *body, "$finish;", "end", "endmodule", ""]
    )


@pytest.mark.tools
def test_verilog_cast_matches_fixed_cast_exhaustively(tmp_path: Path) -> None:
    dsts = cast_cases()
    files = []
    for name, (width, signed, lo, hi) in CAST_SOURCES.items():
        path = tmp_path / f"{name}.v"
        path.write_text(cast_module(name, width, signed, lo, hi, dsts))
        files.append(path)
        lint = subprocess.run(
            [find_verilator(), *LINT_FLAGS, "--top-module", name, str(path)],
            capture_output=True,
            text=True,
            env={"PATH": tool_path()},
        )
        assert lint.returncode == 0, lint.stderr
    (tmp_path / "tb.v").write_text(cast_testbench(dsts))
    subprocess.run(
        [
            "iverilog",
            "-g2005",
            "-o",
            str(tmp_path / "tb.vvp"),
            str(tmp_path / "tb.v"),
            *map(str, files),
        ],
        check=True,
    )
    out = subprocess.run(
        ["vvp", "-n", str(tmp_path / "tb.vvp")], check=True, capture_output=True, text=True
    ).stdout
    seen = {name: 0 for name in CAST_SOURCES}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] not in CAST_SOURCES:
            continue
        name, v, bits = parts[0], int(parts[1]), int(parts[2], 16)
        seen[name] += 1
        pos = 0
        for d in dsts:
            raw = bits >> pos & ((1 << d.width) - 1)
            pos += d.width
            got = raw - (1 << d.width) if d.signed and raw >> (d.width - 1) else raw
            want = int(cast(np.array([v]), SRC_FRAC, d)[0])
            assert got == want, f"{name}: cast({v}, frac {SRC_FRAC}) to {d.ac()}: {got} != {want}"
    assert seen == {n: hi - lo + 1 for n, (_, _, lo, hi) in CAST_SOURCES.items()}


# -- rtl step -----------------------------------------------------------------------------


@pytest.mark.tools
def test_rtl_step_writes_linted_verilog(tmp_path: Path) -> None:
    g = override_graph()
    flow = prepare(tmp_path, g, "lint_me", 10)
    metrics = execute(RtlStep(), flow, build=tmp_path)
    folder = tmp_path / "lint_me" / "rtl"
    info = json.loads((folder / "rtl.json").read_text())
    assert info["top"] == "lint_me" and "module lint_me (" in (folder / "top.v").read_text()
    assert info["stages"] == [["in_q"], ["dense0", "relu0"], ["q0"], ["dense1"]]
    assert metrics["rtl__latency_cycles"] == info["latency_cycles"] == 5
    assert metrics["rtl__ii"] == 1 and metrics["rtl__lint_warnings"] == 0
    assert info["input"] == {
        "size": 10,
        "width": 9,
        "signed": True,
        "type": "ac_fixed<9, 3, true, AC_RND_CONV, AC_SAT>",
    }
    assert "unused_bits" in (folder / "top.v").read_text()  # input 3 only meets zero weights
    commands = (folder / "commands.sh").read_text()
    assert " ".join(LINT_FLAGS) in commands
    config = json.loads((folder / "config.json").read_text())
    assert config["config"] == {
        "name": "lint_me",
        "rtl.generator": "native",
        "rtl.weights": "const",
        "rtl.reuse": 1,
        "rtl.reuse_layers": {},
        "rtl.pipeline": "layer",  # one stage per layer: neither the clock nor the corner
    }
    assert config["versions"]["verilator"]


# -- rtl_cosim ----------------------------------------------------------------------------


@pytest.mark.tools
@pytest.mark.parametrize(
    "name, graph, latency",
    [
        ("digits_mlp", random_mlp([64, 16, 10], seed=0), 3),
        (
            "deep_mlp",
            random_mlp(
                [16, 64, 32, 32, 5],
                seed=3,
                w_bits=4,
                act_bits=8,
                sparsity=0.5,
                in_type=FixedType(10, 4, False, "TRN", "WRAP"),
            ),
            5,
        ),
    ],
)
def test_cosim_verilator_bit_exact(tmp_path: Path, name: str, graph: Graph, latency: int) -> None:
    flow = prepare(tmp_path, graph, name, 1000)
    metrics = rtl_and_cosim(tmp_path, flow)
    assert_cosim_clean(metrics, 1000, latency, "verilator")
    result = json.loads((tmp_path / name / "rtl_cosim" / "result.json").read_text())
    assert result["passes"]["gaps"]["mismatches"] == 0
    assert result["passes"]["gaps"]["cycles"] > result["passes"]["stream"]["cycles"]
    assert float(metrics["cosim__vectors_per_s"]) > 1000  # type: ignore[arg-type]


@pytest.mark.tools
def test_cosim_rounding_and_saturation(tmp_path: Path) -> None:
    graph = override_graph()
    flow = prepare(tmp_path, graph, "overrides", 1000)
    golden = load_stimuli(tmp_path / "overrides" / "golden")
    for name in ("in_q", "dense0", "q0", "dense1"):  # the modes must actually act
        t = graph.layer(name).out_type
        assert np.isin(golden[f"layer.{name}"], [t.raw_min, t.raw_max, -t.raw_max]).any()
    assert (golden["layer.q0"] == 0).any()
    assert_cosim_clean(rtl_and_cosim(tmp_path, flow), 1000, 5, "verilator")


@pytest.mark.tools
def test_cosim_icarus_bit_exact(tmp_path: Path) -> None:
    flow = prepare(tmp_path, random_mlp([64, 16, 10], seed=1), "icarus_mlp", 200, "icarus")
    assert_cosim_clean(rtl_and_cosim(tmp_path, flow), 200, 3, "icarus")


@pytest.mark.tools
def test_cosim_mismatch_fails_and_keeps_good_result(tmp_path: Path) -> None:
    flow = prepare(tmp_path, random_mlp([12, 6, 4], seed=2), "broken", 50, "icarus")
    rtl_and_cosim(tmp_path, flow)
    good = tmp_path / "broken" / "rtl_cosim"
    before = {p.name: p.read_bytes() for p in (good / "metrics.json", good / "result.json")}
    golden = tmp_path / "broken" / "golden"
    stim = load_stimuli(golden)
    stim["y"][7, 2] += 1
    stim["layer.dense1"][7, 2] += 1
    stim["layer.dense0"][7, 4] += 1  # as if the first layer's golden output were wrong
    with (golden / "stimuli.npz").open("wb") as fh:
        np.savez(fh, **stim)
    with pytest.raises(
        CheckFailed,
        match=r"(?s)stimulus 7, output 2: expected raw .*layer 'dense0'"
        r" \(from Keras 'dense0'\), stimulus 7, index 4",
    ):
        execute(CosimStep(), flow, build=tmp_path)
    assert {p: (good / p).read_bytes() for p in before} == before
    assert (tmp_path / "broken" / "rtl_cosim.failed" / "result.json").is_file()


def test_cosim_missing_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flow = prepare(tmp_path, random_mlp([4, 2], seed=0), "nosim", 4, "icarus")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="apt-get install iverilog"):
        execute(CosimStep(), flow, build=tmp_path)


# -- suites: many generated networks in one simulator build -------------------------------


@dataclasses.dataclass
class Case:
    """One network (a ``generate`` result) and the graphs whose weights/stimuli it is run
    with: ``runs[0]`` is the graph it was generated from; more only for ports designs."""

    name: str
    design: RtlDesign
    runs: list[Graph]
    n: int = 1000


def lint(path: Path, top: str) -> list[str]:
    res = subprocess.run(
        [find_verilator(), *LINT_FLAGS, "--top-module", top, str(path)],
        capture_output=True,
        text=True,
        env={"PATH": tool_path()},
    )
    diags = [ln for ln in res.stderr.splitlines() if ln.startswith("%")]
    assert res.returncode == 0 and not diags, "\n".join(diags[:20])
    return diags


def run_suite(
    tmp: Path, cases: list[Case], sim: str = "verilator", inputs: Any = None
) -> list[dict[str, Any]]:
    """Lint each design alone, build them all behind one top, run every (case, graph) pair
    through the cocotb testbench; the per-run results (``result.json`` contents)."""
    inputs = inputs or zoo_inputs
    for c in cases:
        (tmp / c.name).mkdir(parents=True, exist_ok=True)
        (tmp / c.name / "top.v").write_text(c.design.verilog)
        lint(tmp / c.name / "top.v", c.design.top)
    verilog, infos = wrap([c.design for c in cases], "suite")
    (tmp / "suite.v").write_text(verilog)
    runs = []
    for c, info in zip(cases, infos, strict=True):
        (tmp / c.name / "rtl.json").write_text(json.dumps(info, indent=1))
        for k, g in enumerate(c.runs):
            folder = tmp / c.name / f"run{k}"
            g.save(folder / "convert")
            write_stimuli(g, inputs(g, c.n, seed=k + 1), folder / "golden")
            runs.append(
                {
                    "rtl_json": str(tmp / c.name / "rtl.json"),
                    "stimuli": str(folder / "golden" / "stimuli.npz"),
                    "graph_dir": str(folder / "convert"),
                    "result": str(folder / "result.json"),
                    "seed": k + 1,
                }
            )
    (tmp / "suite.json").write_text(json.dumps(runs, indent=1))
    env = {**os.environ, **check_simulator(sim)}
    base = [sys.executable, "-m", "asicflow.rtl.cosim_run"]
    common = ["--sim", sim, "--top", "suite", "--build-dir", str(tmp / "sim_build")]
    res = subprocess.run(
        [*base, "build", *common, "--source", str(tmp / "suite.v")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    res = subprocess.run(
        [
            *base,
            "test",
            *common,
            "--test-dir",
            str(tmp / "sim_run"),
            "--testbench-dir",
            str(TESTBENCH_DIR),
            "--suite",
            str(tmp / "suite.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    (tmp / "sim.log").write_text(res.stdout + res.stderr)
    missing = [r["result"] for r in runs if not Path(r["result"]).is_file()]
    assert not missing, f"no result for {missing}; log {tmp / 'sim.log'}:\n{res.stdout[-3000:]}"
    return [json.loads(Path(r["result"]).read_text()) for r in runs]


def assert_clean(results: list[dict[str, Any]], n: int = 1000) -> None:
    bad = [
        f"{r['top']}: {r['mismatches']} mismatches, {r['first_mismatch']}; {r['divergence']}"
        for r in results
        if r["mismatches"] or not r["latency_constant"] or r["vectors"] < n
    ]
    assert not bad, "\n".join(bad)
    for r in results:
        assert r["latency_cycles"] == r["latency_expected"], r["top"]


def reweighted(g: Graph, seed: int) -> Graph:
    """``g`` with every parameter array redrawn over its type's whole range."""
    rng = np.random.default_rng(seed)
    h = copy.deepcopy(g)
    for lay in h.layers:
        for name, arr in lay.arrays().items():
            t = lay.array_type(name)
            setattr(lay, name, rng.integers(t.raw_min, t.raw_max + 1, size=arr.shape))
    return h


def ports_mlp() -> Graph:
    g = random_mlp([16, 12, 6], seed=5, w_bits=6)
    infer(g, reprogrammable=True)
    return g


@pytest.mark.tools
def test_ports_mode_cosim_two_weight_sets(tmp_path: Path) -> None:
    """weights="ports": params_in driven from the graph's arrays, then from a second random
    weight set (over the full type ranges): 0 mismatches against each graph's golden model."""
    g = ports_mlp()
    design = generate(g, "ports_mlp", weights="ports")
    info = design.info
    assert info["params_width"] == sum(p["count"] * p["width"] for p in info["params"])
    assert [(p["layer"], p["name"], p["offset"]) for p in info["params"]] == [
        ("dense0", "weights", 0),
        ("dense0", "bias", 16 * 12 * 6),
        ("dense1", "weights", 16 * 12 * 6 + 12 * 6),
        ("dense1", "bias", 16 * 12 * 6 + 12 * 6 + 12 * 6 * 6),
    ]
    assert info["ports"]["params_in"] == info["params_width"]
    assert info["multipliers"] == 16 * 12 + 12 * 6  # no zero skipping
    results = run_suite(tmp_path, [Case("ports_mlp", design, [g, reweighted(g, 1)])])
    assert_clean(results)


def reprogrammable(g: Graph) -> Graph:
    h = copy.deepcopy(g)
    infer(h, reprogrammable=True)
    return h


# weights as ports: one graph per kind with parameters (conv 2-D/1-D, depthwise, scale/shift,
# dense behind a skip connection); the window/skip wiring is the constant designs' own
ZOO_PORTS = ("conv2d_same_s2", "depthwise", "conv1d_same_s2", "scale_conv", "add_skip")


@pytest.mark.slow  # ~2-3 min (one Verilator build of every zoo design): scheduled early
@pytest.mark.tools
def test_layer_zoo_cosim(tmp_path: Path) -> None:
    """Every layer kind and edge case of ``layer_zoo`` (conv 1-D/2-D, padding on every border,
    stride > 1, depthwise, pooling, reshape, scale/shift, add/concat skips, steps), constant
    weights and weights as ports (two weight sets), in one Verilator build: 0 mismatches."""
    cases = []
    for name, g in layer_zoo():
        cases.append(Case(name, generate(g, name), [g]))
        if name not in ZOO_PORTS:
            continue
        h = reprogrammable(g)
        cases.append(
            Case(f"{name}_p", generate(h, f"{name}_p", weights="ports"), [h, reweighted(h, 7)])
        )
    results = run_suite(tmp_path, cases)
    assert len(results) == len(layer_zoo()) + 2 * len(ZOO_PORTS)
    assert_clean(results)


def with_reuse(g: Graph, reuse: int | dict[str, int]) -> Graph:
    h = copy.deepcopy(g)
    for lay in h.layers:
        if isinstance(lay, Dense | Conv):
            lay.reuse = reuse if isinstance(reuse, int) else reuse.get(lay.name, 1)
    return h


def zoo_graph(name: str) -> Graph:
    return dict(layer_zoo())[name]


@pytest.mark.tools
def test_reuse_cosim_with_backpressure(tmp_path: Path) -> None:
    """Reuse 2/4/8: time-multiplexed multipliers, II = R, ready/valid with random
    backpressure: 0 mismatches in every pass (stream, in_valid gaps, out_ready stalls)."""
    mlp = random_mlp([16, 12, 5], seed=4, sparsity=0.3)
    conv = zoo_graph("conv2d_same_s2")
    skip = zoo_graph("add_skip")
    cases = [
        Case("mlp_r2", generate(with_reuse(mlp, 2), "mlp_r2"), [mlp]),
        Case("mlp_r8", generate(with_reuse(mlp, 8), "mlp_r8"), [mlp]),
        Case("conv_r4", generate(with_reuse(conv, {"conv0": 4, "dense0": 2}), "conv_r4"), [conv]),
        Case("skip_r2", generate(with_reuse(skip, {"dense1": 2}), "skip_r2"), [skip]),
        Case(
            "rounded_r4",
            generate(with_reuse(override_graph(), 4), "rounded_r4"),
            [override_graph()],
        ),
    ]
    pm = reprogrammable(mlp)
    cases.append(
        Case(
            "mlp_r4_p",
            generate(with_reuse(pm, 4), "mlp_r4_p", weights="ports"),
            [pm, reweighted(pm, 3)],
        )
    )
    pc = reprogrammable(zoo_graph("depthwise"))
    cases.append(Case("dw_r2_p", generate(with_reuse(pc, 2), "dw_r2_p", weights="ports"), [pc]))
    for c in cases:
        info = c.design.info
        r = max(info["reuse"].values())
        assert info["ii"] == r and info["backpressure"]
        assert info["ports"]["in_ready"] == info["ports"]["out_ready"] == 1
    # constant weights at R = 2: no multiplier; each output's canonical signed digits share
    # ceil(digits / 2) multiplexed adder operands
    rows = [
        sum(len(csd(int(w))) for w in lay.weights[:, j])
        for lay in mlp.layers
        if isinstance(lay, Dense)
        for j in range(lay.weights.shape[1])
    ]
    info0 = cases[0].design.info
    assert sum(rows) > 0 and info0["multipliers"] == 0
    assert info0["shared_operands"] == sum(-(-n // 2) for n in rows)
    results = run_suite(tmp_path, cases)
    assert_clean(results)
    for r in results:
        assert set(r["passes"]) == {"stream", "gaps", "backpressure"}
        assert r["ii"] == max(
            next(c for c in cases if c.design.top == r["top"]).design.info["reuse"].values()
        )


@pytest.mark.tools
def test_cosim_names_perturbed_layer(tmp_path: Path) -> None:
    """A design built with one weight changed (constant and reuse) fails against the golden
    model, and the report names the layer and index where it first diverges."""
    g = zoo_graph("add_skip")
    bad = copy.deepcopy(g)
    w = bad.layer("dense1").weights
    w[0, 3] = w[0, 3] + 1 if w[0, 3] < 31 else w[0, 3] - 1
    cases = [
        Case("bad", generate(bad, "bad"), [g], n=50),
        Case("bad_r4", generate(with_reuse(bad, 4), "bad_r4"), [g], n=50),
    ]
    results = run_suite(tmp_path, cases)
    for r in results:
        assert r["mismatches"] > 0
        assert "layer 'dense1' (from Keras 'dense1'), stimulus 0, index 3" in r["divergence"], r[
            "divergence"
        ]
