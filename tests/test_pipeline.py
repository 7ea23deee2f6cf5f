"""The timing-driven pipeliner (asicflow.rtl.adders): the bit-level delay model, stage cuts on
random constant matrices within the budget, stages across layer boundaries, N stages per
layer, and pipelined designs (constant weights, and weights as ports: multipliers) bit exact
in co-simulation at the latency rtl.json states."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from graphs import random_mlp
from test_rtl_cosim import (
    Case,
    assert_clean,
    assert_cosim_clean,
    ports_mlp,
    prepare,
    reweighted,
    rtl_and_cosim,
    run_suite,
)

import asicflow.steps.rtl
from asicflow.fixed import FixedType
from asicflow.rtl import generate
from asicflow.rtl.adders import DelayModel, Graph, Node, Pipe, emit_cmvm
from asicflow.rtl.cmvm import solve
from asicflow.rtl.verilog import Module, Sig

MODEL = DelayModel(sum_ns=0.5, carry_ns=0.1, register_ns=0.3)


def test_ripple_model_by_hand() -> None:
    m = DelayModel(sum_ns=1.0, carry_ns=0.25)
    # two 4-bit operands at 0: the carry ripples, bit i is ready at i * carry + sum
    assert m.add([0.0] * 4, [0.0] * 4) == [1.0, 1.25, 1.5, 1.75]
    # b shifted left by 2: bits 0, 1 are a's own bits (wires), the adder starts at bit 2
    assert m.add([0.0] * 4, [None, None, 0.0, 0.0]) == [0.0, 0.0, 1.0, 1.25]
    # a late operand bit dominates its own sum bit and the carries after it
    assert m.add([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]) == [1.0, 4.0, 4.25]
    assert DelayModel(register_ns=0.5, margin_ns=0.25).budget(10.0) == 9.25
    # a TMR design: every stage starts behind a majority voter
    tmr = DelayModel(register_ns=0.5, margin_ns=0.25, voter_ns=1.0)
    assert tmr.budget(10.0) == 9.25 and tmr.budget(10.0, voters=True) == 8.25


def test_tmr_flows_pipeline_for_their_voters() -> None:
    """options.tmr is part of the pipelined RTL's configuration: a TMR flow gets the
    corner's voter delay off every stage (and changing the option reruns rtl)."""
    from designs import make_flow

    from asicflow.config import OptionsConfig
    from asicflow.rtl.budget import pipeline, pipeline_reads
    from asicflow.steps.rtl import RtlStep

    plain = make_flow("plain")
    tmr = make_flow("tmr", options=OptionsConfig(tmr=True))
    p, t = pipeline(plain), pipeline(tmr)
    assert p is not None and t is not None and p.model.voter_ns > 0
    assert t.budget_ns == pytest.approx(p.budget_ns - p.model.voter_ns)
    assert "options.tmr" in pipeline_reads(plain)
    assert "options.tmr" in RtlStep().reads_for(plain)


