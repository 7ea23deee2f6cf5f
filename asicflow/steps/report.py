"""report: one Markdown report and one metrics.json per flow, from every step's metrics."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from asicflow.config import FlowConfig
from asicflow.ir import Conv, Dense, Graph, Layer, Pool, ScaleShift, Steps
from asicflow.steps.base import REUSE_KEYS, Step, StepContext, read_metrics, write_json

# Steps whose metrics the report needs (pnr is reported when present, never required: its
# tools are not installable everywhere).
SOURCES = (
    "convert",
    "golden",
    "csim",
    "ccov_check",
    "ccov",
    "design_check",
    "rtl",
    "rtl_cosim",
    "synth",
    "sta",
    "power",
)
OPTIONAL = ("pnr",)


def option_steps(flow: FlowConfig) -> tuple[str, ...]:
    """The steps a flow's design options add to the report (``options.tmr/i2c_weights``)."""
    o = flow.options
    if not (o.tmr or o.i2c_weights):
        return ()
    return (
        *(("i2c", "i2c_cosim") if o.i2c_weights else ()),
        *(("tmr",) if o.tmr else ()),
        *(("faults",) if o.tmr and not o.i2c_weights else ()),
        "gl_sim",
        "overhead",
    )


def options_section(m: dict[str, Any], overhead_md: str | None, regmap: bool) -> list[str]:
    """Radiation hardening and reprogramming: what was verified and what it costs."""
    g = m.get
    lines = ["## Design options: TMR and I2C weight loading", ""]
    if g("tmr__flip_flops_protected") is not None:
        lines.append(
            f"- TMR: {_fmt(g('tmr__flip_flops_protected'))} flip-flops triplicated "
            f"({_fmt(g('tmr__registers'))} registers, {_fmt(g('tmr__registers_excluded'))} "
            f"excluded); equivalence with the design before TMR proven: "
            f"{_fmt(g('tmr__equiv_proven'))}"
        )
    if g("faults__upsets") is not None:
        lines.append(
            f"- fault injection: {_fmt(g('faults__upsets'))} single-event upsets; output errors "
            f"with TMR {_fmt(g('faults__tmr_output_errors'))} (error flag raised for "
            f"{_fmt(g('faults__tmr_upsets_flagged'))}), without TMR "
            f"{_fmt(g('faults__plain_output_errors'))} of {_fmt(g('faults__outputs_checked'))} "
            "outputs"
        )
    if g("i2c__register_bytes") is not None:
        lines.append(
            f"- I2C register map: {_fmt(g('i2c__register_bytes'))} bytes at address "
            f"{g('i2c__address')} ({_fmt(g('i2c__parameters'))} weights and biases, "
            f"{_fmt(g('i2c__parameter_bits'))} bits packed)"
            + ("; table: `i2c/regmap.md`" if regmap else "")
        )
    for name in ("model", "reload_model"):
        if g(f"i2c_cosim__{name}_mismatches") is not None:
            lines.append(
                f"- I2C load of {name.replace('_', ' ')} at "
                f"{_fmt(g('i2c_cosim__speed_hz'), '.0f')} Hz: "
                f"{_fmt(g(f'i2c_cosim__{name}_bytes_loaded'))} bytes in "
                f"{_fmt(g(f'i2c_cosim__{name}_load_ms'))} ms, read-back errors "
                f"{_fmt(g(f'i2c_cosim__{name}_readback_errors'))}, "
                f"{_fmt(g(f'i2c_cosim__{name}_vectors'))} stimuli, mismatches "
                f"{_fmt(g(f'i2c_cosim__{name}_mismatches'))}"
            )
    if g("gl_sim__vectors") is not None:
        lines.append(
            f"- gate-level simulation with the cell models: {_fmt(g('gl_sim__vectors'))} "
            f"stimuli, {_fmt(g('gl_sim__mismatches'))} mismatches (weights loaded over I2C: "
            f"{_fmt(g('gl_sim__i2c_loaded'))})"
        )
    if overhead_md:
        lines += ["", "### Area and timing overhead", "", overhead_md.strip()]
    return [*lines, ""]


# The golden step's numerical profile (optional: older build trees lack it).
PROFILE_MD = "profile.md"
PROFILE_PNG = "profile.png"


def _latency_ns(g: Callable[..., Any]) -> str:
    """`` = N ns at the clock`` when both are known."""
    cycles, clock = g("cosim__latency_cycles"), g("timing__clock_period_ns")
    if isinstance(cycles, int | float) and isinstance(clock, int | float):
        return f" = {cycles * clock:g} ns at {clock:g} ns"
    return ""


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and spec:
        return format(v, spec)
    return str(v)


def _milli(v: Any) -> float | None:
    return None if v is None else float(v) * 1e3


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _pad(pad: tuple[int, ...]) -> str:
    return "none" if not any(pad) else "t{} b{} l{} r{}".format(*pad)


