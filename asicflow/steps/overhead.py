"""Step ``overhead``: what the design options cost, stage by stage.

For a flow with ``options.i2c_weights`` and/or ``options.tmr``, every design stage before the
final one (``rtl``: constant weights; ``i2c``: weights in the I2C register file) is
synthesized and timed exactly as ``synth`` and ``sta`` do the final one, and
``overhead.md`` tabulates area, cells, flip-flops and slack of each stage with the increase
over the plain design. A flow without options only records that there is nothing to compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from asicflow.config import FlowConfig
from asicflow.pdk import pdk_deps, resolve_pdk
from asicflow.steps.base import Step, StepContext
from asicflow.steps.sta import time_netlist
from asicflow.steps.synth import read_top, synthesize

LABELS = {"rtl": "plain (constant weights)", "i2c": "+ I2C weight registers", "tmr": "+ TMR"}


class OverheadStep(Step):
    name: ClassVar[str] = "overhead"
    reads: ClassVar[tuple[str, ...]] = (
        "pdk",
        "pdk_root",
        "corner",
        "synth.abc",
        "clock_period_ns",
        "options",
    )
    needs: ClassVar[tuple[str, ...]] = ("synth/metrics.json", "sta/metrics.json")
    outputs: ClassVar[tuple[str, ...]] = ("overhead.md",)
    doc: ClassVar[str] = "area and timing cost of the I2C wrapper and TMR against the plain design"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        return (*self.needs, *(f"{s}/top.v" for s in flow.design_steps[:-1]))

    def deps(self, flow: FlowConfig) -> list[Path]:
        return pdk_deps(flow)

    def run(self, ctx: StepContext) -> dict[str, Any]:
        flow = ctx.flow
        stages = flow.design_steps
        if len(stages) == 1:
            (ctx.dir / "overhead.md").write_text("No design options: nothing to compare.\n")
            return {"overhead__stages": 1}
        pdk = resolve_pdk(flow)
        rows: dict[str, dict[str, Any]] = {}
        for stage in stages[:-1]:
            folder = ctx.dir / stage
            folder.mkdir()
            top = read_top(ctx.input(stage, "rtl.json"))
            synth = synthesize(ctx, pdk, ctx.input(stage, "top.v"), top, folder)
            rows[stage] = {**synth, **time_netlist(ctx, pdk, folder / "netlist.v", top, folder)}
        final = {
            **json.loads(ctx.input("synth", "metrics.json").read_text()),
            **json.loads(ctx.input("sta", "metrics.json").read_text()),
        }
        rows[stages[-1]] = final
        base = rows["rtl"]
        lines = [
            f"Each design stage synthesized to {pdk.config.name} ({pdk.corner_name}) and timed at "
            f"{flow.clock_period_ns} ns, as synth and sta do the final design.",
            "",
            "| stage | area um^2 | vs plain | cells | flip-flops | slack ns |",
            "|---|---|---|---|---|---|",
        ]
        metrics: dict[str, Any] = {"overhead__stages": len(stages)}
        for stage, r in rows.items():
            area = float(r["design__instance__area"])
            ratio = area / float(base["design__instance__area"])
            lines.append(
                f"| {LABELS.get(stage, stage)} | {area:,.0f} | {ratio:.2f}x | "
                f"{r['design__instance__count']:,} | {r['design__instance__count__flops']:,} | "
                f"{r['timing__setup__ws']:.3f} |"
            )
            metrics[f"overhead__{stage}__area"] = round(area, 1)
            metrics[f"overhead__{stage}__area_ratio"] = round(ratio, 3)
            metrics[f"overhead__{stage}__flops"] = r["design__instance__count__flops"]
            metrics[f"overhead__{stage}__slack_ns"] = r["timing__setup__ws"]
        (ctx.dir / "overhead.md").write_text("\n".join(lines) + "\n")
        return metrics
