"""Static timing analysis of the synthesized netlist with OpenSTA (Debian command ``sta``).

Pre-layout figures: ideal clock (no clock tree), no wire load, unloaded outputs. The
constraints (``constraints.sdc``) put the clock on port ``clk`` at the flow's
``clock_period_ns``; every other input arrives at the clock edge (input delay 0) driven by the
PDK's buffer cell, and every output is due at the next edge (output delay 0), so I/O paths
count as full-cycle paths like register-to-register ones. Without a ``clk`` port a virtual
clock of the same period constrains the I/O paths. The critical path is ``period - worst
slack``: the smallest period the netlist would meet.

OpenSTA exits 0 even after a Tcl error, so the log is judged: any ``Error`` line, a black box
(cell missing from the Liberty file) or a script that did not reach its end fails the step.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ToolFailed
from asicflow.liberty import liberty_cache, plain_liberty
from asicflow.opensta import check_log, readable_path
from asicflow.pdk import BufferCell, Pdk, pdk_deps, resolve_pdk
from asicflow.runner import tail, which
from asicflow.steps.base import Step, StepContext

STA_HINT = (
    "Install OpenSTA (Debian/Ubuntu: apt-get install opensta, command 'sta') or put "
    "an OpenSTA 'sta' executable on PATH."
)
DONE = "asicflow: sta script done"
CLOCK_PORT = "clk"

_CLK_PORT = re.compile(rf"^\s*input\s+(?:wire\s+)?{CLOCK_PORT}\s*;", re.MULTILINE)
_VALUE = {
    name: re.compile(rf"^{name} (\S+)\s*$", re.MULTILINE) for name in ("worst slack", "tns", "wns")
}
_POINT = re.compile(r"^(Startpoint|Endpoint): (\S+)", re.MULTILINE)


def sdc(period_ns: float, has_clock_port: bool, buffer: BufferCell) -> str:
    """The timing constraints (see the module docstring for what they assume)."""
    if has_clock_port:
        clock = f"create_clock -name clk -period {period_ns:g} [get_ports {CLOCK_PORT}]"
        inputs = f"[delete_from_list [all_inputs] [get_ports {CLOCK_PORT}]]"
    else:
        clock = f"create_clock -name clk -period {period_ns:g}"
        inputs = "[all_inputs]"
    return "\n".join(
        [
            "# Written by asicflow's sta step. Pre-layout: ideal clock, no wire load.",
            "# Inputs arrive at the clock edge, driven by the PDK buffer; outputs are due at the",
            "# next edge (input/output delay 0: I/O paths get the full period).",
            "set_cmd_units -time ns",
            clock,
            f"set_input_delay 0 -clock clk {inputs}",
            "set_output_delay 0 -clock clk [all_outputs]",
            f"set_driving_cell -lib_cell {buffer.cell} -pin {buffer.output} {inputs}",
            "",
        ]
    )


def tcl_script(liberty: Path, netlist: str, top: str) -> str:
    return "\n".join(
        [
            "# Written by asicflow's sta step; replay: sta -no_init -exit sta.tcl",
            f"read_liberty {liberty}",
            f"read_verilog {netlist}",
            f"link_design {top}",
            "read_sdc constraints.sdc",
            "report_checks -path_delay max -format full_clock_expanded "
            "-fields {capacitance slew input_pin} -digits 4 > critical_path.rpt",
            "report_checks -path_delay max -digits 4",
            "report_worst_slack -digits 4",
            "report_tns -digits 4",
            "report_wns -digits 4",
            f'puts "{DONE}"',
            "",
        ]
    )


def parse_log(text: str) -> dict[str, float]:
    """worst slack / tns / wns (ns) from the part of the log this run wrote."""
    check_log(text, DONE)
    out: dict[str, float] = {}
    for name, rx in _VALUE.items():
        m = rx.search(text)
        if m is None:
            raise AsicflowError(f"no '{name}' line in the report")
        try:
            out[name] = float(m.group(1))
        except ValueError:
            raise AsicflowError(f"'{name}' is {m.group(1)!r}") from None
    if not math.isfinite(out["worst slack"]):
        raise AsicflowError("no constrained timing path (is there a clock and are there I/Os?)")
    return out


class StaStep(Step):
    name = "sta"
    reads = ("pdk", "pdk_root", "corner", "clock_period_ns")
    needs = ("synth/netlist.v", "synth/synth.json")
    outputs = ("constraints.sdc", "sta.tcl", "critical_path.rpt")
    doc = "OpenSTA setup timing of the netlist at the flow's clock (slack, fmax)"

    def deps(self, flow: FlowConfig) -> list[Path]:
        return pdk_deps(flow)

    def run(self, ctx: StepContext) -> dict[str, Any]:
        pdk = resolve_pdk(ctx.flow)
        which("sta", STA_HINT)  # a missing tool is reported before missing inputs
        info_path = ctx.input("synth", "synth.json")
        try:
            top = json.loads(info_path.read_text())["top"]
        except (OSError, ValueError, KeyError) as exc:
            raise AsicflowError(f"sta needs the synth step's synth.json: {exc}") from exc
        return time_netlist(ctx, pdk, ctx.input("synth", "netlist.v"), top, ctx.dir)


def time_netlist(
    ctx: StepContext, pdk: Pdk, netlist: Path, top: str, folder: Path
) -> dict[str, Any]:
    """OpenSTA setup timing of ``netlist`` at the flow's clock, files in ``folder``."""
    sta = which("sta", STA_HINT)
    try:
        text = netlist.read_text()
    except OSError as exc:
        raise AsicflowError(f"sta needs the netlist {netlist}: {exc}") from exc
    period = float(ctx.flow.clock_period_ns)
    lib = plain_liberty(pdk.liberty, liberty_cache(ctx.flow_dir))
    (folder / "constraints.sdc").write_text(
        sdc(period, bool(_CLK_PORT.search(text)), pdk.config.cells.buffer)
    )
    lib_name = readable_path(lib, folder, "liberty.lib")  # OpenSTA: no spaces, ASCII only
    (folder / "sta.tcl").write_text(
        tcl_script(Path(lib_name), os.path.relpath(netlist, folder), top)
    )
    start = ctx.log.stat().st_size if ctx.log.exists() else 0
    ctx.run([sta, "-no_init", "-exit", "sta.tcl"], cwd=folder, tool="sta")
    with ctx.log.open(errors="replace") as fh:
        fh.seek(start)
        out = fh.read()
    try:
        values = parse_log(out)
    except AsicflowError as exc:
        raise ToolFailed("sta", str(exc), ctx.log, tail(ctx.log)) from None
    m = re.search(r"OpenSTA (\S+)", out)
    ctx.versions["opensta"] = m.group(1) if m else "unknown"
    ws = values["worst slack"]
    critical = period - ws
    report = (folder / "critical_path.rpt").read_text()
    points = dict(_POINT.findall(report))
    return {
        "timing__clock_period_ns": period,
        "timing__setup__ws": ws,
        "timing__setup__tns": values["tns"],
        "timing__critical_path_ns": round(critical, 4),
        "timing__fmax_mhz": round(1000.0 / critical, 2) if critical > 0 else None,
        "timing__critical_path__startpoint": points.get("Startpoint", ""),
        "timing__critical_path__endpoint": points.get("Endpoint", ""),
        "timing__corner": pdk.corner_name,
    }