def _details(lay: Layer) -> str:
    """The layer's own parameters, in a few words."""
    if isinstance(lay, Conv):
        kind = "depthwise " if lay.depthwise else ""
        nz = f", {lay.nonzero_weights}/{lay.weights.size} weights nonzero"
        return (
            f"{kind}{lay.kernel[0]}x{lay.kernel[1]} kernel, stride {lay.stride[0]}x"
            f"{lay.stride[1]}, pad {_pad(lay.pad)}, in {'x'.join(map(str, lay.in_shape))}, "
            f"weights `{lay.weight_type.short()}`, accum `{lay.accum.short()}`, "
            f"reuse {lay.reuse}{nz}"
        )
    if isinstance(lay, Dense):
        return (
            f"{lay.n_in} inputs, weights `{lay.weight_type.short()}`, accum "
            f"`{lay.accum.short()}`, reuse {lay.reuse}, {lay.nonzero_weights}/"
            f"{lay.weights.size} weights nonzero"
        )
    if isinstance(lay, Pool):
        return (
            f"{lay.op} {lay.pool[0]}x{lay.pool[1]}, stride {lay.stride[0]}x{lay.stride[1]}, "
            f"pad {_pad(lay.pad)}"
        )
    if isinstance(lay, ScaleShift):
        return f"scale `{lay.scale_type.short()}`, accum `{lay.accum.short()}`"
    if isinstance(lay, Steps):
        return f"{len(lay.levels)} levels from `{lay.in_type.short()}`"
    relu = getattr(lay, "relu", None)
    return "relu" if relu else ""


def layer_table(graph: Graph) -> list[str]:
    """Markdown table of the layers: kind, output shape, type, inputs, parameters."""
    lines = [
        "| layer | kind | shape | output type | from | details |",
        "|---|---|---|---|---|---|",
    ]
    for k, lay in enumerate(graph.layers):
        src = ", ".join(p.name for p in graph.producers(lay)) if k else ""
        shape = "x".join(str(d) for d in lay.dims)
        lines.append(
            f"| {lay.name} | {lay.kind} | {shape} | `{lay.out_type.short()}` | {src} | "
            f"{_details(lay)} |"
        )
    return lines


def _profile_section(profile_md: str | None, has_png: bool) -> list[str]:
    if profile_md is None and not has_png:
        return []
    lines = ["## Numerical profile", ""]
    if has_png:
        lines += [f"![layer ranges against their fixed-point types]({PROFILE_PNG})", ""]
    if profile_md is not None:
        body = "\n".join(ln for ln in profile_md.splitlines() if not ln.startswith("# "))
        lines += [body.strip(), ""]
    return lines


