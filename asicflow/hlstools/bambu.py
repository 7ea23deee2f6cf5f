"""Bambu (PandA) driver: one replayable command line -> ``<top>.v`` + its summary output.

``bambu.argv`` (JSON list, also in ``commands.sh``) runs Bambu on ``src/firmware/<top>.cpp``
(the csim code) with the top function, the flow's clock period, the function pipelined
(II 1: every kernel loop is unrolled by its pragmas), a synchronous active-high reset, the
minimal start/done interface, the chosen front-end compiler, the top module named after the
flow and ``<top>.v`` as output. Bambu's summary lines (``Estimated max frequency``,
``Minimum/Maximum number of cycles`` and the flip-flop count) become metrics; the latency is
the number of cycles when Bambu states one fixed count, else left undeclared.
"""

from __future__ import annotations

import json
import re
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import ToolFailed
from asicflow.hlstools import SRC_DIR, ToolRtl, find_tool, tool_info
from asicflow.ir import Graph
from asicflow.steps.base import StepContext

ARGV = "bambu.argv"
PROTOCOL = "bambu_startdone"
OUT_LOG = "bambu_output.txt"


def output_name(flow: FlowConfig) -> str:
    return f"{flow.name}.v"


def arguments(flow: FlowConfig) -> list[str]:
    """Bambu's arguments (after the executable) for ``flow``: paths relative to the step folder."""
    top = flow.name
    return [
        f"{SRC_DIR}/firmware/{top}.cpp",
        f"--top-fname={top}",
        f"--top-rtldesign-name={top}",
        f"--clock-period={flow.clock_period_ns:g}",
        f"--pipelining={top}",
        "--reset-type=sync",
        "--reset-level=high",
        "--interface-type=minimal",
        f"--compiler={flow.hls.bambu_compiler}",
        "--std=c++17",
        f"-I{SRC_DIR}/firmware",
        f"--output-file={output_name(flow)}",
    ]


_PATTERNS = {
    "fmax_mhz": re.compile(r"Estimated max frequency \(MHz\):\s*([0-9.]+)"),
    "min_cycles": re.compile(r"Minimum number of cycles:\s*([0-9]+)"),
    "max_cycles": re.compile(r"Maximum number of cycles:\s*([0-9]+)"),
    "flops": re.compile(r"Total number of flip-flops in function \S+:\s*([0-9]+)"),
}


def parse_output(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rx in _PATTERNS.items():
        m = rx.search(text)
        if m:
            out[name] = float(m.group(1)) if name == "fmax_mhz" else int(m.group(1))
    return out


def run(ctx: StepContext, graph: Graph) -> ToolRtl:
    """Write the command line, run Bambu, read its Verilog and summary."""
    flow = ctx.flow
    args = arguments(flow)
    (ctx.dir / ARGV).write_text(json.dumps(["bambu", *args], indent=1) + "\n")
    exe = find_tool("bambu", flow.hls.bambu_path, "hls.bambu_path")
    start = ctx.log.stat().st_size if ctx.log.exists() else 0
    ctx.run([exe, *args], tool="bambu")
    with ctx.log.open("rb") as fh:
        fh.seek(start)
        text = fh.read().decode(errors="replace")
    (ctx.dir / OUT_LOG).write_text(text)

    rtl = ctx.dir / output_name(flow)
    if not rtl.is_file():
        raise ToolFailed("bambu", f"it exited 0 but wrote no {rtl.name}", ctx.log)
    summary = parse_output(text)
    lo, hi = summary.get("min_cycles"), summary.get("max_cycles")
    latency = lo if lo is not None and lo == hi else None
    info = tool_info(graph, flow.name, PROTOCOL, latency, 1, rtl.name)
    metrics = {
        "bambu__fmax_mhz": summary.get("fmax_mhz"),
        "bambu__latency_cycles": latency,
        "bambu__flops": summary.get("flops"),
    }
    return ToolRtl(rtl.read_text(errors="replace"), info, metrics)
