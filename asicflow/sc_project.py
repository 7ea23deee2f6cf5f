"""The SiliconCompiler (0.38) ASIC project of the pnr step, its run, and its verdict.

Imports SiliconCompiler at module level: only the pnr child (``python -m asicflow.pnr_run``)
and tests import this module, never the flow itself.

:func:`build_project` turns a :class:`PnrRequest` into an ``ASIC`` project: the design (RTL +
SDC), the PDK (the SiliconCompiler target the PDK YAML names, e.g. ``skywater130_demo``, or a
PDK and cell library built from the YAML for a PDK without one), the PDK's dataroot pointed at
the configured root (offline), the floorplan knobs, the scheduler and tool paths.
:func:`run_project` runs it and returns a JSON-able verdict: metrics and GDS, or SiliconCompiler's
diagnosis (missing/too-old tools, missing required files) read from its log records and its
manifest.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import siliconcompiler
from siliconcompiler import ASIC, Design
from siliconcompiler.flowgraph import RuntimeFlowgraph
from siliconcompiler.flows.asicflow import ASICFlow
from siliconcompiler.tools.klayout import KLayoutLibrary, KLayoutPDK
from siliconcompiler.tools.openroad import OpenROADPDK, OpenROADStdCellLibrary
from siliconcompiler.tools.yosys import YosysStdCellLibrary

from asicflow.errors import ConfigError
from asicflow.pdk import PdkConfig, load_pdk
from asicflow.steps.pnr import PnrRequest

RTL_DATAROOT = "asicflow_rtl"
# Dataroot sources SiliconCompiler resolves on this machine without a network.
_LOCAL_SOURCE = re.compile(r"^(?:/|file://|python://|\./|\.\./|[A-Za-z]:[\\/])")

# SiliconCompiler's metrics -> asicflow's names (units in the names; SC: um, um^2, ns, mW, Hz).
METRICS = {
    "cellarea": "design__instance__area_um2",
    "stdcellarea": "design__instance__stdcell_area_um2",
    "totalarea": "design__die__area_um2",
    "utilization": "design__instance__utilization_pct",
    "cells": "design__instance__count",
    "registers": "design__instance__count__registers",
    "buffers": "design__instance__count__buffers",
    "setupslack": "timing__setup__ws_ns",
    "setuptns": "timing__setup__tns_ns",
    "holdslack": "timing__hold__ws_ns",
    "holdtns": "timing__hold__tns_ns",
    "fmax": "timing__fmax_hz",
    "averagepower": "power__average_mw",
    "peakpower": "power__peak_mw",
    "leakagepower": "power__leakage_mw",
    "drcs": "route__drc_errors",
    "drvs": "design__rule_violations",
    "wirelength": "route__wirelength_um",
    "vias": "route__vias",
}

_MISSING_EXE = re.compile(r"Executable for (\S+)/(\S+) could not be found: (.+)$")
_VERSION_FAILED = re.compile(r"Version check failed for (\S+)/(\S+)\.")
_VERSION_FOUND = re.compile(
    r"Found version (.+), did not satisfy any version specifier set " r"(.+)\.$"
)
_TOOL_FOUND = re.compile(r"Tool '(.+)' found with version '(.+)' in directory '(.+)'")
_VALUE_MISSING = re.compile(r"No value set for required keypath \[(.+)\] for (\S+)/(\S+)\.$")
_PATH_MISSING = re.compile(
    r"Cannot resolve path (.+) in required file keypath \[(.+)\] for " r"(\S+)/(\S+)\.$"
)


class AsicflowPDK(KLayoutPDK, OpenROADPDK):
    """A PDK described by an asicflow PDK YAML (no SiliconCompiler target)."""


class AsicflowLibrary(YosysStdCellLibrary, OpenROADStdCellLibrary, KLayoutLibrary):
    """The standard-cell library of such a PDK."""


# --- building the project ------------------------------------------------------------------


def build_project(req: PnrRequest) -> ASIC:
    """The ASIC project for ``req`` (nothing runs, nothing is downloaded)."""
    cfg = load_pdk(req.pdk_yaml)
    root = Path(req.pdk_root)
    rtl, sdc = Path(req.rtl), Path(req.sdc)
    design = Design(req.top)
    design.set_dataroot(RTL_DATAROOT, str(rtl.parent))
    with design.active_dataroot(RTL_DATAROOT), design.active_fileset("rtl"):
        design.set_topmodule(req.top)
        design.add_file(rtl.name, filetype="verilog")
    with design.active_fileset("sdc"):
        design.add_file(str(sdc), filetype="sdc")
    proj = ASIC(design)
    proj.add_fileset("rtl")
    proj.add_fileset("sdc")

    target = cfg.siliconcompiler.target
    if target:
        _apply_target(proj, cfg, target)
    else:
        _apply_pdk_yaml(proj, cfg, root)
    point_dataroot(proj, cfg.siliconcompiler.dataroot, root)
    remote = remote_dataroots(proj)
    if remote:
        raise ConfigError(
            str(cfg.source),
            [
                f"[{','.join(k)}] = {v}: a remote source; asicflow runs SiliconCompiler offline, "
                f"point it at local data"
                for k, v in remote
            ],
        )

    area = proj.constraint.area
    area.set_density(
        req.core_utilization, aspectratio=req.aspect_ratio, coremargin=req.core_margin_um
    )
    if req.place_density is not None:
        mainlib = proj.get_library(proj.get("asic", "mainlib"))
        if isinstance(mainlib, OpenROADStdCellLibrary):
            mainlib.set_openroad_placement_density(req.place_density)

    opt = proj.option
    opt.set_builddir(req.builddir)
    opt.set_cachedir(req.cachedir)
    opt.set_jobname(req.jobname)
    opt.set_nodashboard(True)
    opt.set_nodisplay(True)
    if req.scheduler != "local":
        opt.scheduler.set_name(req.scheduler)
        if req.queue:
            opt.scheduler.set_queue(req.queue)
    _set_tool_paths(proj, req.tool_paths, cfg)
    if req.stop_after:
        steps = sorted({step for step, _ in proj.get_flow().get_nodes()})
        if req.stop_after not in steps:
            raise ConfigError(
                "flow",
                [
                    f"'pnr.stop_after' is {req.stop_after!r}, not a step of "
                    f"SiliconCompiler's flow; choose one of "
                    f"{', '.join(steps)}"
                ],
            )
        opt.add_to(req.stop_after)
    return proj


def _apply_target(proj: ASIC, cfg: PdkConfig, target: str) -> None:
    from siliconcompiler import targets

    func = getattr(targets, target, None)
    if not callable(func):
        known = ", ".join(n for n in dir(targets) if n.endswith("_demo"))
        raise ConfigError(
            str(cfg.source),
            [
                f"'siliconcompiler.target' is {target!r}: not a target of SiliconCompiler "
                f"{siliconcompiler.__version__}; known: {known} (or leave it empty to build the "
                "PDK from this file)"
            ],
        )
    func(proj)
    lib = cfg.siliconcompiler.library
    if lib and proj.get("asic", "mainlib") != lib:
        raise ConfigError(
            str(cfg.source),
            [
                f"'siliconcompiler.library' is {lib!r} but target {target} sets up "
                f"{proj.get('asic', 'mainlib')!r}"
            ],
        )


def _apply_pdk_yaml(proj: ASIC, cfg: PdkConfig, root: Path) -> None:
    """SiliconCompiler PDK + library + flow + scenarios from the YAML (commercial PDKs)."""
    dr = cfg.siliconcompiler.dataroot
    phys = cfg.physical
    files, cells = cfg.files, cfg.cells

    pdk = AsicflowPDK()
    pdk.set_name(cfg.siliconcompiler.pdk or cfg.name)
    pdk.set_dataroot(dr, str(root))
    if phys.node_nm:
        pdk.set_node(phys.node_nm)
    if phys.stackup:
        pdk.set_stackup(phys.stackup)
    with pdk.active_dataroot(dr):
        with pdk.active_fileset("views.lef"):
            pdk.add_file(files.tech_lef, filetype="lef")
            for tool in ("openroad", "klayout"):
                pdk.add_aprtechfileset(tool)
        with pdk.active_fileset("klayout.techmap"):
            pdk.add_file(files.layer_map, filetype="layermap")
            pdk.add_layermapfileset("klayout", "def", "klayout")
    pdk.set_aprroutinglayers(min=phys.routing_layer_min, max=phys.routing_layer_max)
    if phys.rc_layer_signal or phys.rc_layer_clock:
        pdk.set_openroad_rclayers(
            signal=phys.rc_layer_signal or None, clock=phys.rc_layer_clock or None
        )
    pdk.add_openroad_pinlayers(
        vertical=phys.pin_layers_vertical, horizontal=phys.pin_layers_horizontal
    )

    lib = AsicflowLibrary()
    lib.set_name(cfg.siliconcompiler.library or cfg.name)
    lib.set_dataroot(dr, str(root))
    lib.add_asic_pdk(pdk)
    lib.add_asic_site(list(phys.site))
    with lib.active_dataroot(dr):
        for name, corner in cfg.corners.items():
            with lib.active_fileset(f"models.timing.{name}.nldm"):
                lib.add_file(corner.liberty, filetype="liberty")
                lib.add_asic_libcornerfileset(name, "nldm")
        with lib.active_fileset("models.physical"):
            lib.add_file(files.lef, filetype="lef")
            lib.add_file(files.gds, filetype="gds")
            lib.add_asic_aprfileset()
        if files.verilog:
            with lib.active_fileset("models.sim"):
                for v in files.verilog:
                    lib.add_file(v, filetype="verilog")
        scripts = phys.scripts
        with lib.active_fileset("openroad.powergrid"):
            lib.add_file(scripts.power_grid, filetype="tcl")
            lib.add_openroad_powergridfileset()
        with lib.active_fileset("openroad.globalconnect"):
            lib.add_file(scripts.global_connect, filetype="tcl")
            lib.add_openroad_globalconnectfileset()
        lib.set_openroad_tapcells_file(scripts.tapcell)
        if scripts.tracks:
            lib.set_openroad_tracks_file(scripts.tracks)
    for kind, names in (
        ("tap", [cells.tap]),
        ("endcap", [cells.endcap]),
        ("filler", cells.fill),
        ("clkbuf", cells.clock_buffers),
        ("hold", cells.hold),
        ("antenna", [cells.antenna]),
        ("dontuse", cells.dont_use),
        ("tie", sorted({cells.tie_hi.cell, cells.tie_lo.cell})),
    ):
        names = [n for n in names if n]
        if names:
            lib.add_asic_celllist(kind, names)
    buf = cells.buffer
    lib.set_yosys_driver_cell(buf.cell)
    lib.set_yosys_buffer_cell(buf.cell, buf.input, buf.output)
    lib.set_yosys_tiehigh_cell(cells.tie_hi.cell, cells.tie_hi.pin)
    lib.set_yosys_tielow_cell(cells.tie_lo.cell, cells.tie_lo.pin)
    lib.set_yosys_abc(phys.abc_clock_multiplier, phys.abc_load_ff)
    lib.set_openroad_tiehigh_cell(cells.tie_hi.cell, cells.tie_hi.pin)
    lib.set_openroad_tielow_cell(cells.tie_lo.cell, cells.tie_lo.pin)
    lib.set_openroad_placement_density(phys.place_density)
    lib.set_openroad_macro_placement_halo(phys.macro_halo_um, phys.macro_halo_um)

    proj.set_mainlib(lib)
    proj.set_pdk(pdk)
    proj.set_flow(ASICFlow(language="verilog"))
    # One scenario per corner, carrying the checks that corner signs off.
    checks: dict[str, list[str]] = {}
    for check, wanted in (
        ("setup", phys.setup_corner),
        ("hold", phys.hold_corner),
        ("power", phys.power_corner),
    ):
        checks.setdefault(wanted or cfg.default_corner, []).append(check)
    for name, names in checks.items():
        scenario = proj.constraint.timing.make_scenario(name)
        scenario.add_libcorner(name)
        scenario.set_pexcorner(phys.pex_corner)
        for check in names:
            scenario.add_check(check)
    proj.set_asic_delaymodel("nldm")


def _dataroot_keys(proj: ASIC, name: str | None = None) -> Iterator[tuple[str, ...]]:
    for key in proj.allkeys():
        if (
            len(key) >= 3
            and key[-3] == "dataroot"
            and key[-1] == "path"
            and (name is None or key[-2] == name)
        ):
            yield key


def point_dataroot(proj: ASIC, name: str, root: Path) -> list[tuple[str, ...]]:
    """Every dataroot called ``name`` (one per library that registered it) -> ``root``."""
    keys = list(_dataroot_keys(proj, name))
    for key in keys:
        proj.set(*key, str(root))
        proj.set(*key[:-1], "tag", None)
    return keys


def remote_dataroots(proj: ASIC) -> list[tuple[tuple[str, ...], str]]:
    """Dataroots whose source needs a network (git, https, github, s3, ...)."""
    out = []
    for key in _dataroot_keys(proj):
        value = proj.get(*key)
        if value and not _LOCAL_SOURCE.match(str(value)):
            out.append((key, str(value)))
    return out


def _set_tool_paths(proj: ASIC, tool_paths: dict[str, str], cfg: PdkConfig) -> None:
    if not tool_paths:
        return
    flow = proj.get_flow()
    used: dict[str, set[str]] = {}
    for step, index in flow.get_nodes():
        used.setdefault(flow.get(step, index, "tool"), set()).add(flow.get(step, index, "task"))
    unknown = sorted(set(tool_paths) - set(used))
    if unknown:
        raise ConfigError(
            "flow",
            [
                f"'pnr.tool_paths.{t}': not a tool of SiliconCompiler's "
                f"flow; its tools: {', '.join(sorted(used))}"
                for t in unknown
            ],
        )
    for tool, folder in tool_paths.items():
        for task in sorted(used[tool]):
            proj.set("tool", tool, "task", task, "path", str(Path(folder).resolve()))


# --- running it and reading the verdict ------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed record must not break the run
            pass


@contextmanager
def _capture(proj: ASIC) -> Iterator[_Records]:
    handler = _Records()
    proj.logger.addHandler(handler)
    try:
        yield handler
    finally:
        proj.logger.removeHandler(handler)


def run_project(proj: ASIC, pdk_root: Path) -> dict[str, Any]:
    """Run ``proj``; the verdict as a JSON-able dict (``status`` ok/tools/files/scheduler/
    failed)."""
    versions = {"siliconcompiler": siliconcompiler.__version__}
    with _capture(proj) as rec:
        try:
            hist = proj.run()
        except RuntimeError as exc:
            verdict = diagnose(proj, rec.messages, str(exc), pdk_root)
            verdict["versions"] = {**versions, **verdict.get("versions", {})}
            return verdict
    out: dict[str, Any] = {"status": "ok", "versions": versions, **_job_paths(proj)}
    out["metrics"] = collect_metrics(hist)
    out["gds"] = find_gds(hist)
    out["versions"].update(_tool_versions(rec.messages))
    return out


def _job_paths(proj: ASIC) -> dict[str, str]:
    job = Path(proj.option.get_builddir()) / proj.design.name / proj.option.get_jobname()
    return {"job_dir": str(job.resolve()), "job_log": str((job / "job.log").resolve())}


def _tool_versions(messages: list[str]) -> dict[str, str]:
    out = {}
    for msg in messages:
        m = _TOOL_FOUND.search(msg)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def diagnose(proj: ASIC, messages: list[str], error: str, pdk_root: Path) -> dict[str, Any]:
    """SiliconCompiler's reasons for refusing or failing a run, structured."""
    flow = proj.get_flow()
    tools: dict[str, dict[str, Any]] = {}

    def tool_entry(tool: str, task: str, step: str, index: str) -> dict[str, Any]:
        t = tools.setdefault(
            tool,
            {
                "tool": tool,
                "exe": None,
                "required": [],
                "steps": [],
                "found": None,
                "found_at": None,
            },
        )
        req = proj.get("tool", tool, "task", task, "version", step=step, index=index) or []
        t["required"] = sorted(set(t["required"]) | set(req))
        t["exe"] = t["exe"] or proj.get("tool", tool, "task", task, "exe", step=step, index=index)
        if f"{step}/{index}" not in t["steps"]:
            t["steps"].append(f"{step}/{index}")
        return t

    found_at: dict[str, str] = {}
    for i, msg in enumerate(messages):
        m = _TOOL_FOUND.search(msg)
        if m:
            found_at[m.group(1)] = m.group(3)
        m = _MISSING_EXE.search(msg)
        if m:
            step, index = m.group(1), m.group(2)
            tool_entry(flow.get(step, index, "tool"), flow.get(step, index, "task"), step, index)
            continue
        m = _VERSION_FAILED.search(msg)
        if m:
            tool, task = m.group(1), m.group(2)
            nodes = [
                (s, x)
                for s, x in flow.get_nodes()
                if flow.get(s, x, "tool") == tool and flow.get(s, x, "task") == task
            ]
            entries = [tool_entry(tool, task, s, x) for s, x in sorted(nodes)]
            nxt = messages[i + 1] if i + 1 < len(messages) else ""
            f = _VERSION_FOUND.search(nxt)
            for t in entries:
                if f:
                    t["found"] = f.group(1)
                exe = t["exe"] or ""
                t["found_at"] = found_at.get(exe)
    files = missing_required_files(proj, messages)
    for entry in files:  # relative values are relative to a dataroot: the PDK's here
        if not os.path.isabs(entry["path"]):
            entry["path"] = str(pdk_root / entry["path"])
    base: dict[str, Any] = {
        "error": error,
        "pdk_root": str(pdk_root),
        **_job_paths(proj),
        "versions": _tool_versions(messages),
    }
    if tools:
        ordered = sorted(tools.values(), key=lambda t: (t["found"] is not None, t["tool"]))
        return {**base, "status": "tools", "tools": ordered, "files": files}
    values: dict[str, dict[str, Any]] = {}
    for msg in messages:
        m = _VALUE_MISSING.search(msg)
        if m:
            values.setdefault(m.group(1), {"key": m.group(1), "steps": []})["steps"].append(
                f"{m.group(2)}/{m.group(3)}"
            )
    if files or values:
        return {**base, "status": "files", "files": files, "values": list(values.values())}
    if proj.option.scheduler.get_name() and "not available" in error:
        return {**base, "status": "scheduler"}
    return {**base, "status": "failed", "failed_log": _failed_log(proj)}