def render(
    flow_name: str,
    m: dict[str, Any],
    graph_txt: str,
    *,
    layers: list[str] | None = None,
    profile_md: str | None = None,
    profile_png: bool = False,
) -> str:
    g = m.get
    lines = [
        f"# asicflow report: {flow_name}",
        "",
        f"Data: {g('data__description', 'n/a')}; {g('data__stimuli', 'n/a')} stimuli, "
        f"{g('data__test_samples', 'n/a')} test samples for accuracy.",
        "",
    ]
    notes = g("model__notes") or []
    if notes:
        lines += ["Notes:", *[f"- {n}" for n in notes], ""]
    lines += [
        "## Accuracy (test split)",
        "| model | accuracy |",
        "|---|---|",
        f"| float (quantizers switched off) | {_pct(g('model__float_accuracy'))} |",
        f"| QKeras (quantized) | {_pct(g('model__qkeras_accuracy'))} |",
        f"| hardware golden model (bit-exact) | {_pct(g('golden__accuracy'))} |",
        "",
        "## Bit-exact checks",
        "| comparison | vectors | mismatches |",
        "|---|---|---|",
        f"| golden vs QKeras (every layer) | {_fmt(g('golden__vectors'))} | "
        f"{_fmt(g('golden__qkeras_mismatches'))} |",
        f"| csim (C++) vs golden | {_fmt(g('csim__vectors'))} | {_fmt(g('csim__mismatches'))} |",
        f"| rtl_cosim ({g('cosim__simulator', 'n/a')}) vs golden | {_fmt(g('cosim__vectors'))} | "
        f"{_fmt(g('cosim__mismatches'))} |",
        "",
        "## Micro-architecture",
        f"- latency: {_fmt(g('cosim__latency_cycles'))} cycles measured in co-simulation "
        f"(generator: {_fmt(g('rtl__latency_cycles'))}){_latency_ns(g)}; initiation interval: "
        f"{_fmt(g('cosim__ii'))} (generator: {_fmt(g('rtl__ii'))})",
        f"- pipeline: {g('rtl__pipeline', 'n/a')} (rtl.pipeline); "
        f"{_fmt(g('rtl__pipeline_flops'))} flip-flops inside layers",
        "",
        f"## Implementation ({g('synth__pdk', 'sky130hd')}, corner {g('timing__corner', 'n/a')})",
        "| metric | value |",
        "|---|---|",
        f"| cell area | {_fmt(g('design__instance__area'), '.1f')} um^2 |",
        f"| cells | {_fmt(g('design__instance__count'))} |",
        f"| flip-flops | {_fmt(g('design__instance__count__flops'))} |",
        f"| clock period | {_fmt(g('timing__clock_period_ns'))} ns |",
        f"| worst setup slack | {_fmt(g('timing__setup__ws'), '.3f')} ns |",
        f"| total negative slack | {_fmt(g('timing__setup__tns'), '.3f')} ns |",
        f"| achievable clock period | {_fmt(g('timing__critical_path_ns'), '.3f')} ns "
        f"({_fmt(g('timing__fmax_mhz'), '.1f')} MHz) |",
        "",
        "## Power (synthesis level, OpenSTA)",
        f"- {_fmt(_milli(g('power__total_w')), '.2f')} mW at "
        f"{_fmt(g('power__clock_period_ns'))} ns; energy per inference "
        f"{_fmt(g('power__energy_per_inference_nj'), '.3f')} nJ (activity: "
        f"{g('power__activity_source', 'n/a')}, {_fmt(g('power__activity'))})",
        "",
        "## C++ checks",
        f"- coverage under the stimuli: lines {_fmt(g('ccov__line_percent'))} %, branches "
        f"{_fmt(g('ccov__branch_percent'))} %",
        f"- static design checks: {_fmt(g('design_check__violations'))} violations",
        "",
        "## Throughput and run times",
        f"- csim: {_fmt(g('csim__vectors_per_s'), '.0f')} vectors/s; "
        f"rtl_cosim: {_fmt(g('cosim__vectors_per_s'), '.0f')} vectors/s",
    ]
    times = [
        (k.split("__")[1], v)
        for k, v in m.items()
        if k.startswith("flow__") and k.endswith("__runtime_s")
    ]
    lines += ["- step wall times: " + ", ".join(f"{s} {v:.1f} s" for s, v in times), ""]
    if layers is not None:
        lines += ["## Layers", *layers, ""]
        notes_txt = graph_txt.strip().split("\n\n", 1)[1:] if graph_txt else []
        if notes_txt and notes_txt[0].strip():
            lines += ["```", notes_txt[0].strip(), "```", ""]
    else:
        lines += ["## Layers", "```", graph_txt.strip(), "```", ""]
    lines += _profile_section(profile_md, profile_png)
    return "\n".join(lines)


class ReportStep(Step):
    name: ClassVar[str] = "report"
    reads: ClassVar[tuple[str, ...]] = REUSE_KEYS
    needs: ClassVar[tuple[str, ...]] = (
        "convert/graph.json",
        "convert/weights.npz",
        *(f"{s}/metrics.json" for s in SOURCES),
    )
    outputs: ClassVar[tuple[str, ...]] = ("report.md", "flow_metrics.json")

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        return (*self.needs, *(f"{s}/metrics.json" for s in option_steps(flow)))

    doc: ClassVar[str] = "flow report (Markdown) and merged metrics"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        extra = option_steps(ctx.flow)
        for s in (*SOURCES, *extra, *OPTIONAL):
            merged.update(read_metrics(ctx.flow_dir, s))
        txt = ctx.flow_dir / "convert" / "graph.txt"
        graph_txt = txt.read_text() if txt.exists() else ""
        layers = layer_table(ctx.graph())
        prof_md = ctx.input("golden", PROFILE_MD)
        prof_png = ctx.input("golden", PROFILE_PNG)
        if prof_png.exists():
            shutil.copyfile(prof_png, ctx.dir / PROFILE_PNG)
        text = render(
            ctx.flow.name,
            merged,
            graph_txt,
            layers=layers,
            profile_md=prof_md.read_text() if prof_md.exists() else None,
            profile_png=prof_png.exists(),
        )
        if extra:
            overhead = ctx.input("overhead", "overhead.md")
            text += "\n" + "\n".join(
                options_section(
                    merged,
                    overhead.read_text() if overhead.exists() else None,
                    ctx.input("i2c", "regmap.md").exists(),
                )
            )
        (ctx.dir / "report.md").write_text(text)
        write_json(ctx.dir / "flow_metrics.json", merged)
        return {"report__checks_passed": True}

    def publish(self, step_dir: Path, flow_dir: Path) -> None:
        pairs = [("report.md", "report.md"), ("flow_metrics.json", "metrics.json")]
        if (step_dir / PROFILE_PNG).exists():
            pairs.insert(0, (PROFILE_PNG, PROFILE_PNG))  # before the report that links it
        for src, dst in pairs:
            tmp = flow_dir / f".{dst}.tmp"
            shutil.copyfile(step_dir / src, tmp)
            os.replace(tmp, flow_dir / dst)


def load_flow_metrics(flow_dir: Path) -> dict[str, Any]:
    p = flow_dir / "metrics.json"
    return json.loads(p.read_text()) if p.exists() else {}
