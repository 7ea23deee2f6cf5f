"""golden: the bit-accurate numpy model on the stimuli, checked against QKeras layer by layer,
and the stimulus files the C++ and RTL testbenches read.

A model quantized after training by asicflow (``ptq``) has no bit-exact reference: the golden
model *is* the reference, and it is checked against the float Keras model by how often their
outputs agree (``ptq.min_agreement``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from asicflow import profiling
from asicflow.errors import CheckFailed
from asicflow.fixed import to_float
from asicflow.golden import compare_with_qkeras, run
from asicflow.ir import Graph
from asicflow.steps.base import Step, StepContext
from asicflow.stimuli import write_stimuli


def float_agreement(golden: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """(agreement %, max abs error, rms error) of golden vs float outputs (stimuli x size):
    agreement = same argmax, or for a single output the same sign."""
    if golden.shape[1] > 1:
        same = np.argmax(golden, 1) == np.argmax(ref, 1)
    else:
        same = (golden[:, 0] > 0) == (ref[:, 0] > 0)
    err = golden - ref
    return (
        100.0 * float(np.mean(same)),
        float(np.abs(err).max()),
        float(np.sqrt(np.mean(err**2))),
    )


class GoldenStep(Step):
    name: ClassVar[str] = "golden"
    reads: ClassVar[tuple[str, ...]] = ("ptq.min_agreement",)
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
        rows = profiling.write(graph, trace, ctx.dir, ref)
        metrics: dict[str, Any] = {
            "golden__vectors": len(ref["x"]),
            "golden__profile_min_headroom_bits": min(r.headroom_bits for r in rows),
        }
        if "test_y" in ref:
            pred = run(graph, ref["test_x"])[graph.output.name]
            metrics["golden__accuracy"] = float(np.mean(np.argmax(pred, 1) == ref["test_y"]))
        if "float.y" in ref:
            return self._post_trained(ctx, graph, trace, ref, metrics)
        mismatches, first = compare_with_qkeras(graph, trace, ref)
        metrics["golden__reference"] = "QKeras (bit-exact)"
        metrics["golden__qkeras_mismatches"] = mismatches
        metrics["golden__layers_compared"] = sum(
            f"qkeras.{lay.name}" in ref for lay in graph.layers
        )
        if first is not None:
            raise CheckFailed(
                f"golden model and QKeras differ: {mismatches} output mismatches "
                f"over {len(ref['x'])} stimuli; first divergence at {first}"
            )
        return metrics

    def _post_trained(
        self,
        ctx: StepContext,
        graph: Graph,
        trace: dict[str, np.ndarray],
        ref: dict[str, np.ndarray],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        """No QKeras reference: golden vs the float Keras model, within ptq.min_agreement."""
        out = graph.output
        got = to_float(trace[out.name], out.out_type)
        agree, max_err, rms = float_agreement(got, ref["float.y"].astype(np.float64))
        metrics["golden__reference"] = (
            f"post-training quantized: golden is the reference; float model agreement "
            f"{agree:.2f} %"
        )
        metrics["golden__float_agreement"] = agree
        metrics["golden__float_max_abs_error"] = max_err
        metrics["golden__float_rms_error"] = rms
        ctx.note(str(metrics["golden__reference"]))
        least = ctx.flow.ptq.min_agreement
        if agree < least:
            raise CheckFailed(
                f"post-training quantized {graph.name}: golden and the float Keras model agree "
                f"on {agree:.2f} % of {len(got)} stimuli, below ptq.min_agreement {least} % "
                f"(max abs error {max_err:g}, rms {rms:g}); widen ptq types"
            )
        return metrics
