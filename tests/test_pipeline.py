"""Pipeline registers inside the shared adder graphs (asicflow.rtl.adders.Pipe): a tight
stage budget adds stages, and the design stays bit exact at the latency rtl.json states."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from graphs import random_mlp
from test_rtl_cosim import assert_cosim_clean, prepare, rtl_and_cosim

import asicflow.steps.rtl
from asicflow.rtl import generate
from asicflow.rtl.adders import DelayModel, Pipe

MODEL = DelayModel(adder_base_ns=0.5, adder_per_bit_ns=0.1)


def test_tight_budget_adds_stages() -> None:
    graph = random_mlp([16, 12, 5], seed=4)
    flat = generate(graph, "flat")
    deep = generate(graph, "deep", pipe=Pipe(budget_ns=3.0, model=MODEL))
    assert flat.info["latency_cycles"] == 3 and flat.info["pipeline_flops"] == 0
    assert deep.info["latency_cycles"] > flat.info["latency_cycles"]
    assert deep.info["pipeline_flops"] > 0
    assert deep.info["flops"] > flat.info["flops"]


@pytest.mark.tools
def test_pipelined_cosim_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = Pipe(budget_ns=3.0, model=MODEL)
    monkeypatch.setattr(asicflow.steps.rtl, "generate", functools.partial(generate, pipe=pipe))
    graph = random_mlp([16, 12, 5], seed=4)
    flow = prepare(tmp_path, graph, "piped", 300)
    metrics = rtl_and_cosim(tmp_path, flow)
    info = json.loads((tmp_path / "piped" / "rtl" / "rtl.json").read_text())
    assert info["latency_cycles"] > 3
    assert_cosim_clean(metrics, 300, info["latency_cycles"], "verilator")
