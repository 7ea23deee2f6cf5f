"""The issue-3 examples end to end through ``report`` with doit, as a user runs them: 0
mismatches at every level (golden vs QKeras on every tapped layer, csim and cosim vs golden),
read from the merged metrics.json, and a report with the layer table and numerical profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_e2e import check_bit_exact, copy_flow, doit

pytestmark = [pytest.mark.slow, pytest.mark.tools]

# flow -> (stimuli, layer kinds the report's layer table must show)
EXAMPLES = {
    "econ_encoder": (2000, ("conv", "reshape", "dense")),
    "jet_mlp": (2000, ("dense", "activation")),
}


def _npz_flow(tmp: Path, name: str) -> Path:
    flow = copy_flow(tmp, name)
    text = flow.read_text().replace("npz: ../", f"npz: {Path(__file__).resolve().parents[1]}/")
    flow.write_text(text)
    return flow


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
