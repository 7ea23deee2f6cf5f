"""``asicflow regress MATRIX.yaml``: expand, run, check, diff, write; the exit code says
whether anything got worse (a failed check or a critical regression)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from asicflow.errors import CheckFailed
from asicflow.regress import baseline as bl
from asicflow.regress import outputs
from asicflow.regress.checks import Check, kept, point_checks, point_metrics
from asicflow.regress.execute import PointRun, run_points
from asicflow.regress.matrix import load_matrix
from asicflow.regress.points import expand


class Progress:
    """A live table (rich) on a terminal; one line per finished point elsewhere (CI logs)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.live: Any = None
        self.reported: set[str] = set()

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.live import Live

            self.live = Live(refresh_per_second=2)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, runs: list[PointRun]) -> None:
        counts = {
            s: sum(r.state == s for r in runs) for s in ("waiting", "running", "passed", "failed")
        }
        if self.live is not None:
            from rich.table import Table

            t = Table(title=" ".join(f"{k} {v}" for k, v in counts.items()))
            for col in ("point", "state", "elapsed (s)", "slurm job"):
                t.add_column(col)
            now = time.monotonic()
            for r in runs:
                el = (
                    r.wall_s
                    if r.state in ("passed", "failed")
                    else (now - r.started if r.state == "running" else 0.0)
                )
                t.add_row(r.point.id, r.state, f"{el:.0f}", r.job_id)
            self.live.update(t)
            return
        for r in runs:
            if r.state in ("passed", "failed") and r.point.id not in self.reported:
                self.reported.add(r.point.id)
                done = counts["passed"] + counts["failed"]
                print(
                    f"regress: [{done}/{len(runs)}] {r.point.id}: {r.state} in {r.wall_s:.0f} s"
                    + (f" (slurm job {r.job_id})" if r.job_id else ""),
                    flush=True,
                )


def regress(
    matrix_file: Path,
    out: Path | None = None,
    jobs: int = 1,
    scheduler: str = "local",
    partition: str = "",
    update_baseline: bool = False,
    baseline_file: Path | None = None,
) -> dict[str, Any]:
    """Run the matrix; raise CheckFailed naming every failing point and metric."""
    matrix = load_matrix(matrix_file)
    out = (out or Path("build") / "regress" / matrix.source.stem).resolve()
    base_path = (baseline_file or matrix.baseline).resolve()
    out.mkdir(parents=True, exist_ok=True)
    points = expand(matrix, out)
    with Progress() as progress:
        runs = run_points(points, jobs, scheduler, partition, matrix.timeout_min, progress)
    checks: dict[str, list[Check]] = {}
    values: dict[str, dict[str, Any]] = {}
    for run in runs:
        m = point_metrics(run.point.flow_dir)
        checks[run.point.id] = point_checks(run, m)
        values[run.point.id] = kept(m)
    policy, base = bl.load(base_path)
    rows = bl.diff(values, policy, base)
    outputs.write_junit(out / "junit.xml", runs, checks, rows)
    outputs.write_csv(out / "metrics.csv", values, runs)
    history = outputs.record_history(out / "history", values)
    outputs.plot_trend(out / "trend.png", history)
    outputs.write_summary(out / "summary.md", runs, checks, rows, base_path, "trend.png")
    failed = [
        f"{pid}: check '{c.name}' failed: {c.message.splitlines()[0] if c.message else ''}"
        for pid, cs in checks.items()
        for c in cs
        if not c.passed
    ]
    regressed = [
        f"{r.point}: {r.metric} regressed: {r.baseline:g} -> {r.value:g} " f"({r.change_pct:+.2f}%)"
        if r.change_pct is not None
        else f"{r.point}: {r.metric}"
        for r in rows
        if r.fails and r.baseline is not None
    ]
    if update_baseline and not failed:
        bl.write(base_path, values)
    summary = {"out": str(out), "points": len(runs), "failed": failed, "regressed": regressed}
    if failed or regressed:
        raise CheckFailed(
            f"regression failed ({len(failed)} failed checks, {len(regressed)} critical "
            f"regressions; see {out / 'summary.md'}):\n"
            + "\n".join(f"  - {line}" for line in [*failed, *regressed])
        )
    return summary
