"""doit tasks built from the step declarations: one task per step, one subtask per flow.

``file_dep`` = the files a step needs (earlier steps' outputs, model, data, sources),
``targets`` = its outputs, ``uptodate`` = the config values it declared it reads. So a
second ``doit`` with nothing changed runs nothing, and changing a flow's clock period reruns
only that flow's timing steps.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from asicflow import sweep
from asicflow.buildfolder import check_build_root, new_run_token
from asicflow.config import FlowConfig, build_root, flow_files, load_flow
from asicflow.doitstate import DurableReporter
from asicflow.errors import AsicflowError
from asicflow.registry import STEPS
from asicflow.steps.base import Step, config_values, execute

DEBUG_ENV = "ASICFLOW_DEBUG"


def doit_config() -> dict[str, Any]:
    """doit's settings; checks that the build folder is usable (else one AsicflowError)."""
    build = build_root()
    check_build_root(build)
    return {
        "dep_file": str(build / ".doit.db"),
        "backend": "sqlite3",
        "default_tasks": default_tasks(_flows()),
        "verbosity": 1,
        "reporter": DurableReporter,
    }


def default_tasks(flows: list[tuple[Path, FlowConfig | AsicflowError]]) -> list[str]:
    """What a bare ``doit`` runs: every plain flow through ``report``. Flows with design
    options (TMR, I2C weights: proofs, fault campaigns, gate level, up to an hour each) run
    when named (``doit report:digits_mlp_hardened``, ``doit faults``) or in the nightly
    regression. A flow file that does not load is listed too, so its error is shown."""
    return [
        f"report:{flow.name if isinstance(flow, FlowConfig) else path.stem}"
        for path, flow in flows
        if not isinstance(flow, FlowConfig) or not (flow.options.tmr or flow.options.i2c_weights)
    ]


def _action(step: Step, flow_file: Path) -> TaskFailed | None:
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        flow = load_flow(flow_file)
        execute(step, flow, build_root(), debug=debug)
    except AsicflowError as exc:
        detail = "\n" + traceback.format_exc() if debug else ""
        return TaskFailed(f"{step.name}: {exc}{detail}")
    except OSError as exc:  # the file system refused (disk full, a folder made read-only...)
        detail = "\n" + traceback.format_exc() if debug else ""
        return TaskFailed(f"{step.name}: cannot write its results: {exc}{detail}")
    return None


def _failing(step: Step, name: str, error: AsicflowError) -> dict[str, Any]:
    return {
        "name": name,
        "actions": [lambda: TaskFailed(f"{step.name}: {error}")],
        "uptodate": [False],
    }


def _flows() -> list[tuple[Path, FlowConfig | AsicflowError]]:
    out: list[tuple[Path, FlowConfig | AsicflowError]] = []
    for path in flow_files(Path.cwd()):
        try:
            out.append((path, load_flow(path)))
        except AsicflowError as exc:
            out.append((path, exc))
    return out


def step_tasks(
    step: Step, flows: list[tuple[Path, FlowConfig | AsicflowError]]
) -> Iterator[dict[str, Any]]:
    yield {"name": None, "doc": step.doc}
    build = build_root()
    for path, flow in flows:
        if isinstance(flow, AsicflowError):
            yield _failing(step, path.stem, flow)
            continue
        fdir = build / flow.name
        yield {
            "name": flow.name,
            "actions": [(_action, [step, path])],
            "file_dep": [str(fdir / n) for n in step.needs_for(flow)]
            + [str(p) for p in step.deps(flow)],
            "targets": [str(fdir / step.name / o) for o in (*step.outputs, "metrics.json")],
            "uptodate": [config_changed(config_values(step, flow))],
            "doc": f"{step.doc} ({flow.name})",
            "verbosity": 1,
        }


def _sweep_action(flow_file: Path) -> TaskFailed | None:
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        sweep.run_sweep(load_flow(flow_file), build_root(), debug=debug, progress=print)
    except AsicflowError as exc:
        detail = "\n" + traceback.format_exc() if debug else ""
        return TaskFailed(f"sweep: {exc}{detail}")
    return None


def sweep_tasks(flows: list[tuple[Path, FlowConfig | AsicflowError]]) -> Iterator[dict[str, Any]]:
    """``sweep:<flow>``: the reuse-factor sweep (asicflow/sweep.py) into build/<flow>/sweep/.
    Not a default task; reruns when the flow's convert/golden results or the values every
    point's steps read change."""

    yield {"name": None, "doc": "reuse-factor sweep: area, II, latency, slack per R"}
    build = build_root()
    for path, flow in flows:
        if isinstance(flow, AsicflowError):
            yield {
                "name": path.stem,
                "actions": [lambda e=flow: TaskFailed(f"sweep: {e}")],
                "uptodate": [False],
            }
            continue
        fdir = build / flow.name
        try:
            signature = sweep.config_signature(flow)
        except AsicflowError as exc:
            yield {
                "name": flow.name,
                "actions": [lambda e=exc: TaskFailed(f"sweep: {e}")],
                "uptodate": [False],
            }
            continue
        yield {
            "name": flow.name,
            "actions": [(_sweep_action, [path])],
            "file_dep": [str(fdir / n) for n in sweep.shared_files(flow)]
            + [str(p) for p in sweep.file_deps(flow)],
            "targets": [str(sweep.sweep_dir(build, flow) / o) for o in sweep.OUTPUTS],
            "uptodate": [config_changed(signature)],
            "doc": f"reuse-factor sweep ({flow.name})",
            "verbosity": 2,
        }


NIGHTLY = Path(__file__).resolve().parents[1] / "regress" / "nightly.yaml"


def _regress_action() -> TaskFailed | None:
    from asicflow.regress.command import regress

    try:
        summary = regress(NIGHTLY, jobs=2)
    except AsicflowError as exc:
        return TaskFailed(f"regress: {exc}")
    print(f"regress: {summary['points']} points passed; {summary['out']}/summary.md")
    return None


def regress_task() -> dict[str, Any]:
    """``doit regress``: the nightly matrix (regress/nightly.yaml, asicflow/regress/), two
    points at a time; never a default task, always run (each point is incremental itself)."""
    return {
        "actions": [_regress_action],
        "uptodate": [False],
        "doc": "nightly regression matrix (regress/nightly.yaml), diffed against its baseline",
        "verbosity": 2,
    }


def all_tasks() -> dict[str, Any]:
    """``task_<step>`` creators for a dodo module (flow files are read once, here), and
    ``task_sweep``, ``task_regress``. Marks this process as one run (doit's workers share its
    build locks)."""
    new_run_token()
    flows = _flows()
    tasks: dict[str, Any] = {
        f"task_{step.name}": (lambda s=step: step_tasks(s, flows)) for step in STEPS
    }
    tasks["task_sweep"] = lambda: sweep_tasks(flows)
    tasks["task_regress"] = regress_task
    return tasks
