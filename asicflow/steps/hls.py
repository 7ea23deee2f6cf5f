"""Step ``hls``: generate the HLS C++ project (ac_fixed, Catapult pragmas) from the IR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.hls import kernel_headers, templates, write_project
from asicflow.steps.base import REUSE_KEYS, Step, StepContext


class HlsStep(Step):
    name = "hls"
    # rtl.weights: the C++ top takes the weights as arguments too ("ports"), so the code an HLS
    # tool turns into RTL has the same interface as the native generator's.
    reads = ("name", "rtl.weights", *REUSE_KEYS)
    needs = ("convert/graph.json", "convert/weights.npz")
    # Plus firmware/<name>.h and firmware/<name>.cpp (the top, named after the flow).
    outputs = ("project.json", "firmware/types.h", "firmware/weights.h", "tb/tb.cpp")
    doc = "generate the HLS C++ project (top function = flow name) and its csim testbench"

    def deps(self, flow: FlowConfig) -> list[Path]:
        return [*kernel_headers(), *templates()]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        graph = ctx.graph()
        project = write_project(graph, ctx.flow.name, ctx.dir, weights=ctx.flow.rtl.weights)
        ctx.note(
            f"wrote {len(project.files)} files, top function {project.top}(), weights "
            f"{project.weights_mode}, II {project.ii}"
        )
        return {
            "hls__files": len(project.files),
            "hls__layers": len(graph.layers) - 1,
            "hls__weights": project.weights,
            "hls__weights__nonzero": project.nonzero_weights,
            "hls__weights__mode": project.weights_mode,
            "hls__ii": project.ii,
        }
