"""End to end through doit, as a user runs it: every level bit-exact, then incrementality.

The HLS-tool backends (fake Catapult and Bambu on PATH) go through cosim in
``test_hlstools.py``; the other examples through ``report`` in ``test_examples.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.tools]


def doit(
    tmp: Path, flows: list[Path], *args: str, ok: bool = True, timeout: int = 1800
) -> tuple[list[str], str]:
    env = {
        **os.environ,
        "ASICFLOW_BUILD": str(tmp / "build"),
        "ASICFLOW_FLOWS": ":".join(str(f) for f in flows),
    }
    r = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    executed = re.findall(r"^\.  (\S+)", r.stdout, flags=re.M)
    return executed, r.stdout + r.stderr


def copy_flow(tmp: Path, name: str, extra: str = "", **changes: str) -> Path:
    text = (ROOT / "flows" / f"{name}.yaml").read_text()
    text = text.replace(": ../", f": {ROOT}/")  # model, npz, reload_model
    for k, v in changes.items():
        text = re.sub(rf"^{k}: .*$", f"{k}: {v}", text, flags=re.M)
    p = tmp / f"{name}.yaml"
    p.write_text(text + extra)
    return p


def check_bit_exact(m: dict[str, object], vectors: int) -> None:
    assert m["golden__vectors"] == m["csim__vectors"] == m["cosim__vectors"] == vectors
    assert m["golden__qkeras_mismatches"] == 0
    assert m["csim__mismatches"] == 0
    assert m["cosim__mismatches"] == 0
    assert m["cosim__latency_cycles"] == m["rtl__latency_cycles"]
    assert m["cosim__ii"] == m["rtl__ii"] == 1


# one stage per layer: the RTL does not depend on the clock (with 'auto' a clock change
# places new registers and reruns everything from rtl on)
LAYER = "rtl: {pipeline: layer}\n"


def test_digits_mlp_end_to_end_then_incremental(tmp_path: Path) -> None:
    flow = copy_flow(tmp_path, "digits_mlp", LAYER)
    executed, _ = doit(tmp_path, [flow])
    assert "report:digits_mlp" in executed
    fdir = tmp_path / "build" / "digits_mlp"
    m = json.loads((fdir / "metrics.json").read_text())
    check_bit_exact(m, 1797)
    assert m["cosim__simulator"] == "verilator"
    assert float(m["design__instance__area"]) > 0  # type: ignore[arg-type]
    assert m["timing__clock_period_ns"] == 10.0
    assert isinstance(m["timing__setup__ws"], float)
    report = (fdir / "report.md").read_text()
    assert "softmax" in report and "| csim (C++) vs golden | 1797 | 0 |" in report
    assert "| fc1 | dense | 16 |" in report and "reuse 1," in report
    assert "## Numerical profile" in report and (fdir / "profile.png").exists()
    for step in ("convert", "golden", "hls", "csim", "rtl", "rtl_cosim", "synth", "sta"):
        for f in ("log.txt", "metrics.json", "config.json"):
            assert (fdir / step / f).exists(), f"{step}/{f}"
    assert (fdir / "csim" / "commands.sh").read_text().count("\n") >= 2

    # Nothing changed: nothing runs.
    executed, out = doit(tmp_path, [flow])
    assert executed == [], out

    # Only the clock changed: only the timing-dependent steps rerun (power: energy = P x T).
    copy_flow(tmp_path, "digits_mlp", LAYER, clock_period_ns="5.0")
    executed, out = doit(tmp_path, [flow])
    assert sorted(executed) == ["power:digits_mlp", "report:digits_mlp", "sta:digits_mlp"], out
    m2 = json.loads((fdir / "metrics.json").read_text())
    assert m2["timing__clock_period_ns"] == 5.0
    assert m2["design__instance__area"] == m["design__instance__area"]

    # pnr stops at the tool boundary (no OpenROAD here) with one message, touching nothing else.
    # (the flow folder's lock file records its current holder: not a result)
    before = {p: p.read_bytes() for p in fdir.rglob("*") if p.is_file() and p.name != ".lock"}
    _, out = doit(tmp_path, [flow], "pnr", ok=False)
    assert "tool missing" in out and "openroad" in out and "Traceback" not in out
    assert {p: p.read_bytes() for p in before} == before
    # digits_mlp's SiliconCompiler project passes SiliconCompiler's own checks offline ...
    from asicflow import sc_project
    from asicflow.steps.pnr import PnrRequest

    proj = sc_project.build_project(PnrRequest.read(fdir / "pnr.failed" / "request.json"))
    assert proj.check_manifest() and sc_project.remote_dataroots(proj) == []
    # ... and its elaboration step runs for real on the generated RTL.
    copy_flow(tmp_path, "digits_mlp", LAYER + "pnr: {stop_after: elaborate}\n")
    executed, out = doit(tmp_path, [flow], "pnr")
    assert executed == ["pnr:digits_mlp"], out
    pm = json.loads((fdir / "pnr" / "metrics.json").read_text())
    assert pm["pnr__sc__nodes_succeeded"] == ["elaborate/0"] and pm["pnr__sc__errors"] == 0


JET_VECTORS = 400  # of the flow's 2,000 (all of them: the nightly regression)


def test_second_model_jet_mlp_bit_exact(tmp_path: Path) -> None:
    """A different network (16-64-32-32-5, 10-bit inputs): nothing is tuned to digits_mlp."""
    flow = copy_flow(tmp_path, "jet_mlp")
    flow.write_text(flow.read_text().replace("count: 2000", f"count: {JET_VECTORS}"))
    doit(tmp_path, [flow], "rtl_cosim", "csim")
    fdir = tmp_path / "build" / "jet_mlp"
    m: dict[str, object] = {}
    for step in ("convert", "golden", "csim", "rtl", "rtl_cosim"):
        m.update(json.loads((fdir / step / "metrics.json").read_text()))
    check_bit_exact(m, JET_VECTORS)
