"""Synthesis-level power and energy per inference with OpenSTA (Debian command ``sta``).

Pre-layout: the synthesized netlist, the Liberty file of the flow's corner, the same
constraints as sta (clock on ``clk`` at the flow's period), no wires. ``energy per inference =
total power x clock period x initiation interval`` (cycles between inferences: ``ii`` of
``rtl/rtl.json``, else 1), reported in nJ.

Switching activity (toggles per clock cycle), named in ``power__activity_source``:

- ``vcd`` / ``saif``: ``rtl_cosim/activity.vcd`` (or ``.saif``) exists: the mean toggle rate,
  measured over the co-simulation of the real stimuli, of every input bit and of every RTL
  signal the netlist still names (the registers, the outputs), is applied to every net.
- ``cosim`` (the default flow): no dump, but ``rtl_cosim/activity.json``: the mean toggle
  rate the rtl_cosim testbench sampled every cycle while the first stimuli streamed through
  back to back, over every port bit and the bits of up to 400 of the design's registers.
- ``default``: neither: every net toggles in :data:`DEFAULT_ACTIVITY` of the cycles. An
  assumption, not a measurement.

Why one activity for every net: the available OpenSTA (the 2019 Debian snapshot) has no
``read_vcd``/``read_saif``; once a global activity is set it ignores per-port and per-pin
activities; and without one it propagates input activities by transition density, which in
deep adder trees counts every possible glitch: on digits_mlp, inputs toggling in 10% of the
cycles propagate to 14.5 W where every net toggling in 10% of the cycles gives 27 mW. The
clock net is always the real clock (two transitions per period).

The 2019 OpenSTA also reports zero internal power when a Liberty file names its
``default_operating_conditions`` before defining them (sky130's do); the step reads a copy
with the attribute moved after the definition (:func:`power_liberty`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from asicflow.activity import Activity, read_activity
from asicflow.config import FlowConfig, build_root
from asicflow.errors import AsicflowError, ToolFailed
from asicflow.liberty import liberty_cache, plain_liberty
from asicflow.opensta import check_log, readable_path
from asicflow.pdk import pdk_deps, resolve_pdk
from asicflow.runner import tail, which
from asicflow.steps.base import Step, StepContext
from asicflow.steps.sta import CLOCK_PORT, STA_HINT, sdc

DEFAULT_ACTIVITY = 0.1
ACTIVITY_FILES = ("activity.saif", "activity.vcd")  # in rtl_cosim/, first found wins
COSIM_ACTIVITY = "activity.json"  # else: what the rtl_cosim testbench sampled
DONE = "asicflow: power script done"

_DEFAULT_OC = re.compile(
    r'^[ \t]*default_operating_conditions\s*:\s*"?([^";\s]+)"?\s*;[ \t]*\n', re.MULTILINE
)
_PORT_DECL = re.compile(
    r"^\s*(input|output)\s+(?:wire\s+)?(?:\[(\d+):(\d+)\]\s+)?" r"([A-Za-z_][A-Za-z0-9_$]*)\s*;",
    re.MULTILINE,
)
_NET_DECL = re.compile(
    r"^\s*(?:input|output|wire)\s+(?:\[\d+:\d+\]\s+)?\\?([^\s;\[]+)", re.MULTILINE
)
_YOSYS_INTERNAL = re.compile(r"^_\d+_$|\$")
_TOTAL = re.compile(r"^Total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)


def power_liberty(lib: Path, cache: Path) -> Path:
    """``lib`` itself, or a copy in ``cache`` whose ``default_operating_conditions`` comes
    after the ``operating_conditions`` group it names (the 2019 OpenSTA ignores a forward
    reference and then computes no internal power)."""
    text = lib.read_text(errors="replace")
    m = _DEFAULT_OC.search(text)
    if m is None:
        return lib
    group = re.search(rf'operating_conditions\s*\(\s*"?{re.escape(m.group(1))}"?\s*\)\s*\{{', text)
    if group is None or group.start() < m.start():
        return lib
    depth, i = 0, group.end() - 1
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            break
    end = text.index("\n", i) + 1
    st = lib.stat()
    dst = cache / "power" / f"{lib.stem}.{st.st_size}.{st.st_mtime_ns}.lib"
    if not dst.is_file():
        # The attribute line moves to just after the group's closing line.
        fixed = text[: m.start()] + text[m.end() : end] + m.group(0) + text[end:]
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
        tmp.write_text(fixed)
        os.replace(tmp, dst)
    return dst


def ports(netlist_text: str) -> tuple[dict[str, int], list[str]]:
    """Input ports {name: width, 0 for scalars} and output port names of a gate netlist."""
    inputs: dict[str, int] = {}
    outputs: list[str] = []
    for direction, msb, lsb, name in _PORT_DECL.findall(netlist_text):
        width = abs(int(msb) - int(lsb)) + 1 if msb else 0
        if direction == "input":
            inputs[name] = width
        else:
            outputs.append(name)
    return inputs, outputs


def activity_file(flow_dir: Path) -> Path | None:
    for name in ACTIVITY_FILES:
        p = flow_dir / "rtl_cosim" / name
        if p.is_file():
            return p
    return None


def cosim_activity(flow_dir: Path) -> dict[str, Any] | None:
    """The switching activity rtl_cosim measured (``rtl_cosim/activity.json``), if any."""
    path = flow_dir / "rtl_cosim" / COSIM_ACTIVITY
    try:
        data = json.loads(path.read_text())
        mean = float(data["mean"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (0.0 < mean <= 2.0) or int(data.get("cycles", 0)) < 1:
        return None
    return data


def named_nets(netlist_text: str) -> set[str]:
    """Base names of the netlist's ports and wires that carry an RTL name (not Yosys's
    ``_123_`` nor ``$``-names): the signals a simulation dump can measure."""
    return {n for n in _NET_DECL.findall(netlist_text) if not _YOSYS_INTERNAL.search(n)}


def activity_tcl(
    activity: float, act: Activity | None, inputs: list[str], sampled: str = ""
) -> str:
    lines = [
        "# Written by asicflow's power step: one switching activity (toggles per clock "
        "cycle) for every net but the clock (see asicflow/steps/power.py)."
    ]
    if sampled:
        lines.append(f"# Measured ({sampled}): {activity:.6g}.")
    elif act is None:
        lines.append(f"# Assumed (no rtl_cosim measurement): {activity:g}.")
    else:
        lines += [
            f"# Measured in {act.source.name} (scope {act.scope}, {act.cycles:g} clock "
            f"cycles): mean over {act.count()} bits = {activity:.6g}",
            f"#   input bits: {act.count(inputs)}, mean {act.mean(inputs):.6g}",
            f"#   register/output bits: {act.count() - act.count(inputs)}, mean "
            f"{act.mean(set(s.signal for s in act.bits) - set(inputs)):.6g}",
        ]
    lines.append(f"set_power_activity -global -activity {activity:.6g} -duty 0.5")
    return "\n".join(lines) + "\n"


def tcl_script(liberty: Path, netlist: str, top: str) -> str:
    return "\n".join(
        [
            "# Written by asicflow's power step; replay: sta -no_init -exit power.tcl",
            f"read_liberty {liberty}",
            f"read_verilog {netlist}",
            f"link_design {top}",
            "read_sdc constraints.sdc",
            "source activity.tcl",
            "report_power -digits 6 > power.rpt",
            "report_power -digits 6",
            f'puts "{DONE}"',
            "",
        ]
    )


def parse_power(text: str) -> dict[str, float]:
    """internal / switching / leakage / total power [W] from the log of this run."""
    check_log(text, DONE)
    m = _TOTAL.search(text)
    if m is None:
        raise AsicflowError("no 'Total' line in the power report")
    try:
        values = [float(v) for v in m.groups()]
    except ValueError:
        raise AsicflowError(f"unreadable power figures: {m.group(0)!r}") from None
    return dict(zip(("internal", "switching", "leakage", "total"), values, strict=True))


def read_ii(rtl_json: Path) -> int:
    try:
        info = json.loads(rtl_json.read_text())
    except (OSError, ValueError):
        return 1
    ii = info.get("ii", 1) if isinstance(info, dict) else 1
    return ii if isinstance(ii, int) and ii >= 1 else 1


class PowerStep(Step):
    name = "power"
    reads = ("pdk", "pdk_root", "corner", "clock_period_ns")
    needs = ("synth/netlist.v", "synth/synth.json", "rtl/rtl.json")
    outputs = ("constraints.sdc", "activity.tcl", "power.tcl", "power.rpt")
    doc = "OpenSTA power of the netlist and energy per inference (nJ), activity named"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        """Also the activity rtl_cosim measured (so doit runs power after it)."""
        return (*self.needs, f"rtl_cosim/{COSIM_ACTIVITY}")

    def deps(self, flow: FlowConfig) -> list[Path]:
        act = activity_file(build_root() / flow.name)
        return pdk_deps(flow) + ([act] if act else [])

    def run(self, ctx: StepContext) -> dict[str, Any]:
        pdk = resolve_pdk(ctx.flow)
        sta = which("sta", STA_HINT)
        try:
            top = json.loads(ctx.input("synth", "synth.json").read_text())["top"]
            text = ctx.input("synth", "netlist.v").read_text()
        except (OSError, ValueError, KeyError) as exc:
            raise AsicflowError(
                f"power needs the synth step's netlist.v and synth.json: " f"{exc}"
            ) from exc
        period = float(ctx.flow.clock_period_ns)
        ii = read_ii(ctx.input("rtl", "rtl.json"))
        cache = liberty_cache(ctx.flow_dir)
        lib = power_liberty(plain_liberty(pdk.liberty, cache), cache)
        inputs, _ = ports(text)
        has_clk = CLOCK_PORT in inputs
        (ctx.dir / "constraints.sdc").write_text(sdc(period, has_clk, pdk.config.cells.buffer))

        dump = activity_file(ctx.flow_dir)
        act: Activity | None = None
        input_names = [n for n in inputs if n != CLOCK_PORT]
        activity = DEFAULT_ACTIVITY
        sampled = cosim_activity(ctx.flow_dir) if dump is None else None
        if sampled is not None:
            activity = sampled["mean"]
        if dump is not None:
            if not has_clk:
                raise AsicflowError(
                    f"{dump}: activity per clock cycle needs a '{CLOCK_PORT}' " "port in the design"
                )
            act = read_activity(dump, input_names, CLOCK_PORT, named_nets(text) - {CLOCK_PORT})
            activity = act.mean()
            ctx.note(
                f"activity from {dump}: scope {act.scope}, {act.cycles:g} cycles, "
                f"{act.count()} bits, mean {activity:.4f}"
            )
        how = "" if sampled is None else f"rtl_cosim/{COSIM_ACTIVITY}, {sampled['bits']} bits"
        (ctx.dir / "activity.tcl").write_text(activity_tcl(activity, act, input_names, how))
        lib_name = readable_path(lib, ctx.dir, "liberty.lib")  # OpenSTA: no spaces, ASCII
        (ctx.dir / "power.tcl").write_text(tcl_script(Path(lib_name), "../synth/netlist.v", top))
        start = ctx.log.stat().st_size if ctx.log.exists() else 0
        ctx.run([sta, "-no_init", "-exit", "power.tcl"], tool="sta")
        with ctx.log.open(errors="replace") as fh:
            fh.seek(start)
            out = fh.read()
        try:
            p = parse_power(out)
        except AsicflowError as exc:
            raise ToolFailed("sta", str(exc), ctx.log, tail(ctx.log)) from None
        m = re.search(r"OpenSTA (\S+)", out)
        ctx.versions["opensta"] = m.group(1) if m else "unknown"
        if sampled is not None:
            source = "cosim"
            detail = (
                f"measured: mean toggle rate of {sampled['bits']} bits (the ports and "
                f"{sampled['registers_sampled']} of {sampled['registers_total']} registers) over "
                f"{sampled['cycles']} cycles of the rtl_cosim stream "
                f"({sampled['vectors']} stimuli back to back), applied to every net"
            )
        elif act is None or dump is None:
            source = "default"
            detail = (
                f"assumed: every net toggles in {DEFAULT_ACTIVITY:g} of the clock cycles; "
                "no rtl_cosim dump"
            )
        else:
            source = dump.suffix.lstrip(".")
            detail = (
                f"measured: mean toggle rate of {act.count(input_names)} input and "
                f"{act.count() - act.count(input_names)} register/output bits over "
                f"{act.cycles:g} cycles of rtl_cosim/{dump.name}, applied to every net"
            )
        energy_nj = p["total"] * period * ii  # W x ns = nJ
        return {
            "power__total_w": p["total"],
            "power__internal_w": p["internal"],
            "power__switching_w": p["switching"],
            "power__leakage_w": p["leakage"],
            "power__energy_per_inference_nj": energy_nj,
            "power__activity_source": source,
            "power__activity_detail": detail,
            "power__activity": round(activity, 6),
            "power__clock_period_ns": period,
            "power__ii_cycles": ii,
            "power__corner": pdk.corner_name,
        }