def missing_required_files(proj: ASIC, messages: list[str]) -> list[dict[str, Any]]:
    """Files the runtime nodes require that do not resolve: from SiliconCompiler's own check
    when it got that far, else from the requirements its task setup recorded."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for msg in messages:
        m = _PATH_MISSING.search(msg)
        if m:
            entry = found.setdefault(
                (m.group(2), m.group(1)), {"key": m.group(2), "path": m.group(1), "steps": []}
            )
            entry["steps"].append(f"{m.group(3)}/{m.group(4)}")
    if found:
        return list(found.values())
    try:
        nodes = RuntimeFlowgraph.from_project(proj).get_nodes()
    except (KeyError, ValueError):
        nodes = proj.get_flow().get_nodes()
    flow = proj.get_flow()
    for step, index in sorted(nodes):
        tool, task = flow.get(step, index, "tool"), flow.get(step, index, "task")
        for req in proj.get("tool", tool, "task", task, "require", step=step, index=index) or []:
            key = tuple(req.split(","))
            try:
                param = proj.get(*key, field=None)
            except (KeyError, ValueError):
                continue
            if not param.is_path:
                continue
            never = param.get(field="pernode").is_never()
            s, x = (None, None) if never else (step, index)
            paths = proj.find_files(*key, missing_ok=True, step=s, index=x)
            values = param.get(step=s, index=x)
            if not isinstance(paths, list):
                paths, values = [paths], [values]
            for path, value in zip(paths, values, strict=False):
                if path is None and value:
                    entry = found.setdefault(
                        (req, str(value)), {"key": req, "path": str(value), "steps": []}
                    )
                    entry["steps"].append(f"{step}/{index}")
    return list(found.values())


def _failed_log(proj: ASIC) -> str | None:
    """SiliconCompiler's log of the first node that did not succeed, if one exists."""
    job = Path(proj.option.get_builddir()) / proj.design.name / proj.option.get_jobname()
    try:
        order = RuntimeFlowgraph.from_project(proj).get_execution_order()
    except (KeyError, ValueError):
        return None
    for level in order:
        for step, index in level:
            node = job / step / index
            status = proj.get("record", "status", step=step, index=index)
            if status and str(status).lower() in ("error", "timeout", "failed"):
                for log in (node / f"{step}.log", node / f"sc_{step}_{index}.log"):
                    if log.is_file():
                        return str(log.resolve())
    return None


