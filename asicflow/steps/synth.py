"""Logic synthesis of the RTL to the PDK's standard cells with Yosys (pyosys, in a child).

The result does not depend on the clock period (ABC's area-recovering mapper, no ``-D``), so
changing the clock reruns only ``sta``. The netlist is written without the ``signed`` keyword, which
means nothing in a gate netlist and which OpenSTA's Verilog reader rejects. Nets read by more
than the PDK's ``cells.max_fanout`` data inputs then get buffer trees (:mod:`asicflow.fanout`,
what layout's repair would add), and ``stat.ys`` counts the buffered netlist.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ToolFailed
from asicflow.fanout import buffer_fanout, liberty_pins
from asicflow.liberty import liberty_cache, plain_liberty, sequential_cells
from asicflow.pdk import Pdk, PdkCells, pdk_deps, resolve_pdk
from asicflow.pyosys_run import quote
from asicflow.steps.base import Step, StepContext, write_json

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_SIGNED_DECL = re.compile(r"^(\s*(?:input|output|inout|wire|reg))\s+signed\b", re.MULTILINE)


def read_top(rtl_json: Path) -> str:
    """The top module name recorded by the rtl step."""
    try:
        info = json.loads(rtl_json.read_text())
    except (OSError, ValueError) as exc:
        raise AsicflowError(f"cannot read {rtl_json} (written by the rtl step): {exc}") from exc
    top = info.get("top") if isinstance(info, dict) else None
    if not isinstance(top, str) or not _IDENT.fullmatch(top):
        raise AsicflowError(f"{rtl_json}: 'top' must be a Verilog module name, got {top!r}")
    return top


# Yosys's default ABC script for liberty mapping, minus SAT sweeping (&fraig -x, scorr) and
# retiming (dretime, nothing to retime: flip-flops are not passed to ABC), and with the
# structural choices of &dch mapped by ABC's classic mapper in area mode (map -a) instead of
# &nf. On digits_mlp (64-16-10) the default script takes over ten minutes, this one about a
# minute. map -a against &nf, measured on sky130hd tt (critical path, area, synthesis time):
# float_mlp 9.08 ns / 651,193 um^2 / 80 s against 11.34 ns / 650,371 / 63 s; the QoR digits
# net 8.71 ns / 726,285 against 10.36 ns / 715,913: &nf maps the full-adder chains of Yosys's
# merged sums (maccmap) as ripple chains of maj3 cells, 0.43 ns a bit, map -a does not.
FAST_ABC = "+strash;dc2;&get,-n;&dch,-f;&put;map,-a;topo"


def synth_script(top: str, rtl: str, liberty: Path, cells: PdkCells, abc: str = "fast") -> str:
    """The Yosys script: generic synthesis, cell mapping, tie cells, buffers, reports, netlist.

    ABC maps for area without a delay target, so the netlist does not depend on the clock.
    Undefined bits become 0 before the tie cells are placed (``setundef`` before ``hilomap``).
    """
    lib = quote(liberty)  # the build folder's path may hold spaces
    dont_use = "".join(f" -dont_use {c}" for c in cells.dont_use)
    hi, lo, buf = cells.tie_hi, cells.tie_lo, cells.buffer
    return "\n".join(
        [
            "# Written by asicflow's synth step; replay: python -m asicflow.pyosys_run synth.ys",
            f"read_verilog {rtl}",
            f"hierarchy -check -top {top}",
            # -noabc: the liberty mapping below is the one ABC run (synth's own generic-gate
            # ABC, with SAT sweeping, took over 15 minutes on digits_mlp_hardened).
            f"synth -top {top} -flatten -noabc",
            f"dfflibmap -liberty {lib}{dont_use}",
            f"abc{' -script ' + FAST_ABC if abc == 'fast' else ''} -liberty {lib}{dont_use}",
            "setundef -zero",
            f"hilomap -singleton -hicell {hi.cell} {hi.pin} -locell {lo.cell} {lo.pin}",
            # No 'assign' left for layout tools: split buses, buffer wire-to-wire connections.
            "splitnets",
            "opt_clean -purge",
            f"insbuf -buf {buf.cell} {buf.input} {buf.output}",
            f"tee -q -o stat.txt stat -liberty {lib}",
            f"tee -q -o stat.json stat -json -liberty {lib}",
            "write_verilog -noattr -noexpr netlist.v",
            "",
        ]
    )


def buffer_netlist(folder: Path, liberty: Path, cells: PdkCells) -> int:
    """Buffer trees on ``folder/netlist.v``'s high fan-out nets (:mod:`asicflow.fanout`)."""
    buf = cells.buffer
    return buffer_fanout(
        folder / "netlist.v",
        liberty_pins(liberty),
        (buf.cell, buf.input, buf.output),
        cells.max_fanout,
    )


