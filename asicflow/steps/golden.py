"""golden: the bit-accurate numpy model on the stimuli, checked against QKeras layer by layer,
and the stimulus files the C++ and RTL testbenches read."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from asicflow import profiling
from asicflow.errors import CheckFailed
from asicflow.fixed import to_float
from asicflow.golden import run
from asicflow.ir import Graph
from asicflow.steps.base import Step, StepContext
from asicflow.stimuli import write_stimuli


def compare_with_qkeras(
    graph: Graph, trace: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> tuple[int, str | None]:
    """(output mismatches, first divergence by layer) between golden and QKeras."""
    first: str | None = None
    out_mismatch = 0
    for lay in graph.layers:
        key = f"qkeras.{lay.name}"
        if key not in ref:
            continue
        want = ref[key].astype(np.float64)
        got = to_float(trace[lay.name], lay.out_type)
        bad = got != want
        if lay is graph.output:
            out_mismatch = int(bad.sum())
        if bad.any() and first is None:
            s, i = (int(v) for v in np.argwhere(bad)[0])
            first = (
                f"layer '{lay.name}' (Keras '{lay.source}'), stimulus {s}, index {i}: "
                f"QKeras {want[s, i]!r}, golden {got[s, i]!r} ({int(bad.sum())} values "
                "differ in this layer)"
            )
    return out_mismatch, first


class GoldenStep(Step):
    name: ClassVar[str] = "golden"
    needs: ClassVar[tuple[str, ...]] = (
        "convert/graph.json",
        "convert/weights.npz",
        "convert/reference.npz",
    )
    outputs: ClassVar[tuple[str, ...]] = (
        "stimuli.npz",
        "inputs.txt",
        "outputs.txt",
        "profile.md",
        "profile.png",
    )
    doc: ClassVar[str] = "golden model vs QKeras; stimulus files for the testbenches"

    def run(self, ctx: StepContext) -> dict[str, Any]:
        src = ctx.flow_dir / "convert"
        graph = Graph.load(src)
        with np.load(src / "reference.npz") as npz:
            ref = {k: npz[k] for k in npz.files}
        trace = write_stimuli(graph, ref["x"], ctx.dir)
        mismatches, first = compare_with_qkeras(graph, trace, ref)
        rows = profiling.write(graph, trace, ctx.dir, ref)
        metrics: dict[str, Any] = {
            "golden__vectors": len(ref["x"]),
            "golden__qkeras_mismatches": mismatches,
            "golden__layers_compared": sum(f"qkeras.{lay.name}" in ref for lay in graph.layers),
            "golden__profile_min_headroom_bits": min(r.headroom_bits for r in rows),
        }
        if "test_y" in ref:
            pred = run(graph, ref["test_x"])[graph.output.name]
            metrics["golden__accuracy"] = float(np.mean(np.argmax(pred, 1) == ref["test_y"]))
        if first is not None:
            raise CheckFailed(
                f"golden model and QKeras differ: {mismatches} output mismatches "
                f"over {len(ref['x'])} stimuli; first divergence at {first}"
            )
        return metrics
