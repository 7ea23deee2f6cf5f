"""Step ``rtl``: generate the native Verilog (``top.v``, module = flow name) and lint it.

``rtl.json`` describes the design for later steps and the testbench: top name, port widths,
latency, initiation interval, input/output element types and each layer's probe signal.
Any ``verilator --lint-only -Wall`` warning fails the step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import CheckFailed
from asicflow.ir import Graph
from asicflow.rtl import VERILOG_FILE, generate
from asicflow.rtl.tools import find_verilator, tool_path, verilator_version
from asicflow.steps.base import Step, StepContext, write_json

RTL_JSON = "rtl.json"
_SOURCES = ("generator.py", "arith.py", "cast.py", "csd.py", "verilog.py")
# The file name is fixed by the flow (later steps need a fixed path) while the module is
# named after the flow, which is exactly what DECLFILENAME objects to: the only waiver.
LINT_FLAGS = ("--lint-only", "-Wall", "-Wno-DECLFILENAME")
_DIAG = re.compile(r"^%(Warning|Error)")


class RtlStep(Step):
    name = "rtl"
    reads = ("name", "rtl.generator")
    needs = ("convert/graph.json", "convert/weights.npz")
    outputs = (VERILOG_FILE, RTL_JSON)
    doc = "native Verilog: fully parallel, pipelined, II 1 (verilator -Wall clean)"

    def deps(self, flow: FlowConfig) -> list[Path]:
        """The generator's own sources: a change to them regenerates the Verilog."""
        folder = Path(__file__).resolve().parent.parent / "rtl"
        return [folder / name for name in _SOURCES]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        graph = Graph.load(ctx.input("convert", "graph.json").parent)
        design = generate(graph, ctx.flow.name)
        (ctx.dir / VERILOG_FILE).write_text(design.verilog)
        write_json(ctx.dir / RTL_JSON, design.info)
        info = design.info
        ctx.note(
            f"rtl: module {design.top} in {VERILOG_FILE}: latency "
            f"{info['latency_cycles']} cycles, II {info['ii']}, {info['flops']} flip-flops, "
            f"{info['adder_operands']} adder operands"
        )

        verilator = find_verilator()
        env = {"PATH": tool_path()}
        ctx.versions["verilator"] = verilator_version(
            _first_line(ctx, [verilator, "--version"], env), verilator
        )
        start = _log_size(ctx)
        res = ctx.run(
            [verilator, *LINT_FLAGS, "--top-module", design.top, VERILOG_FILE],
            env=env,
            check=False,
            tool="verilator",
        )
        diags = [ln for ln in _log_since(ctx, start) if _DIAG.match(ln)]
        if res.returncode != 0 or diags:
            shown = "\n".join(f"  {d}" for d in diags[:20]) or "  (no diagnostics; see log)"
            raise CheckFailed(
                f"verilator lint of {VERILOG_FILE} failed ({len(diags)} "
                f"diagnostics, log {ctx.log}):\n{shown}"
            )
        return {
            "rtl__top": design.top,
            "rtl__latency_cycles": info["latency_cycles"],
            "rtl__ii": info["ii"],
            "rtl__flops": info["flops"],
            "rtl__adder_operands": info["adder_operands"],
            "rtl__verilog_lines": design.verilog.count("\n"),
            "rtl__lint_warnings": 0,
        }


def _log_size(ctx: StepContext) -> int:
    return ctx.log.stat().st_size if ctx.log.exists() else 0


def _log_since(ctx: StepContext, start: int) -> list[str]:
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        return fh.read().decode(errors="replace").splitlines()


def _first_line(ctx: StepContext, argv: list[str], env: dict[str, str]) -> str:
    """First line a tool prints (read back from the step log)."""
    start = _log_size(ctx)
    ctx.run(argv, env=env, tool=Path(argv[0]).name)
    lines = _log_since(ctx, start)
    return lines[1].strip() if len(lines) > 1 else "?"