def _ordered_nodes(hist: ASIC) -> list[tuple[str, str]]:
    try:
        levels = RuntimeFlowgraph.from_project(hist).get_execution_order()
    except (KeyError, ValueError):
        return sorted(hist.get_flow().get_nodes())
    return [node for level in levels for node in level]


def collect_metrics(hist: ASIC) -> dict[str, Any]:
    """Each metric of :data:`METRICS` from the last node (in flow order) that recorded it."""
    out: dict[str, Any] = {}
    nodes = _ordered_nodes(hist)
    for sc_name, name in METRICS.items():
        if not hist.valid("metric", sc_name):
            continue
        for step, index in nodes:
            value = hist.get("metric", sc_name, step=step, index=index)
            if value is not None:
                out[name] = value
                out[f"{name}__step"] = f"{step}/{index}"
    for sc_name in ("errors", "warnings"):
        values = [hist.get("metric", sc_name, step=s, index=x) for s, x in nodes]
        out[f"sc__{sc_name}"] = sum(v for v in values if v is not None)
    out["sc__nodes_succeeded"] = [
        f"{s}/{x}"
        for s, x in nodes
        if str(hist.get("record", "status", step=s, index=x)).lower() == "success"
    ]
    return out


def find_gds(hist: ASIC) -> str | None:
    for step, index in reversed(_ordered_nodes(hist)):
        path = hist.find_result("gds", step=step, index=index)
        if path:
            return str(path)
    return None


def relative_to_cwd(value: Any) -> Any:
    """Absolute paths under the current folder made relative (the step folder moves)."""
    if isinstance(value, str) and os.path.isabs(value):
        try:
            return str(Path(value).relative_to(Path.cwd().resolve()))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: relative_to_cwd(v) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_to_cwd(v) for v in value]
    return value
