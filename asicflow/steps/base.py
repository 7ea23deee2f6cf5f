"""What a step is, and the bookkeeping around running one.

A step declares the config keys it reads, the files it needs from earlier steps, and the files
it writes; ``dodo.py`` turns those declarations into doit tasks. :func:`execute` runs a step in
a scratch folder and only on success moves it to ``build/<flow>/<step>/``, so a failing step
leaves the previous good results untouched (its scratch folder is kept as ``<step>.failed``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from asicflow.buildfolder import flow_folder, locked
from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ConfigError
from asicflow.ir import Graph
from asicflow.runner import ToolResult, run_tool

REUSE_KEYS = ("rtl.reuse", "rtl.reuse_layers")


@dataclass
class StepContext:
    """What a running step sees: its flow, its (scratch) folder and the flow's build folder."""

    flow: FlowConfig
    flow_dir: Path
    dir: Path
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.dir / "log.txt"

    def input(self, step: str, name: str) -> Path:
        """A file written by an earlier step of this flow."""
        return self.flow_dir / step / name

    def graph(self) -> Graph:
        """The converted graph with the flow's implementation choices applied (reuse factors:
        ``rtl.reuse``, ``rtl.reuse_layers``); steps using it read ``REUSE_KEYS``."""
        graph = Graph.load(self.input("convert", "graph.json").parent)
        rtl = self.flow.rtl
        shared = [lay for lay in graph.layers if hasattr(lay, "reuse")]
        unknown = sorted(set(rtl.reuse_layers) - {lay.name for lay in shared})
        if unknown:
            raise ConfigError(
                str(self.flow.source),
                [
                    f"'rtl.reuse_layers' names {', '.join(unknown)}: not a Dense/Conv layer "
                    f"(they are: {', '.join(lay.name for lay in shared)})"
                ],
            )
        for lay in shared:  # rtl.reuse 1 keeps the graph's own factors (1 unless set there)
            default = rtl.reuse if rtl.reuse != 1 else lay.reuse
            lay.reuse = rtl.reuse_layers.get(lay.name, default)
        return graph

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        timeout: float = 3600.0,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        tool: str | None = None,
    ) -> ToolResult:
        return run_tool(
            argv,
            log=self.log,
            cwd=cwd or self.dir,
            timeout=timeout,
            env=env,
            check=check,
            tool=tool,
        )

    def note(self, text: str) -> None:
        """Append a line to the step log."""
        with self.log.open("a") as fh:
            fh.write(text.rstrip("\n") + "\n")


class Step:
    """One stage of the flow. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    # Config keys (dotted) whose values decide this step's result.
    reads: ClassVar[tuple[str, ...]] = ()
    # Files from earlier steps: "step/file".
    needs: ClassVar[tuple[str, ...]] = ()
    # Files this step writes into its folder (metrics.json is always written).
    outputs: ClassVar[tuple[str, ...]] = ()
    doc: ClassVar[str] = ""

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        """The files this step needs for ``flow`` (default: ``needs``; a step whose input
        depends on an option, e.g. the TMR RTL instead of the plain one, overrides this)."""
        return self.needs

    def deps(self, flow: FlowConfig) -> list[Path]:
        """Files outside the build folder this step depends on (model, data, sources)."""
        return []

    def reads_for(self, flow: FlowConfig) -> tuple[str, ...]:
        """The config keys read for ``flow`` (default: :attr:`reads`; a step whose keys depend
        on an option, e.g. the rtl step's HLS tool keys, extends it)."""
        return self.reads

    def run(self, ctx: StepContext) -> dict[str, Any]:
        """Do the work in ``ctx.dir``; return metrics. Raise an AsicflowError on failure."""
        raise NotImplementedError

    def publish(self, step_dir: Path, flow_dir: Path) -> None:
        """After a successful run: expose results outside the step folder (default: none)."""


def config_values(step: Step, flow: FlowConfig) -> dict[str, Any]:
    """The declared config values, JSON-friendly (what doit's config_changed compares)."""
    out: dict[str, Any] = {}
    for k in step.reads_for(flow):
        out[k] = _jsonable(flow.get(k))
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if hasattr(v, "__dataclass_fields__"):
        return {k: _jsonable(getattr(v, k)) for k in v.__dataclass_fields__}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "to_dict"):
        return v.to_dict()
    return v


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def execute(step: Step, flow: FlowConfig, build: Path, debug: bool = False) -> dict[str, Any]:
    """Run ``step`` for ``flow`` with atomic promotion of its folder; returns its metrics.
    Works only inside ``build/<flow>/``, holding that folder's lock."""
    flow_dir = flow_folder(build, flow.name)
    with locked(flow_dir):
        return _execute(step, flow, flow_dir, debug)


def _relocate(exc: AsicflowError, scratch: Path, failed: Path) -> None:
    """Point a failure's message at the folder the scratch folder became."""
    old, new = str(scratch), str(failed)
    exc.args = tuple(a.replace(old, new) if isinstance(a, str) else a for a in exc.args)
    log = getattr(exc, "log", None)
    if isinstance(log, Path) and str(log).startswith(old):
        exc.log = Path(new + str(log)[len(old) :])  # type: ignore[attr-defined]


def _execute(step: Step, flow: FlowConfig, flow_dir: Path, debug: bool) -> dict[str, Any]:
    final = flow_dir / step.name
    scratch = flow_dir / f".{step.name}.tmp"
    failed = flow_dir / f"{step.name}.failed"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    ctx = StepContext(flow, flow_dir, scratch)
    ctx.note(f"asicflow step '{step.name}' for flow '{flow.name}' ({flow.source})")
    start = time.monotonic()
    try:
        metrics = dict(step.run(ctx))
        missing = [o for o in step.outputs if not (scratch / o).exists()]
        if missing:
            raise AsicflowError(f"step {step.name} did not write {', '.join(missing)}")
    except BaseException as exc:
        ctx.note(f"ERROR: {exc}")
        if debug or not isinstance(exc, AsicflowError):
            ctx.note(traceback.format_exc())
        shutil.rmtree(failed, ignore_errors=True)
        scratch.rename(failed)
        if isinstance(exc, AsicflowError):
            _relocate(exc, scratch, failed)
        raise
    runtime = time.monotonic() - start
    metrics[f"flow__{step.name}__runtime_s"] = round(runtime, 3)
    write_json(scratch / "metrics.json", metrics)
    write_json(
        scratch / "config.json",
        {
            "step": step.name,
            "flow": flow.name,
            "flow_file": str(flow.source),
            "config": config_values(step, flow),
            "versions": ctx.versions,
        },
    )
    old = flow_dir / f".{step.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    scratch.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(failed, ignore_errors=True)
    step.publish(final, flow_dir)
    return metrics


def read_metrics(flow_dir: Path, step: str) -> dict[str, Any]:
    p = flow_dir / step / "metrics.json"
    return json.loads(p.read_text()) if p.exists() else {}
