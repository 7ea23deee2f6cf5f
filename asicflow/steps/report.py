"""report: one Markdown report and one metrics.json per flow, from every step's metrics."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

from asicflow.steps.base import Step, StepContext, read_metrics, write_json

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


def render(flow_name: str, m: dict[str, Any], graph_txt: str) -> str:
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
        f"(generator: {_fmt(g('rtl__latency_cycles'))}); initiation interval: "
        f"{_fmt(g('cosim__ii'))} (generator: {_fmt(g('rtl__ii'))})",
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
    lines += ["## Layers", "```", graph_txt.strip(), "```", ""]
    return "\n".join(lines)


class ReportStep(Step):
    name: ClassVar[str] = "report"
    needs: ClassVar[tuple[str, ...]] = tuple(f"{s}/metrics.json" for s in SOURCES)
    outputs: ClassVar[tuple[str, ...]] = ("report.md", "flow_metrics.json")
    doc: ClassVar[str] = "flow report (Markdown) and merged metrics"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for s in (*SOURCES, *OPTIONAL):
            merged.update(read_metrics(ctx.flow_dir, s))
        graph_txt = (ctx.flow_dir / "convert" / "graph.txt").read_text()
        (ctx.dir / "report.md").write_text(render(ctx.flow.name, merged, graph_txt))
        write_json(ctx.dir / "flow_metrics.json", merged)
        return {"report__checks_passed": True}

    def publish(self, step_dir: Path, flow_dir: Path) -> None:
        for src, dst in (("report.md", "report.md"), ("flow_metrics.json", "metrics.json")):
            tmp = flow_dir / f".{dst}.tmp"
            shutil.copyfile(step_dir / src, tmp)
            os.replace(tmp, flow_dir / dst)


def load_flow_metrics(flow_dir: Path) -> dict[str, Any]:
    p = flow_dir / "metrics.json"
    return json.loads(p.read_text()) if p.exists() else {}
