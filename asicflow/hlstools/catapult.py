"""Catapult HLS driver: Tcl project -> ``catapult -shell -file catapult.tcl`` -> rtl.v + rtl.rpt.

The project (``catapult.tcl``, jinja2 template ``templates/catapult/project.tcl.j2``) sets up
the solution on the C++ of ``src/`` (the csim code), the PDK corner's liberty as technology
library, the flow's clock and a synchronous active-high reset ``rst``, one packed
valid/ready channel per top array (``ccs_in_wait``/``ccs_out_wait``: ports ``x_rsc_*`` and
``y_rsc_*``), the function pipelined at II 1 with every labelled kernel loop unrolled, and the
``go`` stages through ``extract``; optional SCVerify/CCov/CDesignChecker flows
(``hls.catapult_flows``). Catapult writes ``<project>/<top>.v1/concat_rtl.v`` and ``rtl.rpt``;
the report's ``Design Total:`` row (latency, throughput) and ``Total Area Score:`` row
(post-scheduling, post-DP&FSM, post-assignment) become metrics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from asicflow.config import FlowConfig
from asicflow.errors import ConfigError, ToolFailed
from asicflow.hls import loops
from asicflow.hlstools import SRC_DIR, ToolRtl, find_tool, tool_info
from asicflow.ir import Graph
from asicflow.pdk import resolve_pdk
from asicflow.steps.base import StepContext

TCL = "catapult.tcl"
PROJECT = "catapult_prj"
FLOWS = ("scverify", "ccov", "cdesignchecker")
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "catapult"
PROTOCOL = "catapult_channel"
_NUM = r"(-?[0-9.]+)"


def solution(top: str) -> str:
    return f"{top}.v1"


def loop_directives(graph: Graph) -> list[dict[str, str]]:
    """One entry per unrolled kernel loop, in layer order (:func:`asicflow.hls.loops`). The
    kernels are inlined, so Catapult numbers repeated labels: ``DENSE_OUT``, ``DENSE_OUT#1``,
    ... The reuse rounds (reuse factor > 1) keep their source pragma: pipelined at II 1."""
    return [{"loop": d["loop"], "layer": d["layer"]} for d in loops(graph) if not d["pipelined"]]


def initiation_interval(graph: Graph) -> int:
    """The top's II: the largest reuse factor (each reuse layer takes that many rounds)."""
    return max([1, *(int(getattr(lay, "reuse", 1)) for lay in graph.layers)])


def render_tcl(flow: FlowConfig, graph: Graph, pdk_root: Path, liberty_rel: str) -> str:
    """The project Tcl for ``flow`` (pure: the golden-file test calls it directly)."""
    bad = [f for f in flow.hls.catapult_flows if f not in FLOWS]
    if bad:
        raise ConfigError(
            str(flow.source) if flow.source.name else "flow",
            [f"'hls.catapult_flows': unknown {b!r}; choose from {', '.join(FLOWS)}" for b in bad],
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    top = flow.name
    return env.get_template("project.tcl.j2").render(
        top=top,
        tcl=TCL,
        src=SRC_DIR,
        project=PROJECT,
        solution=solution(top),
        flows=list(flow.hls.catapult_flows),
        pdk=flow.pdk,
        corner=flow.corner,
        pdk_root=str(pdk_root),
        liberty_rel=liberty_rel,
        library=f"{Path(flow.pdk).stem}_{flow.corner}",
        clock_ns=f"{flow.clock_period_ns:.6f}",
        half_ns=f"{flow.clock_period_ns / 2:.6f}",
        ii=initiation_interval(graph),
        loops=loop_directives(graph),
    )


def parse_report(text: str) -> dict[str, Any]:
    """``rtl.rpt``: the ``Design Total:`` row (operations, latency, throughput, reset length,
    II) and the ``Total Area Score:`` row (the last column: post-assignment)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Design Total:") and "latency" not in out:
            nums = re.findall(_NUM, s.split(":", 1)[1])
            if len(nums) >= 3:
                out["operations"] = int(float(nums[0]))
                out["latency"] = int(float(nums[1]))
                out["throughput"] = int(float(nums[2]))
        elif s.startswith("Total Area Score:") and "area" not in out:
            nums = re.findall(_NUM, s.split(":", 1)[1])
            if nums:
                out["area"] = float(nums[-1])
    return out


def run(ctx: StepContext, graph: Graph) -> ToolRtl:
    """Write the project, run Catapult, read its RTL and report."""
    flow = ctx.flow
    pdk = resolve_pdk(flow)
    tcl = render_tcl(flow, graph, pdk.root, pdk.corner.liberty)
    (ctx.dir / TCL).write_text(tcl)
    ctx.note(f"catapult: wrote {TCL} ({tcl.count(chr(10))} lines), project {PROJECT}/")
    exe = find_tool("catapult", flow.hls.catapult_path, "hls.catapult_path")
    ctx.run([exe, "-shell", "-file", TCL], tool="catapult")

    folder = ctx.dir / PROJECT / solution(flow.name)
    rtl, rpt = folder / "concat_rtl.v", folder / "rtl.rpt"
    for path in (rtl, rpt):
        if not path.is_file():
            raise ToolFailed(
                "catapult", f"it exited 0 but wrote no {path.name} in {folder}", ctx.log
            )
    report = parse_report(rpt.read_text(errors="replace"))
    if "latency" not in report:
        raise ToolFailed("catapult", f"no 'Design Total:' row in {rpt}", ctx.log)
    ii = report["throughput"]
    info = tool_info(
        graph, flow.name, PROTOCOL, report["latency"], ii, f"{PROJECT}/{solution(flow.name)}"
    )
    metrics = {
        "catapult__latency_cycles": report["latency"],
        "catapult__throughput_cycles": ii,
        "catapult__area_score": report.get("area"),
        "catapult__operations": report.get("operations"),
    }
    return ToolRtl(rtl.read_text(errors="replace"), info, metrics)
