"""Drivers of external HLS tools (Catapult, Bambu) for the ``rtl`` step.

Each driver writes the tool's complete project into the step folder (the same C++ the ``hls``
step writes, generated from the same IR), runs the tool through the step's subprocess helper
when it is found, reads the tool's reports into metrics and hands the generated Verilog on as
``rtl/top.v`` with an ``rtl/rtl.json`` whose ``protocol`` and ``ports`` describe the top's port
protocol to the cocotb testbench (``verification/test_network.py``).

Port protocols (``rtl.json`` ``port_map``: role -> port name, ``None`` = no such port):

``native_valid``      asicflow's generator: ``clk``, ``rst`` (sync, active high), ``in_valid`` +
                      ``in_data``, ``out_valid`` + ``out_data``; no back-pressure.
``catapult_channel``  Catapult ``ccs_in_wait``/``ccs_out_wait`` ports on the whole (packed)
                      arrays: ``x_rsc_dat``/``x_rsc_vld``/``x_rsc_rdy`` in,
                      ``y_rsc_dat``/``y_rsc_vld``/``y_rsc_rdy`` out; a transfer happens on a
                      rising edge with vld and rdy high. ``clk``, ``rst`` (sync, active high).
``bambu_startdone``   Bambu's minimal interface: ``clock``, ``reset`` (sync, active high as
                      asked on its command line), ``start_port`` with the packed argument ``x``,
                      ``done_port`` with the packed result ``y`` (pipelined: one start per cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asicflow.errors import ToolMissing
from asicflow.ir import Graph
from asicflow.runner import which

PROTOCOLS: dict[str, dict[str, Any]] = {
    "native_valid": {
        "clk": "clk",
        "rst": "rst",
        "rst_active": 1,
        "in_valid": "in_valid",
        "in_data": "in_data",
        "in_ready": None,
        "out_valid": "out_valid",
        "out_data": "out_data",
        "out_ready": None,
    },
    "catapult_channel": {
        "clk": "clk",
        "rst": "rst",
        "rst_active": 1,
        "in_valid": "x_rsc_vld",
        "in_data": "x_rsc_dat",
        "in_ready": "x_rsc_rdy",
        "out_valid": "y_rsc_vld",
        "out_data": "y_rsc_dat",
        "out_ready": "y_rsc_rdy",
    },
    "bambu_startdone": {
        "clk": "clock",
        "rst": "reset",
        "rst_active": 1,
        "in_valid": "start_port",
        "in_data": "x",
        "in_ready": None,
        "out_valid": "done_port",
        "out_data": "y",
        "out_ready": None,
    },
}

SRC_DIR = "src"  # the C++ project inside the rtl step folder (firmware/, tb/)


@dataclass(frozen=True)
class ToolRtl:
    """What a driver hands back: the Verilog, its rtl.json and the tool's metrics."""

    verilog: str
    info: dict[str, Any]
    metrics: dict[str, Any]


def find_tool(tool: str, folder: Path | None, key: str) -> str:
    """The tool's executable (in ``folder`` when the flow names one, else on PATH)."""
    hint = (
        f"Put '{tool}' on PATH, or set '{key}' in the flow YAML to the folder holding it "
        f"(or choose another 'hls.backend': native needs no HLS tool)."
    )
    if folder is not None:
        return which(tool, hint, path=str(folder))
    return which(tool, hint)


def tool_info(
    graph: Graph,
    top: str,
    protocol: str,
    latency: int | None,
    ii: int,
    source: str,
) -> dict[str, Any]:
    """``rtl.json`` for tool RTL: same shape as the native one, no per-layer probes."""
    t_in, t_out = graph.input.out_type, graph.output.out_type
    n_in, n_out = graph.input.size, graph.output.size
    ports = PROTOCOLS[protocol]
    widths = {ports[r]: 1 for r in ("clk", "rst", "in_valid", "in_ready", "out_valid", "out_ready")}
    widths.pop(None, None)
    widths[ports["in_data"]] = n_in * t_in.width
    widths[ports["out_data"]] = n_out * t_out.width
    return {
        "top": top,
        "source": source,
        "protocol": protocol,
        "port_map": dict(ports),
        "latency_cycles": latency,
        "ii": ii,
        "input": {"size": n_in, "width": t_in.width, "signed": t_in.signed, "type": t_in.ac()},
        "output": {
            "size": n_out,
            "width": t_out.width,
            "signed": t_out.signed,
            "type": t_out.ac(),
        },
        "ports": widths,
        "layers": [],  # the tool's internal signal names are unknown: no divergence probes
    }


__all__ = ["PROTOCOLS", "SRC_DIR", "ToolMissing", "ToolRtl", "find_tool", "tool_info"]