def _graph_delays(budget: float, seed: int) -> tuple[list[Node], int, int]:
    """A random constant matrix (random shape, input width, signs, zeros) through the shared
    adder graph with stage budget ``budget``: its output nodes, inputs' width, adders."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(3, 24)), int(rng.integers(2, 16))
    width = int(rng.integers(3, 10))
    mat = rng.integers(-40, 41, size=(n_out, n_in))
    mat[rng.random(mat.shape) < rng.uniform(0.0, 0.6)] = 0
    m = Module("t")
    x = m.port("input", "x", width * n_in)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    xs = [Node(Sig(x.base, i * width, width, True, lo, hi), 0, 0.0) for i in range(n_in)]
    g = Graph(m, "g", Pipe(budget_ns=budget, model=MODEL))
    sol = solve([[int(w) for w in row] for row in mat], n_in)
    return emit_cmvm(g, sol, xs, [0] * n_out, 0, None), width, sol.adders


@pytest.mark.parametrize("seed", range(12))
def test_cuts_keep_every_stage_within_budget(seed: int) -> None:
    flat, width, adders = _graph_delays(float("inf"), seed)
    assert all(n.stage == 0 for n in flat)
    longest = max(n.t for n in flat)
    # one adder of the widest sum always fits: a budget of a third of the flat delay
    budget = max(longest / 3, MODEL.add([0.0] * 24, [0.0] * 24)[-1] or 0.0)
    piped, _, _ = _graph_delays(budget, seed)
    assert all(n.t <= budget + 1e-9 for n in piped)
    stages = max(n.stage for n in piped) + 1
    if longest > budget:
        assert stages >= 2
    # never more stages than one per adder level of the flat graph
    assert stages <= adders + 1


def test_stages_span_layers_with_a_wide_budget() -> None:
    graph = random_mlp([16, 12, 8, 5], seed=4)
    per_layer = generate(graph, "layers")
    one = generate(graph, "one", pipe=Pipe(budget_ns=1000.0, model=MODEL, across_layers=True))
    assert per_layer.info["latency_cycles"] == 4  # input register + one per layer
    assert one.info["latency_cycles"] == 2  # input and output registers only
    assert one.info["flops"] < per_layer.info["flops"]
    # the flows' default: every layer's outputs registered, whatever the budget
    wide = generate(graph, "wide", pipe=Pipe(budget_ns=1000.0, model=MODEL))
    assert wide.info["latency_cycles"] == 4


def test_tight_budget_adds_stages() -> None:
    graph = random_mlp([16, 12, 5], seed=4)
    flat = generate(graph, "flat")
    deep = generate(graph, "deep", pipe=Pipe(budget_ns=3.0, model=MODEL))
    assert flat.info["latency_cycles"] == 3 and flat.info["pipeline_flops"] == 0
    assert deep.info["latency_cycles"] > flat.info["latency_cycles"]
    assert deep.info["pipeline_flops"] > 0


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_explicit_stages_per_layer(stages: int) -> None:
    graph = random_mlp([24, 16, 10], seed=7)
    design = generate(graph, "n", pipe=Pipe(model=MODEL, per_layer=stages))
    # input register, then `stages` registered stages in each of the two constant layers
    assert design.info["latency_cycles"] == 1 + 2 * stages


@pytest.mark.tools
def test_pipelined_cosim_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cuts inside layers and stages spanning a layer boundary, in one design."""
    monkeypatch.setattr(
        asicflow.steps.rtl,
        "pipeline",
        lambda flow: Pipe(budget_ns=4.0, model=MODEL, across_layers=True),
    )
    graph = random_mlp([16, 12, 5], seed=4, in_type=FixedType(6, 2, True, "RND_CONV", "SAT"))
    flow = prepare(tmp_path, graph, "piped", 300, pipeline="auto")
    metrics = rtl_and_cosim(tmp_path, flow)
    info = json.loads((tmp_path / "piped" / "rtl" / "rtl.json").read_text())
    text = (tmp_path / "piped" / "rtl" / "top.v").read_text()
    assert info["pipeline_flops"] > 0 and "_s1 <=" in text
    assert "relu0_y_q <=" not in text and "relu0_q <=" not in text  # dense1 goes on in its stage
    assert_cosim_clean(metrics, 300, info["latency_cycles"], "verilator")


@pytest.mark.tools
def test_pipelined_port_weights_cosim_bit_exact(tmp_path: Path) -> None:
    """Weights as ports (the I2C-loaded designs' multipliers) under a clock budget: the
    products and sums are cut into stages (more latency than one stage per layer), every
    stage within the budget, and the design is bit exact with two weight sets."""
    g = ports_mlp()
    flat = generate(g, "ports_flat", weights="ports")
    pipe = Pipe(budget_ns=4.0, model=dataclasses.replace(MODEL, csa_ns=0.4))
    piped = generate(g, "ports_piped", weights="ports", pipe=pipe)
    assert piped.info["latency_cycles"] > flat.info["latency_cycles"]
    assert piped.info["multipliers"] == flat.info["multipliers"]
    assert pipe.registers > 0 and pipe.worst_ns <= 4.0
    assert_clean(run_suite(tmp_path, [Case("ports_piped", piped, [g, reweighted(g, 3)])]))
