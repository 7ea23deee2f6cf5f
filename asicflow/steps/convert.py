"""convert: QKeras model -> IR, quantized stimuli, and QKeras's own reference outputs.

Everything that needs TensorFlow happens here, once, in a child process (through the one
subprocess helper), so TensorFlow's logging lands in the step log and later steps load in
milliseconds. ``python -m asicflow.steps.convert FLOW.yaml OUT_DIR`` is that child.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asicflow import datasets
from asicflow.config import FlowConfig, load_flow
from asicflow.errors import AsicflowError, ConfigError, ToolFailed
from asicflow.fixed import quantize, raw_of_exact
from asicflow.precision import Override, infer
from asicflow.steps.base import Step, StepContext


def overrides(flow: FlowConfig) -> dict[str, Override]:
    return {k: Override(v.accum, v.result) for k, v in flow.precision.items()}


class ConvertStep(Step):
    name: ClassVar[str] = "convert"
    reads: ClassVar[tuple[str, ...]] = (
        "model",
        "data",
        "input_type",
        "softmax",
        "precision",
        "options.i2c_weights",
    )
    outputs: ClassVar[tuple[str, ...]] = ("graph.json", "weights.npz", "reference.npz", "graph.txt")
    doc: ClassVar[str] = "QKeras model -> IR, stimuli and QKeras reference outputs"

    def deps(self, flow: FlowConfig) -> list[Path]:
        files = [flow.model]
        if flow.data.npz is not None:
            files.append(flow.data.npz)
        return files

    def run(self, ctx: StepContext) -> dict[str, Any]:
        result = ctx.dir / RESULT
        ctx.run(
            [sys.executable, "-m", "asicflow.steps.convert", str(ctx.flow.source), str(ctx.dir)],
            check=False,
            tool="convert (TensorFlow + QKeras)",
        )
        if not result.exists():
            raise ToolFailed("convert (TensorFlow + QKeras)", "the child process died", ctx.log)
        data = json.loads(result.read_text())
        if "error" in data:
            raise AsicflowError(data["error"])
        ctx.versions.update(data["versions"])
        return dict(data["metrics"])


RESULT = "convert_result.json"


def convert_flow(flow: FlowConfig, out: Path) -> dict[str, Any]:
    """Load the model and data, write the IR and reference files into ``out``."""
    from asicflow.convert import qkeras_model as qk

    data = datasets.load(flow.data.source, flow.data.npz, flow.data.seed)
    if flow.data.count > len(data.x):
        raise ConfigError(
            str(flow.source),
            [
                f"'data.count' is {flow.data.count} but {data.description} has only "
                f"{len(data.x)} samples"
            ],
        )
    model = qk.load_model(flow.model)
    # Weights loaded after fabrication (I2C) may be any values of their types: size for those.
    reprogrammable = flow.options.i2c_weights
    conv = qk.convert(model, flow.name, flow.input_type, overrides(flow), reprogrammable)
    graph = conv.graph
    for w in infer(graph, overrides(flow), reprogrammable):
        graph.notes.append("warning: " + w)
        print("warning: " + w)
    if data.x.shape[1] != graph.input.size:
        raise ConfigError(
            str(flow.source),
            [
                f"the data has {data.x.shape[1]} features but the model expects "
                f"{graph.input.size}"
            ],
        )

    # Hardware inputs: the model's own input quantizer (QKeras rounding), else input_type.
    in_t = graph.input.out_type

    def hw_inputs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if conv.input_quantizer is not None:
            import tensorflow as tf

            xq = np.asarray(conv.input_quantizer(tf.constant(x)).numpy(), np.float64)
            return raw_of_exact(xq, in_t.frac), x
        raw = quantize(x, in_t)
        return raw, (raw * 2.0**-in_t.frac).astype(np.float32)

    stim = data.x[: flow.data.count]
    x_raw, x_model = hw_inputs(stim)
    refs = qk.reference_outputs(model, conv, x_model)
    test_raw, test_model = hw_inputs(data.x[data.test])
    metrics: dict[str, Any] = {
        "data__description": data.description,
        "data__stimuli": len(stim),
        "data__test_samples": int(data.test.sum()),
        "model__layers": len(graph.layers),
        "model__weights": int(
            sum(a.size for lay in graph.layers for k, a in lay.arrays().items() if k == "weights")
        ),
        "model__notes": graph.notes,
    }
    arrays: dict[str, np.ndarray] = {"x": x_raw, "test_x": test_raw}
    if data.y is not None:
        y_test = data.y[data.test]
        arrays["test_y"] = y_test
        q_pred = model.predict(qk.model_inputs(model, test_model), batch_size=1024, verbose=0)
        metrics["model__qkeras_accuracy"] = float(np.mean(np.argmax(q_pred, 1) == y_test))
        f_pred = qk.float_forward(model, data.x[data.test])
        if f_pred is not None:
            metrics["model__float_accuracy"] = float(np.mean(np.argmax(f_pred, 1) == y_test))
    for k, v in refs.items():
        arrays[f"qkeras.{k}"] = v
    graph.save(out)
    with (out / "reference.npz").open("wb") as fh:
        np.savez(fh, **arrays)
    (out / "graph.txt").write_text(graph.summary() + "\n\n" + "\n".join(graph.notes) + "\n")
    print(graph.summary())
    return metrics


def main(argv: list[str]) -> int:
    """Child-process entry: write RESULT with metrics and versions, or the error message."""
    flow_file, out = Path(argv[0]), Path(argv[1])
    try:
        data: dict[str, Any] = {"metrics": convert_flow(load_flow(flow_file), out)}
        import qkeras
        import tensorflow as tf

        data["versions"] = {"tensorflow": tf.__version__, "qkeras": qkeras.__version__}
    except AsicflowError as exc:
        data = {"error": str(exc)}
        print(f"ERROR: {exc}", file=sys.stderr)
    (out / RESULT).write_text(json.dumps(data, indent=1, default=str) + "\n")
    return 1 if "error" in data else 0


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
