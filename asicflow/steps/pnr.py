"""Place and route through SiliconCompiler: RTL -> synthesis -> OpenROAD -> GDS, metrics back.

The step writes the constraints (``constraints.sdc``, the same as sta's at the flow's clock)
and a request (``request.json``: RTL, PDK, root, floorplan knobs, scheduler, tool paths), and
runs ``python -m asicflow.pnr_run request.json`` in a child process: SiliconCompiler logs into
the step log, its build tree is ``sc/`` inside the step folder. The child answers with
``result.json``: the metrics SiliconCompiler recorded and the GDS path, or its diagnosis.

The tool boundary: SiliconCompiler checks every tool of the flow (executable found, version
new enough) before it runs any, then every file each task requires. The step turns that
diagnosis into one :class:`ToolMissing` (which tools, which versions, how to point asicflow at
them, or the docker scheduler) or one :class:`ConfigError` (which PDK files are missing); a
failing tool run becomes a :class:`ToolFailed` naming SiliconCompiler's log of that step.

The PDK root is never downloaded: the PDK's SiliconCompiler dataroot (lambdapdk's for sky130)
is pointed at the configured root, and a dataroot left on a remote source is an error.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ConfigError, ToolFailed, ToolMissing
from asicflow.pdk import pdk_deps, resolve_pdk
from asicflow.runner import tail
from asicflow.steps.base import Step, StepContext, write_json
from asicflow.steps.sta import CLOCK_PORT, sdc
from asicflow.steps.synth import read_top

# Folder of SiliconCompiler's build tree inside the step folder.
SC_DIR = "sc"
JOBNAME = "job0"
RESULT = "result.json"
SC_INSTALL = "sc-install"

# What each tool is, for the message (the version needed comes from SiliconCompiler itself).
TOOL_NOTES = {
    "openroad": "OpenROAD (floorplan, placement, CTS, routing)",
    "yosys": "Yosys built with Tcl support ('yosys -c'; pyosys cannot stand in)",
    "opensta": "OpenSTA, command 'sta' (Debian's 2019 'opensta' package is too old)",
    "klayout": "KLayout (GDS export)",
    "slang": "pyslang (elaboration, a Python package)",
}

_CLK_IN_RTL = re.compile(rf"\binput\s+(?:wire\s+|logic\s+)?{CLOCK_PORT}\b")


@dataclass
class PnrRequest:
    """Everything the child needs to build and run the SiliconCompiler project (JSON)."""

    top: str
    rtl: str
    sdc: str
    pdk_yaml: str
    pdk_root: str
    builddir: str
    cachedir: str
    jobname: str = JOBNAME
    core_utilization: float = 40.0
    aspect_ratio: float = 1.0
    core_margin_um: float = 1.0
    place_density: float | None = None
    scheduler: str = "local"
    queue: str = ""
    tool_paths: dict[str, str] = field(default_factory=dict)
    stop_after: str = ""

    def write(self, path: Path) -> None:
        write_json(path, dataclasses.asdict(self))

    @classmethod
    def read(cls, path: Path) -> PnrRequest:
        data = json.loads(path.read_text())
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class PnrToolsMissing(ToolMissing):
    """One or more tools of SiliconCompiler's flow are missing or too old (one message)."""

    def __init__(
        self, tools: list[dict[str, Any]], files: list[dict[str, Any]], scheduler_hint: str
    ):
        self.tool = ", ".join(t["tool"] for t in tools)
        self.tools = tools
        lines = ["tool missing: SiliconCompiler cannot run the pnr flow on this machine:"]
        for t in tools:
            need = " or ".join(t.get("required") or []) or "any version"
            note = TOOL_NOTES.get(t["tool"], t["tool"])
            if t.get("found"):
                state = f"found {t['found']} at {t.get('found_at') or '?'}, too old"
            else:
                state = f"executable '{t.get('exe') or t['tool']}' not found"
            lines.append(f"  - {t['tool']} {need}: {state}. {note}; needed by {_steps(t)}")
        names = [t["tool"] for t in tools]
        example = ", ".join(f"{n}: /opt/{n}/bin" for n in names[:2])
        lines.append(
            "Put them on PATH, or point asicflow at them in the flow YAML "
            f"('pnr: {{tool_paths: {{{example}}}}}': the folder holding each executable), "
            f"or install them with SiliconCompiler's installer ({SC_INSTALL} "
            f"{' '.join(names)}), or run every tool in a container: {scheduler_hint}."
        )
        if files:
            lines.append(f"Also, the PDK root lacks {len(files)} file(s) these tools need:")
            lines.extend(f"  - {f['path']} ([{f['key']}])" for f in files)
        AsicflowError.__init__(self, "\n".join(lines))


