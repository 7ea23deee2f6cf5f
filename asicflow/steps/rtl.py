"""Step ``rtl``: generate the native Verilog (``top.v``, module = flow name) and lint it.

``rtl.json`` describes the design for later steps and the testbench: top name, port widths,
latency, initiation interval, input/output element types and each layer's probe signal.
Any ``verilator --lint-only -Wall`` warning fails the step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import CheckFailed
from asicflow.hls import kernel_headers, templates, write_project
from asicflow.hlstools import SRC_DIR, ToolRtl
from asicflow.ir import Graph
from asicflow.pdk import pdk_deps
from asicflow.rtl import VERILOG_FILE, generate
from asicflow.rtl.budget import describe, pipeline, pipeline_deps, pipeline_reads
from asicflow.rtl.tools import find_verilator, tool_path, verilator_version
from asicflow.steps.base import REUSE_KEYS, Step, StepContext, write_json

RTL_JSON = "rtl.json"
_SOURCES = (
    "generator.py",
    "layers.py",
    "params.py",
    "reuse.py",
    "arith.py",
    "adders.py",
    "cmvm.py",
    "cast.py",
    "budget.py",
    "csd.py",
    "verilog.py",
)
# The file name is fixed by the flow (later steps need a fixed path) while the module is
# named after the flow, which is exactly what DECLFILENAME objects to: the only waiver.
LINT_FLAGS = ("--lint-only", "-Wall", "-Wno-DECLFILENAME")
_DIAG = re.compile(r"^%(Warning|Error)")
_COMMON_TOOL_READS = ("hls.backend", "clock_period_ns")
TOOL_READS: dict[str, tuple[str, ...]] = {
    "catapult": (
        *_COMMON_TOOL_READS,
        "hls.catapult_path",
        "hls.catapult_flows",
        "pdk",
        "pdk_root",
        "corner",
    ),
    "bambu": (*_COMMON_TOOL_READS, "hls.bambu_path", "hls.bambu_compiler"),
}
TOOL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "catapult"


class RtlStep(Step):
    name = "rtl"
    reads = ("name", "rtl.generator", "rtl.weights", "rtl.pipeline", *REUSE_KEYS)
    needs = ("convert/graph.json", "convert/weights.npz")
    outputs = (VERILOG_FILE, RTL_JSON)
    doc = (
        "RTL: native Verilog (fully parallel, pipelined, II 1, verilator -Wall clean), or "
        "Catapult/Bambu run on the HLS C++ (hls.backend)"
    )

    def deps(self, flow: FlowConfig) -> list[Path]:
        """The generator's own sources: a change to them regenerates the Verilog."""
        folder = Path(__file__).resolve().parent.parent / "rtl"
        deps = [folder / name for name in _SOURCES]
        if flow.hls.backend != "native":
            deps += [*kernel_headers(), *templates(), *sorted(TOOL_TEMPLATES.glob("*.j2"))]
        if flow.hls.backend == "catapult":
            deps += pdk_deps(flow)
        elif flow.hls.backend == "native":
            deps += pipeline_deps(flow)  # the corner's delay_model
        return deps

    def reads_for(self, flow: FlowConfig) -> tuple[str, ...]:
        """Native flows read only ``reads`` (and the PDK corner unless rtl.pipeline is
        'layer'); an HLS tool backend also its keys (so a native flow's result does not
        depend on them)."""
        if flow.hls.backend == "native":
            return tuple(dict.fromkeys(self.reads + pipeline_reads(flow)))
        return tuple(dict.fromkeys(self.reads + TOOL_READS.get(flow.hls.backend, ())))

    def run(self, ctx: StepContext) -> dict[str, Any]:
        graph = ctx.graph()
        if ctx.flow.hls.backend != "native":
            return _run_tool(ctx, graph)
        # weights as constants, or from the params_in port when the flow asks for it
        weights = ctx.flow.rtl.weights
        pipe = pipeline(ctx.flow)
        design = generate(graph, ctx.flow.name, weights=weights, pipe=pipe)
        (ctx.dir / VERILOG_FILE).write_text(design.verilog)
        info = design.info
        describe(ctx.flow, pipe, info)
        write_json(ctx.dir / RTL_JSON, info)
        ctx.note(
            f"rtl: module {design.top} in {VERILOG_FILE}: latency "
            f"{info['latency_cycles']} cycles, II {info['ii']}, {info['flops']} flip-flops "
            f"({info['pipeline_flops']} inside layers), {info['adder_operands']} adder "
            f"operands; pipeline {info['pipeline']['mode']}"
        )

        rc, diags = _lint(ctx, LINT_FLAGS, design.top)
        if rc != 0 or diags:
            shown = "\n".join(f"  {d}" for d in diags[:20]) or "  (no diagnostics; see log)"
            raise CheckFailed(
                f"verilator lint of {VERILOG_FILE} failed ({len(diags)} "
                f"diagnostics, log {ctx.log}):\n{shown}"
            )
        return {
            "rtl__top": design.top,
            "rtl__latency_cycles": info["latency_cycles"],
            "rtl__pipeline": info["pipeline"]["mode"],
            "rtl__ii": info["ii"],
            "rtl__flops": info["flops"],
            "rtl__pipeline_flops": info["pipeline_flops"],
            "rtl__adder_operands": info["adder_operands"],
            "rtl__verilog_lines": design.verilog.count("\n"),
            "rtl__lint_warnings": 0,
        }


