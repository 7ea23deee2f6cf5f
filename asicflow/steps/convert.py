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
from asicflow.runner import tail
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
        "ptq",
    )
    outputs: ClassVar[tuple[str, ...]] = ("graph.json", "weights.npz", "reference.npz", "graph.txt")
    doc: ClassVar[str] = (
        "QKeras model -> IR, stimuli and QKeras reference outputs (float Keras model with "
        "post-training quantization: the float model's outputs)"
    )

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
            raise ToolFailed(
                "convert (TensorFlow + QKeras)", "the child process died", ctx.log, tail(ctx.log)
            )
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
    ptq = None
    if flow.ptq.enabled:
        from asicflow.convert.ptq import Ptq, calibrate

        if flow.input_type is None:
            raise ConfigError(
                str(flow.source), ["'ptq.enabled' needs 'input_type' (the hardware input type)"]
            )
        # Calibrate activation ranges on the training part of the data (hardware inputs).
        cal = data.x[~data.test] if np.any(~data.test) else data.x
        cal_q = quantize(cal, flow.input_type) * 2.0**-flow.input_type.frac
        ptq = Ptq(flow.ptq, calibrate(model, qk.model_inputs(model, cal_q.astype(np.float32))))
    conv = qk.convert(model, flow.name, flow.input_type, overrides(flow), reprogrammable, ptq)
    graph = conv.graph
    post_trained = ptq is not None and bool(ptq.quantized)
    if ptq is not None and not post_trained:
        graph.notes.append(
            "ptq.enabled, but every layer has QKeras quantizers: nothing was post-training "
            "quantized; QKeras is the reference"
        )
    if post_trained:
        assert ptq is not None
        graph.notes.append(
            f"post-training quantized by asicflow: {', '.join(ptq.quantized)}; the golden "
            "model is the reference (compared with the float Keras model, not bit for bit)"
        )
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
    # QKeras's per-layer outputs are the bit-exact reference only where QKeras quantizes.
    refs = {} if post_trained else qk.reference_outputs(model, conv, x_model)
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
        "model__post_training_quantized": post_trained,
    }
    arrays: dict[str, np.ndarray] = {"x": x_raw, "test_x": test_raw}
    if post_trained:
        # The float model on the unquantized stimuli: what the quantized hardware is judged by.
        arrays["float.y"] = float_output(model, stim)
    if data.y is not None:
        y_test = data.y[data.test]
        arrays["test_y"] = y_test
        f_pred: np.ndarray | None
        if post_trained:
            f_pred = float_output(model, data.x[data.test])
        else:
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


def float_output(model: Any, x: np.ndarray) -> np.ndarray:
    """A float Keras model's output on flat inputs ``x``: logits where a trailing softmax
    (layer or activation) is dropped from hardware."""
    from asicflow.convert import qkeras_model as qk
    from asicflow.convert.ptq import logits

    xm = qk.model_inputs(model, x)
    last = model.layers[-1]
    if getattr(last, "activation", None) is not None and (
        getattr(last.activation, "__name__", "") == "softmax"
    ):
        if type(last).__name__ == "Activation":
            import tensorflow as tf

            pre = tf.keras.Model(model.input, last.input).predict(xm, batch_size=1024, verbose=0)
            return np.asarray(pre, np.float64).reshape(len(x), -1)
        return logits(model, last, xm)
    return np.asarray(model.predict(xm, batch_size=1024, verbose=0), np.float64).reshape(len(x), -1)


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