def stat_script(top: str, liberty: Path) -> str:
    """Statistics of the buffered netlist (the same reports as the synth script's)."""
    lib = quote(liberty)
    return "\n".join(
        [
            "# Written by asicflow's synth step: statistics after fan-out buffering",
            f"read_liberty -lib {lib}",
            "read_verilog netlist.v",
            f"hierarchy -check -top {top}",
            f"tee -q -o stat.txt stat -liberty {lib}",
            f"tee -q -o stat.json stat -json -liberty {lib}",
            "",
        ]
    )


def strip_signed(netlist: Path) -> None:
    """Drop ``signed`` from port/wire declarations (OpenSTA 2019 rejects it)."""
    text = netlist.read_text()
    netlist.write_text(_SIGNED_DECL.sub(r"\1", text))


def read_stat(path: Path, top: str) -> tuple[str, dict[str, Any]]:
    """(Yosys version, statistics of ``top``) from ``stat -json`` output."""
    text = path.read_text()
    try:
        data = json.loads(text[text.index("{") :])
        mod = data["modules"]["\\" + top]
        creator = str(data.get("creator", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AsicflowError(f"{path}: no statistics for module {top}") from exc
    return creator, mod


class SynthStep(Step):
    name = "synth"
    reads = ("pdk", "pdk_root", "corner", "synth.abc", "options")
    needs = ("rtl/top.v", "rtl/rtl.json")

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        return (f"{flow.rtl_step}/top.v", f"{flow.rtl_step}/rtl.json")

    outputs = ("synth.ys", "netlist.v", "stat.json", "stat.txt", "synth.json")
    doc = "Yosys synthesis to the PDK's standard cells (area, cell counts)"

    def deps(self, flow: FlowConfig) -> list[Path]:
        """The PDK's files, and the fan-out buffering's source (a change to it rebuilds)."""
        return [*pdk_deps(flow), Path(__file__).resolve().parent.parent / "fanout.py"]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        pdk = resolve_pdk(ctx.flow)
        src = ctx.flow.rtl_step
        top = read_top(ctx.input(src, "rtl.json"))
        rtl = ctx.input(src, "top.v")
        if not rtl.is_file():
            raise AsicflowError(f"synth needs {rtl} (written by the {src} step)")
        ctx.note(
            f"PDK {pdk.config.name}, corner {pdk.corner_name}, root {pdk.root} "
            f"(from {pdk.root_from})"
        )
        return synthesize(ctx, pdk, rtl, top, ctx.dir)


def synthesize(ctx: StepContext, pdk: Pdk, rtl: Path, top: str, folder: Path) -> dict[str, Any]:
    """Yosys synthesis of ``rtl`` (module ``top``) into ``folder``: netlist.v, stat.json,
    synth.json; the area and cell metrics."""
    lib = plain_liberty(pdk.liberty, liberty_cache(ctx.flow_dir))
    # Relative, so the script also runs from the promoted folder (rtl/ is its sibling).
    script = synth_script(
        top, os.path.relpath(rtl, folder), lib, pdk.config.cells, ctx.flow.synth.abc
    )
    (folder / "synth.ys").write_text(script)
    ctx.run([sys.executable, "-m", "asicflow.pyosys_run", "synth.ys"], cwd=folder, tool="yosys")
    strip_signed(folder / "netlist.v")
    buffers = buffer_netlist(folder, lib, pdk.config.cells)
    if buffers:
        ctx.note(f"fan-out: {buffers} buffers added (at most {pdk.config.cells.max_fanout} loads)")
        (folder / "stat.ys").write_text(stat_script(top, lib))
        ctx.run([sys.executable, "-m", "asicflow.pyosys_run", "stat.ys"], cwd=folder, tool="yosys")
    creator, stat = read_stat(folder / "stat.json", top)
    ctx.versions["yosys"] = creator
    by_type: dict[str, int] = stat.get("num_cells_by_type", {})
    unmapped = sorted(t for t in by_type if t.startswith("$"))
    if unmapped:
        raise ToolFailed(
            "yosys",
            f"cells left unmapped to {pdk.config.name}: " f"{', '.join(unmapped)}",
            ctx.log,
        )
    seq = sequential_cells(lib)
    write_json(folder / "synth.json", _record(top, pdk))
    return {
        "design__instance__area": round(float(stat["area"]), 4),
        "design__instance__area__sequential": round(float(stat.get("sequential_area", 0)), 4),
        "design__instance__count": int(stat["num_cells"]),
        "design__instance__count__flops": sum(n for t, n in by_type.items() if t in seq),
        "design__instance__count__cell_types": len(by_type),
        "synth__pdk": pdk.config.name,
        "synth__corner": pdk.corner_name,
    }


def _record(top: str, pdk: Pdk) -> dict[str, Any]:
    """What sta needs to know about this netlist."""
    return {
        "top": top,
        "pdk": pdk.config.name,
        "corner": pdk.corner_name,
        "liberty": str(pdk.liberty),
    }
