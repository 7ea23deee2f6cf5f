"""Running points: doit on each point's flow file in its own build root, ``jobs`` at a time on
this machine or as Slurm jobs (:mod:`asicflow.regress.slurm`), with a live progress view."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asicflow.regress.points import Point
from asicflow.runner import run_tool

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class PointRun:
    point: Point
    returncode: int = -1
    wall_s: float = 0.0
    job_id: str = ""
    state: str = "waiting"  # waiting, running, passed, failed (doit's verdict)
    started: float = 0.0

    @property
    def log(self) -> Path:
        return self.point.build.parent / "run.log"


def doit_command(point: Point) -> list[str]:
    return [
        sys.executable,
        "-m",
        "doit",
        "-f",
        str(ROOT / "dodo.py"),
        *(f"{s}:{point.flow_name}" for s in point.steps),
    ]


def point_env(point: Point) -> dict[str, str]:
    return {"ASICFLOW_FLOWS": str(point.flow_file), "ASICFLOW_BUILD": str(point.build)}


def _run_one(run: PointRun, scheduler: str, partition: str, minutes: float) -> None:
    point = run.point
    run.state, run.started = "running", time.monotonic()
    work = point.build.parent
    if scheduler == "slurm":
        from asicflow.regress.slurm import submit_and_wait

        result, run.job_id = submit_and_wait(
            doit_command(point), point.id, work, point_env(point), partition, minutes
        )
        run.returncode = result.returncode
    else:
        result = run_tool(
            doit_command(point),
            log=run.log,
            cwd=ROOT,
            env=point_env(point),
            timeout=minutes * 60,
            check=False,
            tool="doit",
        )
        run.returncode = result.returncode
    run.wall_s = time.monotonic() - run.started
    run.state = "passed" if run.returncode == 0 else "failed"


def run_points(
    points: list[Point],
    jobs: int,
    scheduler: str,
    partition: str,
    minutes: float,
    progress: Callable[[list[PointRun]], None] | None = None,
) -> list[PointRun]:
    runs = [PointRun(p) for p in points]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_run_one, r, scheduler, partition, minutes) for r in runs]
        while not all(f.done() for f in futures):
            if progress:
                progress(runs)
            time.sleep(0.5)
        for f in futures:
            f.result()
    if progress:
        progress(runs)
    return runs
