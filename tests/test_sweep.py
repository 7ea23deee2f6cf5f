"""The reuse-factor sweep (asicflow/sweep.py, ``doit sweep:<flow>``): the same steps per point,
separate build roots, a table and a plot; area falls and II rises with R, all bit exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from designs import make_flow
from graphs import random_inputs, random_mlp

from asicflow import sweep
from asicflow.config import FlowConfig, SimConfig
from asicflow.errors import ConfigError
from asicflow.steps.base import execute
from asicflow.steps.golden import GoldenStep
from asicflow.tasks import sweep_tasks

VECTORS = 300


def converted(build: Path, name: str = "tiny") -> FlowConfig:
    """A flow whose convert (a random 16-12-6 MLP, random stimuli) and golden steps are done."""
    g = random_mlp([16, 12, 6], seed=5, w_bits=6, act_bits=6, sparsity=0.2, name=name)
    conv = build / name / "convert"
    g.save(conv)
    (conv / "graph.txt").write_text(g.summary() + "\n")
    with (conv / "reference.npz").open("wb") as fh:
        np.savez(fh, x=random_inputs(g, VECTORS))
    (conv / "metrics.json").write_text("{}\n")
    flow = make_flow(name, sim=SimConfig(simulator="icarus"))
    execute(GoldenStep(), flow, build)
    return flow


def test_reuse_factors_from_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = make_flow("f")
    monkeypatch.delenv(sweep.REUSE_ENV, raising=False)
    assert sweep.sweep_reuse(flow) == sweep.DEFAULT_REUSE == (1, 2, 4, 8)
    monkeypatch.setenv(sweep.REUSE_ENV, "4,1, 2")
    assert sweep.sweep_reuse(flow) == (1, 2, 4)
    for bad in ("1,x", "0,2"):
        monkeypatch.setenv(sweep.REUSE_ENV, bad)
        with pytest.raises(ConfigError):
            sweep.sweep_reuse(flow)


def test_point_flow_and_steps() -> None:
    flow = make_flow("f")
    pf = sweep.point_flow(flow, 4)
    assert pf.rtl.reuse == 4 and pf.rtl.reuse_layers == {} and flow.rtl.reuse == 1
    names = [s.name for s in sweep.point_steps(flow)]
    assert names == ["hls", "csim", "rtl", "rtl_cosim", "synth", "sta"]
    assert {f.split("/")[0] for f in sweep.shared_files(flow)} == {"convert", "golden"}


def test_sweep_task_declaration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sweep:<flow>``: depends on the flow's convert/golden files, writes only under
    build/<flow>/sweep/, and its config signature covers every point's reuse factor."""
    monkeypatch.setenv("ASICFLOW_BUILD", str(tmp_path))
    monkeypatch.delenv(sweep.REUSE_ENV, raising=False)
    flow = make_flow("f", source=tmp_path / "f.yaml")
    tasks = list(sweep_tasks([(tmp_path / "f.yaml", flow)]))
    assert tasks[0]["name"] is None
    (task,) = tasks[1:]
    assert task["name"] == "f"
    assert all(str(tmp_path / "f" / "sweep") in t for t in task["targets"])
    deps = [Path(d) for d in task["file_dep"]]
    assert tmp_path / "f" / "golden" / "stimuli.npz" in deps
    assert tmp_path / "f" / "convert" / "graph.json" in deps
    sig = sweep.config_signature(flow)
    assert sig["reuse"] == [1, 2, 4, 8]
    assert [sig[f"r{r}.rtl"]["rtl.reuse"] for r in (1, 2, 4, 8)] == [1, 2, 4, 8]


@pytest.mark.slow
@pytest.mark.tools
def test_sweep_area_falls_ii_rises(tmp_path: Path) -> None:
    flow = converted(tmp_path)
    own = sorted(p.name for p in (tmp_path / "tiny").iterdir())
    rows = sweep.run_sweep(flow, tmp_path, (1, 2, 4, 8))
    # The flow's own folders are untouched: only sweep/ is new.
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == sorted([*own, "sweep"])
    out = tmp_path / "tiny" / "sweep"
    for r, row in zip((1, 2, 4, 8), rows, strict=True):
        assert row["sweep__reuse"] == r
        assert row["csim__vectors"] == row["cosim__vectors"] == VECTORS
        assert row["csim__mismatches"] == 0 and row["cosim__mismatches"] == 0
        assert row["cosim__ii"] == row["rtl__ii"] == r
        assert row["cosim__latency_cycles"] == row["rtl__latency_cycles"]
        assert (out / f"r{r}" / "tiny" / "sta" / "metrics.json").exists()
        assert (
            json.loads((out / f"r{r}" / "tiny" / "rtl" / "config.json").read_text())["config"][
                "rtl.reuse"
            ]
            == r
        )
    ii = [row["cosim__ii"] for row in rows]
    lat = [row["cosim__latency_cycles"] for row in rows]
    # II strictly rising; latency never falling (at R = 1 the pipeliner may add stages that
    # R = 2's slower beat does not need, so R = 1 and 2 can tie)
    assert ii == sorted(set(ii)) and lat == sorted(lat) and lat[1:] == sorted(set(lat[1:]))
    # Constant weights: 1/R of the adder operands, each behind an R-input multiplexer.
    area = [row["design__instance__area"] for row in rows]
    assert area[0] > area[1] > area[2] > area[3], area
    table = (out / "sweep.md").read_text()
    assert "| R | II (cosim) |" in table and table.count("\n| ") == 5
    assert (out / "sweep.png").stat().st_size > 1000
    assert json.loads((out / "sweep.json").read_text()) == rows
