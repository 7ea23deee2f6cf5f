"""The issue-3 examples end to end through ``report`` with doit, as a user runs them: 0
mismatches at every level (golden vs QKeras on every tapped layer, csim and cosim vs golden),
read from the merged metrics.json, and a report with the layer table and numerical profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from designs import make_flow
from graphs import Builder, zoo_inputs
from test_e2e import check_bit_exact, copy_flow, doit

from asicflow.config import RtlConfig
from asicflow.steps.base import execute
from asicflow.steps.golden import GoldenStep
from asicflow.steps.report import SOURCES, ReportStep

# flow -> (stimuli, layer kinds the report's layer table must show)
# (jet_mlp: through rtl_cosim in test_e2e.py; through report in the nightly regression)
EXAMPLES = {
    "econ_encoder": (2000, ("conv", "reshape", "dense")),
}


def _npz_flow(tmp: Path, name: str) -> Path:
    flow = copy_flow(tmp, name)
    text = flow.read_text().replace("npz: ../", f"npz: {Path(__file__).resolve().parents[1]}/")
    flow.write_text(text)
    return flow


def test_report_layers_profile_and_without_profile(tmp_path: Path) -> None:
    """The report's layer table shows every kind with its shape, parameters and the flow's
    reuse factor; the golden step's profile is embedded (table) and linked (PNG, copied beside
    report.md); a build tree without profile files still reports."""
    b = Builder("zoo", (6, 7, 2), seed=3)
    b.conv("conv0", 3, (3, 3), (2, 2), "same")
    b.scale("bn0")
    b.act("relu0")
    b.pool("pool0", "max", (2, 2), (1, 1), "same")
    b.reshape("flatten")
    b.dense("dense0", 4)
    g = b.build()
    fdir = tmp_path / "zoo"
    g.save(fdir / "convert")
    (fdir / "convert" / "graph.txt").write_text(g.summary() + "\n\nsome converter note\n")
    with (fdir / "convert" / "reference.npz").open("wb") as fh:
        np.savez(fh, x=zoo_inputs(g, 50))
    flow = make_flow("zoo", rtl=RtlConfig(reuse=2, reuse_layers={"dense0": 4}))
    execute(GoldenStep(), flow, tmp_path)
    for s in SOURCES:
        if not (fdir / s / "metrics.json").exists():
            (fdir / s).mkdir(exist_ok=True)
            (fdir / s / "metrics.json").write_text("{}\n")
    execute(ReportStep(), flow, tmp_path)
    report = (fdir / "report.md").read_text()
    layers = report.split("## Layers", 1)[1]
    for row in (
        "| conv0 | conv | 3x4x3 |",
        "| bn0 | scale | 3x4x3 |",
        "| pool0 | pool | 3x4x3 |",
        "| flatten | reshape | 36 |",
        "| dense0 | dense | 4 |",
    ):
        assert row in layers, row
    assert "stride 2x2, pad t0 b1 l1 r1" in layers and "max 2x2, stride 1x1, pad t0 b1" in layers
    assert "reuse 2," in layers.split("| conv0 |")[1] and "reuse 4," in layers
    assert "some converter note" in layers
    assert "## Numerical profile" in report and "![" in report and "(profile.png)" in report
    assert "| conv0 | weights |" in report and "# Numerical profile of" not in report
    assert (fdir / "profile.png").read_bytes() == (fdir / "golden" / "profile.png").read_bytes()

    for f in ("profile.md", "profile.png"):
        (fdir / "golden" / f).unlink()
    (fdir / "profile.png").unlink()
    execute(ReportStep(), flow, tmp_path)
    report = (fdir / "report.md").read_text()
    assert "## Numerical profile" not in report and "| dense0 | dense | 4 |" in report
    assert not (fdir / "profile.png").exists()


# nightly tier: econ_encoder (a conv net) through report takes ~4 minutes; the fast tier has its
# conv layers bit-exact with QKeras (test_convert.py), in C++ and RTL (the layer zoo), and this
# report's layer table and profile on a small conv graph (above)
@pytest.mark.nightly
@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_end_to_end(tmp_path: Path, name: str) -> None:
    vectors, kinds = EXAMPLES[name]
    flow = _npz_flow(tmp_path, name)
    executed, out = doit(tmp_path, [flow])
    assert f"report:{name}" in executed, out
    fdir = tmp_path / "build" / name
    m = json.loads((fdir / "metrics.json").read_text())
    check_bit_exact(m, vectors)
    assert m["golden__layers_compared"] >= 3
    assert float(m["design__instance__area"]) > 0
    assert isinstance(m["timing__setup__ws"], float)
    report = (fdir / "report.md").read_text()
    for row in (
        f"| golden vs QKeras (every layer) | {vectors} | 0 |",
        f"| csim (C++) vs golden | {vectors} | 0 |",
        f"| rtl_cosim (verilator) vs golden | {vectors} | 0 |",
    ):
        assert row in report
    assert "## Numerical profile" in report and "![" in report and "| bits used |" in report
    assert (fdir / "profile.png").stat().st_size > 1000
    layers = report.split("## Layers", 1)[1]
    for kind in kinds:
        assert f"| {kind} |" in layers