def has_clock_port(rtl_text: str) -> bool:
    return bool(_CLK_IN_RTL.search(rtl_text))


class PnrStep(Step):
    name = "pnr"
    reads = ("pdk", "pdk_root", "clock_period_ns", "pnr", "options")
    needs = ("rtl/top.v", "rtl/rtl.json")

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        return (f"{flow.rtl_step}/top.v", f"{flow.rtl_step}/rtl.json")

    outputs = ("constraints.sdc", "request.json", RESULT)
    doc = "SiliconCompiler place and route to GDS (OpenROAD): area, timing, power, DRC"

    def deps(self, flow: FlowConfig) -> list[Path]:
        return pdk_deps(flow)

    def run(self, ctx: StepContext) -> dict[str, Any]:
        flow = ctx.flow
        pdk = resolve_pdk(flow, pnr=True)
        _check_knobs(flow)
        top = read_top(ctx.input(ctx.flow.rtl_step, "rtl.json"))
        rtl = ctx.input(ctx.flow.rtl_step, "top.v")
        try:
            rtl_text = rtl.read_text()
        except OSError as exc:
            raise AsicflowError(f"pnr needs {rtl} (written by the rtl step): {exc}") from exc
        target = pdk.config.siliconcompiler.target or "none (PDK built from the YAML)"
        ctx.note(
            f"PDK {pdk.config.name}, root {pdk.root} (from {pdk.root_from}); "
            f"SiliconCompiler target: {target}"
        )
        (ctx.dir / "constraints.sdc").write_text(
            sdc(flow.clock_period_ns, has_clock_port(rtl_text), pdk.config.cells.buffer)
        )
        knobs = flow.pnr
        request = PnrRequest(
            top=top,
            rtl=str(rtl.resolve()),
            sdc=str((ctx.dir / "constraints.sdc").resolve()),
            pdk_yaml=str(pdk.config.source),
            pdk_root=str(pdk.root),
            # Relative: the child runs in the step folder, which is renamed on success.
            builddir=SC_DIR,
            cachedir=f"{SC_DIR}/cache",
            core_utilization=knobs.core_utilization,
            aspect_ratio=knobs.aspect_ratio,
            core_margin_um=knobs.core_margin_um,
            place_density=knobs.place_density,
            scheduler=knobs.scheduler,
            queue=knobs.queue,
            tool_paths={k: str(v) for k, v in knobs.tool_paths.items()},
            stop_after=knobs.stop_after,
        )
        request.write(ctx.dir / "request.json")
        res = ctx.run(
            [sys.executable, "-m", "asicflow.pnr_run", "request.json", RESULT],
            timeout=knobs.timeout_h * 3600.0,
            check=False,
            tool="siliconcompiler",
        )
        result = _read_result(ctx, res.returncode)
        ctx.versions.update(result.get("versions", {}))
        ok = result.get("status") == "ok"
        # Paths the child wrote relative to the step folder, as they will be once the folder
        # is moved into place (build/<flow>/pnr/, or pnr.failed/ on failure).
        final = ctx.flow_dir / (self.name if ok else f"{self.name}.failed")
        for k in ("gds", "job_dir", "job_log", "failed_log"):
            if result.get(k) and not Path(result[k]).is_absolute():
                result[k] = str(final / result[k])
        _raise_for(result, ctx, pdk.config.source, knobs.scheduler)
        metrics: dict[str, Any] = {f"pnr__{k}": v for k, v in result["metrics"].items()}
        metrics["pnr__gds"] = result.get("gds")
        metrics["pnr__pdk"] = pdk.config.name
        metrics["pnr__stop_after"] = knobs.stop_after or None
        metrics["pnr__sc_job_dir"] = result.get("job_dir")
        return metrics


