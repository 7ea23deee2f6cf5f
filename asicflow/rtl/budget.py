"""The pipeliner's settings for a flow (``rtl.pipeline``), shared by the steps that generate
native RTL (rtl, and i2c for the weights-as-ports network): the :class:`Pipe`, the config
keys and files its result depends on, and its description for ``rtl.json``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError
from asicflow.pdk import corner_delay_model, flow_corner
from asicflow.rtl.adders import DelayModel, Pipe

# rtl.pipeline other than 'layer' reads the corner's delay model; 'auto' places the
# registers for the clock (and gives the latency in ns)
PIPELINE_READS = ("rtl.pipeline", "pdk", "corner")


def pipeline(flow: FlowConfig) -> Pipe | None:
    """The pipeliner's settings for ``rtl.pipeline``: None for 'layer' (one stage per
    layer), a stage budget from the clock and the corner's delay model for 'auto', N stages
    per constant-weight layer for a number. A TMR design's stages also hold its voters."""
    mode = flow.rtl.pipeline
    if mode == "layer":
        return None
    model = DelayModel(**dataclasses.asdict(corner_delay_model(flow)))
    if isinstance(mode, int):
        return Pipe(model=model, per_layer=mode)
    budget = model.budget(flow.clock_period_ns, voters=flow.options.tmr)
    return Pipe(budget_ns=budget, model=model)


def pipeline_reads(flow: FlowConfig) -> tuple[str, ...]:
    """The configuration keys the pipelined result depends on."""
    mode = flow.rtl.pipeline
    if mode == "layer":
        return ("rtl.pipeline",)
    return PIPELINE_READS + (("clock_period_ns", "options.tmr") if mode == "auto" else ())


def pipeline_deps(flow: FlowConfig) -> list[Path]:
    """The PDK configuration holding the corner's delay model (unless 'layer')."""
    if flow.rtl.pipeline == "layer":
        return []
    try:
        return [flow_corner(flow)[0].source]
    except AsicflowError:
        return []


def describe(flow: FlowConfig, pipe: Pipe | None, info: dict[str, Any]) -> None:
    """Record the pipeline in ``info`` (an ``rtl.json``): the mode, for 'auto' the stage
    budget, the delay model, the clock and the latency in ns."""
    mode = flow.rtl.pipeline
    out: dict[str, Any] = {"mode": str(mode)}
    if pipe is not None and mode == "auto":
        out["stage_budget_ns"] = round(pipe.budget_ns, 3)
        out["delay_model"] = dataclasses.asdict(pipe.model)
        out["clock_period_ns"] = flow.clock_period_ns
        info["latency_ns"] = round(info["latency_cycles"] * flow.clock_period_ns, 3)
    info["pipeline"] = out
