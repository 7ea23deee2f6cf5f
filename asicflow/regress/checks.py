"""Per-point verdicts and metrics, read from the step folders a point's doit run left.

Checks (each a JUnit testcase): the run itself (doit's exit code, the failing task's message),
and whichever of these the point's steps produced: golden vs QKeras, csim vs golden, rtl_cosim
vs golden, i2c_cosim (mismatches and read-back errors of every weight set), gl_sim vs golden,
the fault campaign with TMR, and timing (worst setup slack >= 0 at the flow's clock, unless
the matrix entry says ``timing: false``). A check whose step did not run is not listed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from asicflow.regress.execute import PointRun

# metrics kept per point (the CSV columns, the baseline's subjects); flow__<step>__runtime_s too
METRICS = (
    "design__instance__area",
    "design__instance__count",
    "design__instance__count__flops",
    "timing__setup__ws",
    "timing__clock_period_ns",
    "power__total_w",
    "power__energy_per_inference_nj",
    "power__activity_source",
    "cosim__latency_cycles",
    "rtl__latency_cycles",
    "cosim__ii",
    "csim__vectors_per_s",
    "cosim__vectors_per_s",
    "golden__qkeras_mismatches",
    "csim__mismatches",
    "cosim__mismatches",
    "gl_sim__mismatches",
    "faults__tmr_output_errors",
    "faults__plain_output_errors",
)


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str = ""


def point_metrics(flow_dir: Path) -> dict[str, Any]:
    """Every step's metrics.json of the point's flow folder, merged (step order by name)."""
    merged: dict[str, Any] = {}
    if not flow_dir.is_dir():
        return merged
    for f in sorted(flow_dir.glob("*/metrics.json")):
        if f.parent.name.endswith(".failed"):
            continue
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            merged.update(data)
    return merged


def kept(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {k: metrics[k] for k in METRICS if k in metrics}
    out.update({k: v for k, v in metrics.items() if re.fullmatch(r"flow__\w+__runtime_s", k)})
    return out


def _failure_message(run: PointRun) -> str:
    """doit's own failure lines (TaskFailed ... and the step's message) from the run log."""
    logs = [run.log, run.point.build.parent / "slurm-job.out"]
    text = "\n".join(p.read_text(errors="replace") for p in logs if p.is_file())
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("TaskFailed") or line.startswith("TaskError"):
            # the step's own message first, then doit's task line
            rest = [x for x in lines[i + 1 : i + 6] if x.strip() and not x.startswith("#")]
            return "\n".join([*rest[:3], line]).strip()
    return "\n".join(lines[-6:]).strip() or f"exit code {run.returncode}"


def _zero(m: dict[str, Any], key: str, name: str, what: str) -> Check | None:
    if key not in m:
        return None
    n = m[key]
    return Check(name, n == 0, "" if n == 0 else f"{n} {what}")


def point_checks(run: PointRun, m: dict[str, Any]) -> list[Check]:
    checks = [
        Check(
            "run",
            run.returncode == 0,
            "" if run.returncode == 0 else _failure_message(run),
        )
    ]
    for key, name, what in (
        ("golden__qkeras_mismatches", "golden_vs_qkeras", "output mismatches with QKeras"),
        ("csim__mismatches", "csim_vs_golden", "csim mismatches"),
        ("cosim__mismatches", "rtl_cosim_vs_golden", "rtl_cosim mismatches"),
        ("gl_sim__mismatches", "gl_sim_vs_golden", "gate-level mismatches"),
        ("faults__tmr_output_errors", "faults_tmr_masks_upsets", "output errors with TMR"),
    ):
        c = _zero(m, key, name, what)
        if c is not None:
            checks.append(c)
    i2c = {
        k: v
        for k, v in m.items()
        if re.fullmatch(r"i2c_cosim__\w+_(mismatches|readback_errors)", k)
    }
    if i2c:
        bad = {k: v for k, v in i2c.items() if v}
        checks.append(Check("i2c_cosim", not bad, ", ".join(f"{k} = {v}" for k, v in bad.items())))
    if run.point.timing and isinstance(m.get("timing__setup__ws"), (int, float)):
        ws = float(m["timing__setup__ws"])
        period = m.get("timing__clock_period_ns")
        checks.append(
            Check("timing", ws >= 0, "" if ws >= 0 else f"worst setup slack {ws} ns at {period} ns")
        )
    return checks