def _check_knobs(flow: FlowConfig) -> None:
    k = flow.pnr
    problems = []
    if not 0.0 < k.core_utilization <= 100.0:
        problems.append("'pnr.core_utilization' must be in (0, 100] (percent)")
    if k.aspect_ratio <= 0.0:
        problems.append("'pnr.aspect_ratio' must be positive")
    if k.core_margin_um < 0.0:
        problems.append("'pnr.core_margin_um' must not be negative")
    if k.place_density is not None and not 0.0 < k.place_density <= 1.0:
        problems.append("'pnr.place_density' must be in (0, 1]")
    if k.timeout_h <= 0.0:
        problems.append("'pnr.timeout_h' must be positive")
    for tool, folder in k.tool_paths.items():
        if not folder.is_dir():
            problems.append(f"'pnr.tool_paths.{tool}': folder not found: {folder}")
    if problems:
        raise ConfigError(str(flow.source) if flow.source.name else "flow", problems)


def _read_result(ctx: StepContext, returncode: int) -> dict[str, Any]:
    path = ctx.dir / RESULT
    try:
        result: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ToolFailed(
            "siliconcompiler",
            f"the pnr child exited with code {returncode} " f"without a verdict ({RESULT})",
            ctx.log,
            tail(ctx.log),
        ) from None
    return result


def _steps(entry: dict[str, Any], most: int = 4) -> str:
    steps = list(entry.get("steps", []))
    more = len(steps) - most
    return ", ".join(steps[:most]) + (f" (+{more} more)" if more > 0 else "")


def _scheduler_hint(scheduler: str) -> str:
    if scheduler == "docker":
        return (
            "'pnr.scheduler' is already 'docker': tools then run in the image "
            "('pnr.queue', default SiliconCompiler's sc_runner image), not from PATH"
        )
    return "set 'pnr.scheduler: docker' (SiliconCompiler's sc_runner image holds every tool)"


def _raise_for(result: dict[str, Any], ctx: StepContext, pdk_source: Path, scheduler: str) -> None:
    status = result.get("status")
    if status == "ok":
        return
    if status == "tools":
        raise PnrToolsMissing(
            result.get("tools", []), result.get("files", []), _scheduler_hint(scheduler)
        )
    if status == "files":
        root = result.get("pdk_root", "")
        files, values = result.get("files", []), result.get("values", [])
        problems = []
        if files:
            problems.append(
                f"PDK root {root} lacks {len(files)} file(s) SiliconCompiler's "
                "flow needs (the PDK's own setup names them):"
            )
            problems += [
                f"[{f['key']}]: file not found: {f['path']} (needed by " f"{_steps(f)})"
                for f in files
            ]
        problems += [
            f"[{v['key']}] has no value; SiliconCompiler needs it for {_steps(v)}" for v in values
        ]
        raise ConfigError(str(pdk_source), problems)
    if status == "config":
        raise ConfigError(result.get("source") or str(pdk_source), result.get("problems", []))
    if status == "scheduler":
        raise ToolMissing(
            scheduler,
            f"SiliconCompiler's {scheduler} scheduler cannot start: "
            f"{result.get('error', '')}. Set 'pnr.scheduler: local' "
            "or make it available.",
        )
    # The log path names where the step folder is about to be moved; its tail is read here.
    log, here = ctx.log, ctx.log
    where = result.get("failed_log") or result.get("job_log")
    failed_dir = ctx.flow_dir / "pnr.failed"
    if where and Path(where).is_relative_to(failed_dir):
        log, here = Path(where), ctx.dir / Path(where).relative_to(failed_dir)
    raise ToolFailed("siliconcompiler", result.get("error") or "the run failed", log, tail(here))
