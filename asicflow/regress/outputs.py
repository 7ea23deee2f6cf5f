"""What a regression run writes into its output folder: ``junit.xml`` (one testcase per point
and check, plus one per critical metric compared with the baseline), ``metrics.csv`` (one row
per point), ``summary.md`` (verdicts, the diff table, the trend plot) and ``trend.png`` over
the run history (``history/<time>.json``, one file per run, kept in the output folder)."""

from __future__ import annotations

import csv
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from asicflow.regress.baseline import Row
from asicflow.regress.checks import Check
from asicflow.regress.execute import PointRun

TREND_METRICS = ("design__instance__area", "timing__setup__ws")


def write_junit(
    path: Path, runs: list[PointRun], checks: dict[str, list[Check]], rows: list[Row]
) -> None:
    suite = ET.Element("testsuite", name="asicflow-regress")
    tests = failures = 0
    for run in runs:
        pid = run.point.id
        for c in checks[pid]:
            case = ET.SubElement(suite, "testcase", classname=pid, name=c.name)
            case.set("time", f"{run.wall_s:.1f}" if c.name == "run" else "0")
            tests += 1
            if not c.passed:
                failures += 1
                ET.SubElement(
                    case, "failure", message=c.message.splitlines()[0][:200]
                ).text = c.message
        for r in rows:
            if r.point == pid and r.critical:
                case = ET.SubElement(suite, "testcase", classname=pid, name=f"baseline:{r.metric}")
                tests += 1
                if r.fails:
                    failures += 1
                    ET.SubElement(case, "failure", message=_row_text(r))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_csv(path: Path, values: dict[str, dict[str, Any]], runs: list[PointRun]) -> None:
    columns = sorted({k for m in values.values() for k in m})
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["point", "flow", "overrides", "status", "wall_s", "slurm_job", *columns])
        for run in runs:
            p = run.point
            m = values[p.id]
            w.writerow(
                [
                    p.id,
                    p.flow_name,
                    json.dumps(p.overrides),
                    run.state,
                    f"{run.wall_s:.1f}",
                    run.job_id,
                    *(m.get(c, "") for c in columns),
                ]
            )


def record_history(folder: Path, values: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Add this run to ``folder`` and return every run, oldest first."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    n = len(list(folder.glob("*.json")))
    (folder / f"{stamp}_{n:04d}.json").write_text(json.dumps({"time": stamp, "points": values}))
    history = []
    for f in sorted(folder.glob("*.json")):
        try:
            history.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return history


def plot_trend(path: Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TREND_METRICS), figsize=(11, 4))
    points = sorted({p for h in history for p in h["points"]})
    for ax, metric in zip(axes, TREND_METRICS, strict=True):
        for p in points:
            ys = [h["points"].get(p, {}).get(metric) for h in history]
            xs = [i for i, y in enumerate(ys) if isinstance(y, (int, float))]
            if xs:
                ax.plot(xs, [ys[i] for i in xs], marker="o", label=p)
        ax.set_title(metric)
        ax.set_xlabel("run")
        ax.grid(True, alpha=0.3)
    if axes[0].get_lines():
        axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _row_text(r: Row) -> str:
    change = "" if r.change_pct is None else f" ({r.change_pct:+.2f}%)"
    return f"{r.point}: {r.metric} {r.baseline} -> {r.value}{change}, {r.verdict}"


def write_summary(
    path: Path,
    runs: list[PointRun],
    checks: dict[str, list[Check]],
    rows: list[Row],
    baseline: Path,
    trend: str,
) -> None:
    lines = ["# Regression summary", "", f"Baseline: `{baseline}`", "", "## Points", ""]
    lines += ["| point | status | wall (s) | failed checks |", "|---|---|---|---|"]
    for run in runs:
        bad = [c.name for c in checks[run.point.id] if not c.passed]
        lines.append(
            f"| {run.point.id} | {run.state} | {run.wall_s:.1f} | {', '.join(bad) or '-'} |"
        )
    lines += ["", "## Baseline diff", ""]
    lines += [
        "| point | metric | baseline | value | change | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        change = "" if r.change_pct is None else f"{r.change_pct:+.2f}%"
        verdict = f"**{r.verdict}**" if r.fails else r.verdict
        crit = " (critical)" if r.critical else ""
        base = "" if r.baseline is None else f"{r.baseline:g}"
        lines.append(
            f"| {r.point} | {r.metric}{crit} | {base} | {r.value:g} | {change} | {verdict} |"
        )
    lines += ["", "## Trend", "", f"![trend]({trend})", ""]
    path.write_text("\n".join(lines))