def _run_tool(ctx: StepContext, graph: Graph) -> dict[str, Any]:
    """An HLS tool's RTL: write the C++ (as the hls step does) and the tool's project, run the
    tool, take its Verilog as ``top.v``; lint it with Verilator (errors fail, warnings are
    counted: tool RTL is not held to -Wall)."""
    from asicflow.hlstools import bambu, catapult

    backend = ctx.flow.hls.backend
    project = write_project(graph, ctx.flow.name, ctx.dir / SRC_DIR, weights=ctx.flow.rtl.weights)
    ctx.note(f"{backend}: C++ project in {SRC_DIR}/ ({len(project.files)} files)")
    out: ToolRtl = (catapult if backend == "catapult" else bambu).run(ctx, graph)
    (ctx.dir / VERILOG_FILE).write_text(out.verilog)
    write_json(ctx.dir / RTL_JSON, out.info)

    rc, diags = _lint(ctx, ("--lint-only", "-Wno-fatal"), ctx.flow.name)
    errors = [d for d in diags if d.startswith("%Error")]
    if rc != 0 or errors:
        shown = "\n".join(f"  {d}" for d in errors[:20]) or "  (no diagnostics; see log)"
        raise CheckFailed(f"verilator lint of the {backend} RTL failed (log {ctx.log}):\n{shown}")
    ctx.note(
        f"rtl ({backend}): module {ctx.flow.name}, protocol {out.info['protocol']}, latency "
        f"{out.info['latency_cycles']}, II {out.info['ii']}"
    )
    return {
        "rtl__backend": backend,
        "rtl__top": ctx.flow.name,
        "rtl__protocol": out.info["protocol"],
        "rtl__latency_cycles": out.info["latency_cycles"],
        "rtl__ii": out.info["ii"],
        "rtl__verilog_lines": out.verilog.count("\n"),
        "rtl__lint_warnings": len(diags),
        **out.metrics,
    }


def _log_size(ctx: StepContext) -> int:
    return ctx.log.stat().st_size if ctx.log.exists() else 0


def _log_since(ctx: StepContext, start: int) -> list[str]:
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        return fh.read().decode(errors="replace").splitlines()


def _lint(ctx: StepContext, flags: Sequence[str], top: str) -> tuple[int, list[str]]:
    """Run Verilator's linter on the step's Verilog: (exit code, its diagnostic lines)."""
    verilator = find_verilator()
    env = {"PATH": tool_path()}
    ctx.versions["verilator"] = verilator_version(
        _first_line(ctx, [verilator, "--version"], env), verilator
    )
    start = _log_size(ctx)
    res = ctx.run(
        [verilator, *flags, "--top-module", top, VERILOG_FILE],
        env=env,
        check=False,
        tool="verilator",
    )
    return res.returncode, [ln for ln in _log_since(ctx, start) if _DIAG.match(ln)]


def _first_line(ctx: StepContext, argv: list[str], env: dict[str, str]) -> str:
    """First line a tool prints (read back from the step log)."""
    start = _log_size(ctx)
    ctx.run(argv, env=env, tool=Path(argv[0]).name)
    lines = _log_since(ctx, start)
    return lines[1].strip() if len(lines) > 1 else "?"
