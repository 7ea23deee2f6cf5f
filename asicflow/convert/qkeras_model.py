"""QKeras model -> IR. Imports TensorFlow: only the ``convert`` step loads this module.

Weights come from QKeras's own quantizers (``kq(w)``), never from a re-derivation of its
rounding; activation quantizers map to ac_fixed types with ``AC_RND_CONV`` (QKeras rounds
half to even, as ``tf.round``) and ``AC_SAT`` (``AC_SAT_SYM`` when symmetric).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import numpy.typing as npt

from asicflow.convert.names import identifier
from asicflow.errors import AsicflowError, UnsupportedModel
from asicflow.fixed import FixedType, raw_of_exact
from asicflow.ir import Activation, Dense, Graph, Input, Layer

SUPPORTED = (
    "InputLayer; QActivation(quantized_bits | quantized_relu); QDense with quantized_bits "
    "kernel and bias quantizers (alpha=1) and activation linear/relu/quantizer; "
    "Activation('relu' | 'linear'); Dropout (identity); a trailing softmax (dropped)"
)


@dataclass
class Conversion:
    graph: Graph
    # IR layer name -> Keras layer whose output equals that IR layer's output.
    taps: dict[str, str] = field(default_factory=dict)
    # The model's own input quantizer (None: the flow's input_type quantizes).
    input_quantizer: Callable[[Any], Any] | None = None


def load_model(path: Path) -> Any:
    from qkeras.utils import load_qmodel

    try:
        return load_qmodel(str(path), compile=False)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise AsicflowError(f"cannot load QKeras model {path}: {exc}") from None


def _describe(q: Any) -> str:
    return str(q) if hasattr(q, "get_config") else repr(q)


def activation_type(q: Any, where: str) -> tuple[bool, FixedType]:
    """(relu, output type) of a QKeras activation quantizer."""
    cls = type(q).__name__
    cfg = q.get_config() if hasattr(q, "get_config") else {}
    if cfg.get("use_stochastic_rounding"):
        raise UnsupportedModel(
            f"{where}: {_describe(q)} uses stochastic rounding, which has "
            "no exact hardware equivalent. Supported: " + SUPPORTED
        )
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise UnsupportedModel(f"{where}: {_describe(q)} has qnoise_factor != 1")
    if cls == "quantized_bits":
        if cfg["alpha"] not in (None, 1, 1.0):
            raise UnsupportedModel(
                f"{where}: {_describe(q)} has alpha={cfg['alpha']!r}; activations need alpha=1"
            )
        bits, integer, keep_neg = int(cfg["bits"]), int(cfg["integer"]), bool(cfg["keep_negative"])
        if bits - keep_neg < 1:
            raise UnsupportedModel(f"{where}: 1-bit {_describe(q)} (binary) is not supported yet")
        ovf = "SAT_SYM" if cfg.get("symmetric") and keep_neg else "SAT"
        return False, FixedType(bits, integer + keep_neg, keep_neg, "RND_CONV", ovf)
    if cls == "quantized_relu":
        if cfg.get("use_sigmoid") or float(cfg.get("negative_slope", 0.0)) != 0.0:
            raise UnsupportedModel(
                f"{where}: {_describe(q)} with use_sigmoid/negative_slope "
                "is not supported yet. Supported: " + SUPPORTED
            )
        if cfg.get("relu_upper_bound") is not None:
            raise UnsupportedModel(
                f"{where}: {_describe(q)} with relu_upper_bound is not supported"
            )
        return True, FixedType(int(cfg["bits"]), int(cfg["integer"]), False, "RND_CONV", "SAT")
    raise UnsupportedModel(
        f"{where}: quantizer {_describe(q)} is not supported. Supported: " + SUPPORTED
    )


def _weight_type(q: Any, where: str, what: str) -> FixedType:
    if q is None:
        raise UnsupportedModel(
            f"{where}: no {what} quantizer (float {what}s are not supported; give the layer a "
            f"quantized_bits {what}_quantizer). Supported: " + SUPPORTED
        )
    cfg = q.get_config()
    if type(q).__name__ != "quantized_bits":
        raise UnsupportedModel(
            f"{where}: {what} quantizer {_describe(q)} is not supported; "
            "use quantized_bits(bits, integer, alpha=1)"
        )
    if cfg["alpha"] not in (None, 1, 1.0):
        raise UnsupportedModel(
            f"{where}: {what} quantizer {_describe(q)} has "
            f"alpha={cfg['alpha']!r}; only alpha=1 is supported"
        )
    if cfg.get("use_stochastic_rounding"):
        raise UnsupportedModel(f"{where}: {what} quantizer {_describe(q)} uses stochastic rounding")
    keep_neg = bool(cfg["keep_negative"])
    return FixedType(int(cfg["bits"]), int(cfg["integer"]) + keep_neg, keep_neg)


def _quantized(
    q: Any, w: npt.NDArray[np.float32], t: FixedType, where: str
) -> npt.NDArray[np.int64]:
    import tensorflow as tf

    wq = np.asarray(q(tf.constant(w)).numpy(), np.float64)
    try:
        return raw_of_exact(wq, t.frac)
    except ValueError:
        raise UnsupportedModel(
            f"{where}: quantized values of {_describe(q)} are not on the " f"grid of {t.short()}"
        ) from None


def _chain(model: Any) -> list[Any]:
    """The model's layers as a single chain (each consumes the previous one's output)."""
    layers = list(model.layers)
    for prev, cur in itertools.pairwise(layers):
        inbound = [n.inbound_layers for n in cur._inbound_nodes]
        flat = [x for grp in inbound for x in (grp if isinstance(grp, list) else [grp])]
        if flat and flat[0] is not prev:
            raise UnsupportedModel(
                f"layer '{cur.name}' ({type(cur).__name__}) does not follow '{prev.name}': only "
                "feed-forward chains are supported for now"
            )
    return layers


def convert(model: Any, name: str, input_type: FixedType | None) -> Conversion:
    """Map a QKeras model onto the IR (types before precision inference)."""
    layers_in = _chain(model)
    taken: set[str] = set()
    out: list[Layer] = []
    taps: dict[str, str] = {}
    notes: list[str] = []
    conv = Conversion(Graph(name, out, notes), taps)
    n_features = int(np.prod(model.input_shape[1:]))
    if len(model.input_shape) != 2:
        raise UnsupportedModel(
            f"model input shape {model.input_shape}: only flat (batch, "
            "features) inputs are supported for now"
        )

    def prev_size() -> int:
        return out[-1].size

    def add_activation(relu: bool, t: FixedType | None, keras_name: str, tap: bool) -> None:
        lay = Activation(
            identifier(keras_name, taken),
            keras_name,
            prev_size(),
            t or FixedType(1, 1),
            relu=relu,
            derived=t is None,
        )
        out.append(lay)
        if tap:
            taps[lay.name] = keras_name

    for idx, layer in enumerate(layers_in):
        cls = type(layer).__name__
        where = f"layer '{layer.name}' ({cls})"
        last = idx == len(layers_in) - 1
        if cls == "InputLayer":
            continue
        if not out:  # the first real layer decides the input type
            if cls == "QActivation":
                relu, t = activation_type(layer.quantizer, where)
                lay = Input(identifier(layer.name, taken), layer.name, n_features, t)
                out.append(lay)
                taps[lay.name] = layer.name
                conv.input_quantizer = layer.quantizer
                if relu:
                    notes.append(
                        f"input quantizer '{layer.name}' includes a ReLU: the hardware "
                        "input is unsigned"
                    )
                continue
            if input_type is None:
                raise UnsupportedModel(
                    f"the model has no input quantizer (first layer {where}): add a "
                    "QActivation(quantized_bits(...)) at the input or set 'input_type' in the flow"
                )
            out.append(
                Input(identifier("input", taken), "(flow input_type)", n_features, input_type)
            )
        if cls == "QActivation":
            relu, t = activation_type(layer.quantizer, where)
            add_activation(relu, t, layer.name, tap=True)
        elif cls == "QDense":
            kq, bq = layer.kernel_quantizer_internal, layer.bias_quantizer_internal
            wt = _weight_type(kq, where, "kernel")
            kernel = layer.get_weights()[0]
            w = _quantized(kq, kernel, wt, where)
            if layer.use_bias:
                bt = _weight_type(bq, where, "bias")
                b = _quantized(bq, layer.get_weights()[1], bt, where)
            else:
                bt, b = FixedType(1, 1), np.zeros(kernel.shape[1], np.int64)
            dense = Dense(
                identifier(layer.name, taken),
                layer.name,
                int(kernel.shape[1]),
                FixedType(1, 1),
                n_in=int(kernel.shape[0]),
                weight_type=wt,
                bias_type=bt,
                weights=w,
                bias=b,
            )
            out.append(dense)
            act = layer.activation
            act_name = getattr(act, "__name__", type(act).__name__)
            if act_name == "linear":
                taps[dense.name] = layer.name
            elif act_name == "relu":
                add_activation(True, None, layer.name + "_relu", tap=False)
                taps[out[-1].name] = layer.name
            elif act_name == "softmax" and last:
                taps[dense.name] = layer.name + ":logits"
                notes.append(f"softmax of '{layer.name}' dropped from hardware: outputs are logits")
            else:
                relu, t = activation_type(act, f"{where} activation")
                add_activation(relu, t, layer.name + "_act", tap=False)
                taps[out[-1].name] = layer.name
        elif cls == "Activation":
            fn = layer.get_config()["activation"]
            if fn == "linear":
                continue
            if fn == "relu":
                add_activation(True, None, layer.name, tap=True)
            elif fn == "softmax" and last:
                notes.append(f"softmax '{layer.name}' dropped from hardware: outputs are logits")
            else:
                raise UnsupportedModel(
                    f"{where}: activation '{fn}' is not supported"
                    + (" (softmax only as the last layer)" if fn == "softmax" else "")
                    + ". Supported: "
                    + SUPPORTED
                )
        elif cls == "Dropout":
            continue
        else:
            raise UnsupportedModel(f"{where} is not supported. Supported: " + SUPPORTED)
    if len(out) < 2:
        raise UnsupportedModel("the model has no layers asicflow can map to hardware")
    return conv


def reference_outputs(
    model: Any, conv: Conversion, x: npt.NDArray[np.float32]
) -> dict[str, np.ndarray]:
    """QKeras's own output for every tapped IR layer (softmax-dropped logits included)."""
    import tensorflow as tf

    names: list[str] = []
    tensors = []
    for ir_name, keras_name in conv.taps.items():
        lname = keras_name.split(":")[0]
        layer = model.get_layer(lname)
        if keras_name.endswith(":logits"):  # recompute the layer without its softmax
            continue
        names.append(ir_name)
        tensors.append(layer.output)
    sub = tf.keras.Model(model.input, tensors)
    preds = sub.predict(x, batch_size=1024, verbose=0)
    if not isinstance(preds, list):
        preds = [preds]
    out = {
        n: np.asarray(p, np.float32).reshape(len(x), -1) for n, p in zip(names, preds, strict=False)
    }
    for ir_name, keras_name in conv.taps.items():
        if keras_name.endswith(":logits"):
            layer = model.get_layer(keras_name.split(":")[0])
            pre = tf.keras.Model(model.input, layer.input).predict(x, batch_size=1024, verbose=0)
            kq, bq = layer.kernel_quantizer_internal, layer.bias_quantizer_internal
            k = kq(tf.constant(layer.get_weights()[0]))
            logits = tf.keras.backend.dot(tf.constant(pre), k)
            if layer.use_bias:
                logits = tf.keras.backend.bias_add(logits, bq(tf.constant(layer.get_weights()[1])))
            out[ir_name] = np.asarray(logits, np.float32)
    return out


def float_forward(model: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The same network with every quantizer switched off (float weights and activations)."""
    h = np.asarray(x, np.float64)
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "QDense":
            ws = layer.get_weights()
            h = h @ ws[0] + (ws[1] if layer.use_bias else 0.0)
            act = getattr(layer.activation, "__name__", type(layer.activation).__name__)
            if act in ("relu", "quantized_relu"):
                h = np.maximum(h, 0)
        elif cls == "QActivation" and type(layer.quantizer).__name__ == "quantized_relu":
            h = np.maximum(h, 0)
        elif cls == "Activation" and layer.get_config()["activation"] == "relu":
            h = np.maximum(h, 0)
    return h
