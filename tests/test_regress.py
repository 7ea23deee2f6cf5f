"""``asicflow regress`` through the real CLI: the small matrix (regress/smoke.yaml: two flows x
two reuse factors through sta and power), its outputs and baseline diff, a real failing check, a bad
matrix file, and two points run as jobs of a single-node Slurm cluster started here."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.tools]

SMOKE_POINTS = [
    "tiny_mlp__rtl_reuse_1",
    "tiny_mlp__rtl_reuse_2",
    "tiny_mlp_icarus__rtl_reuse_1",
    "tiny_mlp_icarus__rtl_reuse_2",
]


def regress(*args: str, ok: bool, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "asicflow", "regress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, **(env or {})},
    )
    out = r.stdout + r.stderr
    assert (r.returncode == 0) == ok, out
    assert "Traceback" not in out, out
    return out


def test_smoke_matrix_outputs_baseline_and_regressions(tmp_path: Path) -> None:
    out, base = tmp_path / "out", tmp_path / "baseline.json"
    matrix = str(ROOT / "regress" / "smoke.yaml")
    common = (matrix, "--jobs", "2", "--out", str(out), "--baseline", str(base))
    regress(*common, "--update-baseline", ok=True)
    doc = json.loads(base.read_text())
    assert sorted(doc["points"]) == SMOKE_POINTS
    for p in SMOKE_POINTS:
        m = doc["points"][p]
        assert m["design__instance__area"] > 0 and m["timing__setup__ws"] >= 0
        assert m["cosim__ii"] == (1 if p.endswith("_1") else 2)

    # Against the fresh baseline: exit 0; every output written.
    regress(*common, ok=True)
    suite = ET.parse(out / "junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase")}
    for p in SMOKE_POINTS:
        for check in ("run", "golden_vs_qkeras", "csim_vs_golden", "rtl_cosim_vs_golden", "timing"):
            assert (p, check) in cases, (p, check)
        assert (p, "baseline:design__instance__area") in cases
    assert suite.get("failures") == "0"
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["point"] for r in rows] == SMOKE_POINTS
    assert all(r["status"] == "passed" and float(r["design__instance__area"]) > 0 for r in rows)
    summary = (out / "summary.md").read_text()
    assert "## Baseline diff" in summary and "| design__instance__area (critical) |" in summary
    assert "![trend](trend.png)" in summary and (out / "trend.png").stat().st_size > 1000
    assert len(list((out / "history").glob("*.json"))) == 2  # the trend's runs

    # A tightened baseline: the area is now a critical regression, named with its point.
    point = SMOKE_POINTS[1]
    area = doc["points"][point]["design__instance__area"]
    doc["points"][point]["design__instance__area"] = area * 0.9
    base.write_text(json.dumps(doc))
    msg = regress(*common, ok=False)
    assert f"{point}: design__instance__area regressed" in msg
    assert "critical regressions" in msg
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "1"


def test_a_real_mismatch_fails_the_point(tmp_path: Path) -> None:
    """A point whose output type is narrowed below what QKeras computes: the golden step's
    bit-exact check fails for real and the run names the point and the check."""
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        f"steps: [golden]\nentries:\n  - flow: {ROOT}/flows/tiny_mlp.yaml\n"
        "    set: {precision: {fc2: {result: 'ac_fixed<4, 1, true, AC_TRN, AC_WRAP>'}}}\n"
        f"  - flow: {ROOT}/flows/tiny_mlp.yaml\n    name: good\n"
    )
    msg = regress(str(matrix), "--out", str(tmp_path / "out"), ok=False)
    assert "tiny_mlp: check 'run' failed" in msg and "QKeras" in msg
    assert "good: check" not in msg and "good: passed" in msg
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    failed = [c.get("classname") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["tiny_mlp"]


def test_bad_matrix_lists_every_problem(tmp_path: Path) -> None:
    matrix = tmp_path / "bad.yaml"
    matrix.write_text(
        "stepz: [report]\ntimeout_min: -1\nentries:\n"
        "  - flow: nowhere.yaml\n"
        f"  - flow: {ROOT}/flows/tiny_mlp.yaml\n"
        "    steps: [synthesis]\n    vary: {rtl.reuse: 2}\n"
        f"  - flow: {ROOT}/flows/tiny_mlp.yaml\n    name: t2\n    set: {{rtl.reuse: 0}}\n"
    )
    msg = regress(str(matrix), "--out", str(tmp_path / "out"), ok=False)
    for part in (
        "unknown key 'stepz' (did you mean 'steps'?)",
        "'timeout_min' must be a positive number",
        "nowhere.yaml does not exist",
        "unknown step 'synthesis'",
        "'vary.rtl.reuse' must be a non-empty list",
    ):
        assert part in msg, (part, msg)
    # the point's override is checked by the flow loader, like any flow file
    matrix.write_text(
        f"entries:\n  - flow: {ROOT}/flows/tiny_mlp.yaml\n    set: {{rtl.reuse: 0}}\n"
    )
    msg = regress(str(matrix), "--out", str(tmp_path / "out"), ok=False)
    assert "point tiny_mlp:" in msg and "rtl.reuse" in msg


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A single-node Slurm cluster on this machine (scripts/slurm_local.sh), stopped after,
    even when starting it or a test failed."""
    env = {**os.environ, "SLURM_LOCAL_DIR": str(tmp_path_factory.mktemp("slurm"))}
    script = str(ROOT / "scripts" / "slurm_local.sh")
    started = subprocess.run(
        ["bash", script, "start"], env=env, capture_output=True, text=True, timeout=600
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        conf = subprocess.run(
            ["bash", script, "conf"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        yield {"SLURM_CONF": conf, "SLURM_LOCAL_DIR": env["SLURM_LOCAL_DIR"]}
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True, timeout=60)


def test_two_points_as_slurm_jobs(tmp_path: Path, slurm: dict[str, str]) -> None:
    matrix = tmp_path / "m.yaml"
    matrix.write_text(
        f"steps: [csim]\nentries:\n  - flow: {ROOT}/flows/tiny_mlp.yaml\n"
        "    vary: {data.count: [100, 200]}\n"
    )
    out = tmp_path / "out"
    regress(
        str(matrix), "--scheduler", "slurm", "--jobs", "2", "--out", str(out), ok=True, env=slurm
    )
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["point"] for r in rows] == ["tiny_mlp__data_count_100", "tiny_mlp__data_count_200"]
    ids = [r["slurm_job"] for r in rows]
    assert all(i.isdigit() for i in ids) and len(set(ids)) == 2
    # Slurm itself recorded both jobs as completed (its job-completion log)
    done = (Path(slurm["SLURM_LOCAL_DIR"]) / "log" / "jobcomp.txt").read_text()
    for i in ids:
        line = next(x for x in done.splitlines() if x.startswith(f"JobId={i} "))
        assert "JobState=COMPLETED" in line and "ExitCode=0:0" in line, line
    for r, n in zip(rows, (100, 200), strict=True):
        pdir = out / "points" / r["point"]
        assert (pdir / "slurm-job.out").is_file()  # the job's own output
        m = json.loads((pdir / "build" / "tiny_mlp" / "csim" / "metrics.json").read_text())
        assert m["csim__vectors"] == n and m["csim__mismatches"] == 0
