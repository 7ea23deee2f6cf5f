"""QKeras model -> IR. Imports TensorFlow: only the ``convert`` step loads this module.

The model is walked as a DAG (Keras's layer order is topological); each Keras layer maps to
zero (Dropout, linear activation, Flatten of a flat tensor...), one or two IR layers, and its
output is *tapped* (compared with the golden model) wherever an IR layer computes exactly it.
Weights come from QKeras's own quantizers (``q(w)``), never from a re-derivation of its
rounding (:mod:`asicflow.convert.quantizers`); activation quantizers become ac_fixed casts or
staircases evaluated by QKeras itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import numpy.typing as npt

from asicflow.convert import quantizers as qz
from asicflow.convert.names import identifier
from asicflow.convert.ptq import Ptq
from asicflow.errors import AsicflowError, UnsupportedModel
from asicflow.fixed import FixedType, IntArray, for_raw_range
from asicflow.ir import (
    Activation,
    Add,
    Concat,
    Conv,
    Dense,
    Graph,
    Input,
    Layer,
    Pool,
    Reshape,
    ScaleShift,
    Steps,
    conv_out_len,
    same_padding,
)
from asicflow.precision import Override, infer

SUPPORTED = (
    "InputLayer; QActivation; QDense; QConv1D, QConv2D (strides, 'same'/'valid', no "
    "dilation); QDepthwiseConv2D (depth_multiplier 1); MaxPooling1D/2D, AveragePooling1D/2D "
    "and GlobalMax/AveragePooling, QAveragePooling2D and QGlobalAveragePooling2D (power-of-two "
    "window counts; average_quantizer(1/area) * area an exact constant); Flatten; Reshape; "
    "QBatchNormalization/BatchNormalization with exactly representable scale and shift; Add; "
    "Concatenate (last axis); Activation('relu' | 'linear'); Dropout (identity); a trailing "
    "softmax (dropped); with 'ptq' in the flow, float Dense, Conv1D/2D, DepthwiseConv2D and "
    "BatchNormalization (folded into the layer before it, else a scale/shift). Quantizers: "
    + qz.SUPPORTED_QUANTIZERS
)

CONV_CLASSES = ("QConv1D", "QConv2D", "QDepthwiseConv2D", "Conv1D", "Conv2D", "DepthwiseConv2D")
POOL_CLASSES = {
    "MaxPooling1D": "max",
    "MaxPooling2D": "max",
    "AveragePooling1D": "avg",
    "AveragePooling2D": "avg",
    "GlobalMaxPooling1D": "max",
    "GlobalMaxPooling2D": "max",
    "GlobalAveragePooling1D": "avg",
    "GlobalAveragePooling2D": "avg",
    "QAveragePooling2D": "avg",
    "QGlobalAveragePooling2D": "avg",
}
IDENTITY_CLASSES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise")


@dataclass
class Conversion:
    graph: Graph
    # IR layer name -> Keras layer whose output equals that IR layer's output.
    taps: dict[str, str] = field(default_factory=dict)
    # The model's own input quantizer (None: the flow's input_type quantizes).
    input_quantizer: Callable[[Any], Any] | None = None
    # The model's input shape without the batch axis (Keras layout).
    input_shape: tuple[int, ...] = ()


TRUST_CODE_ENV = "ASICFLOW_TRUST_MODEL_CODE"


def trust_model_code() -> bool:
    """The user's opt-in to run code stored in model files (``--trust-model-code``)."""
    return os.environ.get(TRUST_CODE_ENV, "") not in ("", "0")


def load_model(path: Path, trust_code: bool | None = None) -> Any:
    """Load a (Q)Keras model file without running code from it: inside Keras's safe mode,
    which refuses Lambda layers and serialized Python functions before they run
    (``load_model(..., safe_mode=True)`` alone does not for .h5 files). ``trust_code``
    (default: :func:`trust_model_code`) lifts that for files the user trusts."""
    from keras.src.saving.serialization_lib import SafeModeScope
    from qkeras.utils import load_qmodel

    trusted = trust_model_code() if trust_code is None else trust_code
    try:
        with SafeModeScope(not trusted):
            return load_qmodel(str(path), compile=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        if "arbitrary code execution" in str(exc):
            raise UnsupportedModel(
                f"model {path} holds Python code (a Lambda layer or a serialized function) "
                "that would run while it is loaded: asicflow does not run code from model "
                "files, and Lambda layers are not supported in hardware anyway. Remove it from "
                "the model; if the file is your own and you trust it, rerun with "
                f"--trust-model-code ({TRUST_CODE_ENV}=1)"
            ) from None
        raise AsicflowError(f"cannot load QKeras model {path}: {_first_line(exc)}") from None


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def activation_type(q: Any, where: str) -> tuple[bool, FixedType]:
    """(relu, output type) of a QKeras activation quantizer that is an ac_fixed cast."""
    qz.check_activation(q, where)
    t = qz.cast_type(q)
    if t is None:
        raise UnsupportedModel(f"{where}: {qz.describe(q)} is not a fixed-point cast")
    return t


def ir_shape(keras_shape: Any) -> tuple[int, ...]:
    """IR shape of a Keras output shape (batch axis dropped): flat -> (), 1-D (L, C) ->
    (1, L, C), 2-D (H, W, C) unchanged."""
    dims = tuple(int(d) for d in keras_shape[1:])
    if len(dims) == 1:
        return ()
    if len(dims) == 2:
        return (1, *dims)
    return dims


def _inbound(layer: Any) -> list[Any]:
    nodes = layer._inbound_nodes
    if len(nodes) != 1:
        raise UnsupportedModel(
            f"layer '{layer.name}' ({type(layer).__name__}) is used {len(nodes)} times: "
            "shared layers are not supported"
        )
    inb = nodes[0].inbound_layers
    return list(inb) if isinstance(inb, list | tuple) else [inb]


def _pairs(v: Any, n: int) -> tuple[int, int]:
    t = tuple(int(a) for a in (v if isinstance(v, list | tuple) else [v] * n))
    return (1, t[0]) if len(t) == 1 else (t[0], t[1])


def _pow2(v: npt.NDArray[np.float64]) -> bool:
    """Every value zero or a (signed) power of two."""
    a = np.abs(v[v != 0])
    return bool(np.all(np.exp2(np.round(np.log2(a))) == a)) if a.size else True


def _reduce(raw: IntArray, frac: int) -> tuple[IntArray, int]:
    """Drop common trailing zero bits (a coarser grid holding the same values)."""
    raw = raw.copy()
    while raw.size and np.any(raw) and np.all(raw % 2 == 0):
        raw //= 2
        frac -= 1
    return raw, frac


class _Walker:
    """Builds the IR while walking the Keras layers."""

    def __init__(
        self,
        model: Any,
        name: str,
        input_type: FixedType | None,
        overrides: dict[str, Override],
        reprogrammable: bool,
        ptq: Ptq | None = None,
    ) -> None:
        self.model = model
        self.ptq = ptq
        self.input_type = input_type
        self.overrides = overrides
        self.reprogrammable = reprogrammable
        self.taken: set[str] = set()
        self.out: list[Layer] = []
        self.conv = Conversion(Graph(name, self.out, []), {})
        self.conv.input_shape = tuple(int(d) for d in model.input_shape[1:])
        self.alias: dict[str, str | None] = {}  # Keras layer -> IR layer with its output
        self.last_keras = model.layers[-1].name
        self.consumed: dict[str, int] = {}  # IR layer -> number of IR consumers so far

    # -- helpers ---------------------------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        return self.conv.graph.notes

    def ir(self, name: str) -> Layer:
        return next(lay for lay in self.out if lay.name == name)

    def emit(self, lay: Layer, inputs: list[str] | None = None) -> Layer:
        """Append ``lay`` reading ``inputs`` (IR names; default: the previous layer)."""
        if inputs is not None and not (
            len(inputs) == 1 and self.out and inputs[0] == self.out[-1].name
        ):
            lay.inputs = list(inputs)
        for src in lay.inputs or [self.out[-1].name] if self.out else []:
            self.consumed[src] = self.consumed.get(src, 0) + 1
        self.out.append(lay)
        return lay

    def src_of(self, layer: Any, where: str) -> list[str]:
        names = []
        for k in _inbound(layer):
            if k.name not in self.alias:
                self.visit(k)
            ir_name = self.alias[k.name]
            if ir_name is None:
                raise UnsupportedModel(f"{where}: its input '{k.name}' is not in the hardware")
            names.append(ir_name)
        return names

    def settle(self) -> None:
        """Precision inference over the layers built so far (types of the newest layer)."""
        names = {lay.name for lay in self.out}
        ov = {k: v for k, v in self.overrides.items() if k in names}
        infer(Graph(self.conv.graph.name, list(self.out)), ov, self.reprogrammable)

    def tap(self, ir_name: str, keras_name: str) -> None:
        self.conv.taps = {k: v for k, v in self.conv.taps.items() if k != ir_name}
        self.conv.taps[ir_name] = keras_name

    # -- elementwise -----------------------------------------------------------------------
    def elementwise(self, act: Any, src: str, keras_name: str, where: str, last: bool) -> str:
        """Apply an activation function or quantizer to IR layer ``src``; the new IR name."""
        fn = qz.name_of(act) if act is not None else "linear"
        prev = self.ir(src)
        if fn == "linear":
            return src
        if fn == "relu" and not hasattr(act, "get_config"):
            relu_lay = Activation(
                identifier(keras_name, self.taken),
                keras_name,
                prev.size,
                FixedType(1, 1),
                shape=prev.shape,
                relu=True,
                derived=True,
            )
            return self.emit(relu_lay, [src]).name
        if fn == "softmax" and not hasattr(act, "get_config"):
            if not last:
                raise UnsupportedModel(
                    f"{where}: activation 'softmax' is not supported (softmax only as the last "
                    "layer). Supported: " + SUPPORTED
                )
            self.notes.append(
                f"softmax of '{keras_name}' dropped from hardware: outputs are logits"
            )
            return src
        if not hasattr(act, "get_config"):
            raise UnsupportedModel(
                f"{where}: activation '{fn}' is not supported. Supported: " + SUPPORTED
            )
        qz.check_activation(act, where)
        cast = qz.cast_type(act)
        name = identifier(keras_name, self.taken)
        if cast is not None:
            relu, t = cast
            lay: Layer = Activation(name, keras_name, prev.size, t, shape=prev.shape, relu=relu)
            return self.emit(lay, [src]).name
        self.settle()
        lo, hi = prev.out_range
        th, lv, t = qz.staircase(act, prev.out_type, lo, hi, where)
        lay = Steps(name, keras_name, prev.size, t, shape=prev.shape, thresholds=th, levels=lv)
        self.notes.append(
            f"'{keras_name}': {qz.describe(act)} as a staircase of {len(th)} thresholds, "
            f"evaluated by QKeras on every raw input in [{lo}, {hi}] of {prev.out_type.short()}"
        )
        return self.emit(lay, [src]).name

    # -- the walk --------------------------------------------------------------------------
    def run(self) -> Conversion:
        outputs = self.model.outputs
        if len(outputs) != 1:
            raise UnsupportedModel(f"the model has {len(outputs)} outputs; one is supported")
        self.check_classes()
        for layer in self.model.layers:
            if layer.name not in self.alias:
                self.visit(layer)
        last = self.alias.get(self.last_keras)
        if len(self.out) < 2 or last is None:
            raise UnsupportedModel("the model has no layers asicflow can map to hardware")
        if last != self.out[-1].name:
            raise UnsupportedModel(
                f"the model's output '{self.last_keras}' is not its last computed layer"
            )
        dangling = [lay.name for lay in self.out[:-1] if not self.consumed.get(lay.name)]
        if dangling:
            raise UnsupportedModel(f"layers {dangling} feed no output: one output is supported")
        return self.conv

    def visit(self, layer: Any) -> None:
        cls = type(layer).__name__
        where = f"layer '{layer.name}' ({cls})"
        last = layer.name == self.last_keras
        if cls == "InputLayer":
            self.input_layer(layer)
            return
        srcs = self.src_of(layer, where)
        if cls in IDENTITY_CLASSES:
            self.alias[layer.name] = srcs[0]
            return
        handler = self.handler(cls)
        if handler is None:
            raise UnsupportedModel(f"{where} is not supported. Supported: " + SUPPORTED)
        self.alias[layer.name] = handler(layer, srcs, where, last)

    def handler(self, cls: str) -> Callable[[Any, list[str], str, bool], str] | None:
        """The method converting a Keras layer class (None: unsupported)."""
        if cls in CONV_CLASSES:
            return self.do_conv
        if cls in POOL_CLASSES:
            return self.do_pool
        if cls in ("QBatchNormalization", "BatchNormalization"):
            return self.do_batchnorm
        return getattr(self, "do_" + cls, None)

    def check_classes(self) -> None:
        """Name every unsupported layer before anything else is judged (an LSTM model is told
        LSTM is unsupported, not that it lacks an input quantizer)."""
        bad = [
            f"'{layer.name}' ({type(layer).__name__})"
            for layer in self.model.layers
            if type(layer).__name__ not in ("InputLayer", *IDENTITY_CLASSES)
            and self.handler(type(layer).__name__) is None
        ]
        if len(bad) == 1:
            raise UnsupportedModel(f"layer {bad[0]} is not supported. Supported: " + SUPPORTED)
        if bad:
            raise UnsupportedModel(
                f"layers {', '.join(bad)} are not supported. Supported: " + SUPPORTED
            )

    def input_layer(self, layer: Any) -> None:
        shape = ir_shape(
            layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape
        )
        size = int(np.prod(self.conv.input_shape))
        consumers = [n.outbound_layer for n in layer._outbound_nodes]
        first = consumers[0] if len(consumers) == 1 else None
        if first is not None and type(first).__name__ == "QActivation":
            where = f"layer '{first.name}' (QActivation)"
            qz.check_activation(first.quantizer, where)
            cast = qz.cast_type(first.quantizer)
            if cast is not None:
                relu, t = cast
                lay = Input(identifier(first.name, self.taken), first.name, size, t, shape=shape)
                self.out.append(lay)
                self.alias[layer.name] = self.alias[first.name] = lay.name
                self.tap(lay.name, first.name)
                self.conv.input_quantizer = first.quantizer
                if relu:
                    self.notes.append(
                        f"input quantizer '{first.name}' includes a ReLU: the hardware "
                        "input is unsigned"
                    )
                return
        if self.input_type is None:
            what = f"layer '{first.name}' ({type(first).__name__})" if first else "several"
            raise UnsupportedModel(
                f"the model has no input quantizer (first layer {what}): add a "
                "QActivation(quantized_bits(...)) at the input or set 'input_type' in the flow"
            )
        lay = Input(
            identifier("input", self.taken), "(flow input_type)", size, self.input_type, shape=shape
        )
        self.out.append(lay)
        self.alias[layer.name] = lay.name

    def do_QActivation(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        out = self.elementwise(layer.quantizer, srcs[0], layer.name, where, last)
        if out != srcs[0]:
            self.tap(out, layer.name)
        return out

    def do_Activation(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        fn = layer.get_config()["activation"]
        if fn not in ("linear", "relu", "softmax"):
            raise UnsupportedModel(
                f"{where}: activation '{fn}' is not supported. Supported: " + SUPPORTED
            )
        if self.ptq is not None and self.ptq.quantized and fn == "relu":
            self.ptq.quantized.append(layer.name)
            return self._ptq_output(layer, layer.activation, srcs[0], where, last, layer.name)
        out = self.elementwise(layer.activation, srcs[0], layer.name, where, last)
        if out != srcs[0]:
            self.tap(out, layer.name)
        return out

    def _layer_activation(
        self, layer: Any, ir_name: str, where: str, last: bool, keras_out: str | None = None
    ) -> str:
        act = layer.activation
        fn = qz.name_of(act)
        if self.ptq is not None and layer.name in self.ptq.quantized:
            return self._ptq_output(layer, act, ir_name, where, last, keras_out or layer.name)
        out = self.elementwise(
            act,
            ir_name,
            layer.name + "_act" if fn != "relu" else layer.name + "_relu",
            f"{where} activation",
            last,
        )
        if fn == "softmax" and not hasattr(act, "get_config"):
            self.tap(ir_name, layer.name + ":logits")
        else:
            self.tap(out, layer.name)
        return out

    def _ptq_output(
        self, layer: Any, act: Any, ir_name: str, where: str, last: bool, keras_out: str
    ) -> str:
        """Cast a post-training-quantized layer's output (after a float ReLU/linear
        activation) to its activation type; a trailing softmax is dropped first."""
        assert self.ptq is not None
        fn = qz.name_of(act) if act is not None else "linear"
        if hasattr(act, "get_config"):  # a QKeras activation quantizer fixes the type
            out = self.elementwise(act, ir_name, layer.name + "_act", f"{where} activation", last)
            self.tap(out, keras_out)
            return out
        if fn == "softmax":
            self.elementwise(act, ir_name, layer.name, where, last)  # checks it is the last
        elif fn not in ("linear", "relu"):
            raise UnsupportedModel(
                f"{where}: activation '{fn}' is not supported with post-training "
                "quantization (relu, linear, a trailing softmax)"
            )
        prev = self.ir(ir_name)
        relu = fn == "relu"
        outs = [n.outbound_layer for n in self.model.get_layer(keras_out)._outbound_nodes]
        if (
            fn == "linear"
            and len(outs) == 1
            and type(outs[0]).__name__ == "Activation"
            and outs[0].get_config()["activation"] == "relu"
        ):
            return ir_name  # the ReLU layer right after casts once (no double rounding)
        t = self.ptq.activation(keras_out, relu, where)
        lay = Activation(
            identifier(layer.name + ("_relu" if relu else "_q"), self.taken),
            keras_out,
            prev.size,
            t,
            shape=prev.shape,
            relu=relu,
        )
        self.emit(lay, [ir_name])
        self.tap(lay.name, keras_out)
        return lay.name

    def _array(
        self, layer: Any, attr: str, values: Any, where: str, what: str
    ) -> tuple[IntArray, FixedType]:
        """Raw integers of a parameter array: QKeras's quantizer ``attr`` when the layer has
        one, else post-training quantization when the flow enables it."""
        q = getattr(layer, attr, None)
        if q is None and self.ptq is not None:
            return self.ptq.weights(layer.name, values, "bias" if what == "bias" else "weight")
        return qz.weight_array(q, np.asarray(values, np.float32), where, what)

    def _bias(
        self, layer: Any, where: str, n: int, values: Any = None
    ) -> tuple[IntArray, FixedType]:
        if not layer.use_bias and values is None:
            return np.zeros(n, np.int64), FixedType(1, 1)
        if values is None:
            values = layer.bias.numpy()
        return self._array(layer, "bias_quantizer_internal", values, where, "bias")

    def _ptq_fold_target(self, layer: Any) -> Any | None:
        """The float BatchNormalization right after a post-training-quantized layer with a
        linear activation, which it is folded into before quantization (else None)."""
        if self.ptq is None or getattr(layer, "kernel_quantizer_internal", None) is not None:
            return None
        if getattr(layer, "depthwise_quantizer_internal", None) is not None:
            return None
        act = getattr(layer, "activation", None)
        if act is not None and qz.name_of(act) != "linear":
            return None
        outs = [n.outbound_layer for n in layer._outbound_nodes]
        if len(outs) != 1 or type(outs[0]).__name__ != "BatchNormalization":
            return None
        return outs[0]

    def _ptq_fold(
        self, layer: Any, kernel: npt.NDArray[Any], bias: npt.NDArray[Any] | None, depthwise: bool
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any] | None, Any | None]:
        """(kernel, bias, folded BN layer or None): a float batch norm folded in float."""
        bn = self._ptq_fold_target(layer)
        if bn is None:
            return kernel, bias, None
        cfg = bn.get_config()
        axis = np.ravel(cfg["axis"])
        if len(axis) != 1 or int(axis[0]) not in (-1, len(bn.input_shape) - 1):
            return kernel, bias, None
        scale, offset = _bn_affine(bn)
        k = np.asarray(kernel, np.float64)
        k = k * (scale[None, None, :, None] if depthwise else scale)
        b = (np.zeros(len(scale)) if bias is None else np.asarray(bias, np.float64)) * scale
        return k, b + offset, bn

    def do_QDense(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        prev = self.ir(srcs[0])
        kernel = layer.kernel.numpy()
        if len(layer.input_shape) != 2:
            raise UnsupportedModel(
                f"{where}: input shape {layer.input_shape}: Dense on a multi-dimensional "
                "tensor is not supported (add a Flatten before it)"
            )
        if kernel.shape[0] != prev.size:
            raise UnsupportedModel(f"{where}: expects {kernel.shape[0]} inputs, gets {prev.size}")
        bias = layer.bias.numpy() if layer.use_bias else None
        kernel, bias, bn = self._ptq_fold(layer, kernel, bias, False)
        w, wt = self._array(layer, "kernel_quantizer_internal", kernel, where, "kernel")
        b, bt = self._bias(layer, where, kernel.shape[1], bias)
        dense = Dense(
            identifier(layer.name, self.taken),
            layer.name,
            int(kernel.shape[1]),
            FixedType(1, 1),
            n_in=int(kernel.shape[0]),
            weight_type=wt,
            bias_type=bt,
            weights=w,
            bias=b,
        )
        self.emit(dense, srcs)
        return self._fold_alias(layer, bn, dense.name, where, last)

    do_Dense = do_QDense

    def _fold_alias(self, layer: Any, bn: Any | None, ir_name: str, where: str, last: bool) -> str:
        """The layer's output (through a batch norm folded into it, whose output it is)."""
        if bn is None:
            return self._layer_activation(layer, ir_name, where, last)
        self.notes.append(
            f"batch norm '{bn.name}' folded into '{layer.name}' before post-training "
            "quantization"
        )
        out = self._layer_activation(
            layer, ir_name, where, bn.name == self.last_keras, keras_out=bn.name
        )
        self.alias[bn.name] = out
        return out

    def do_conv(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        cls = type(layer).__name__
        prev = self.ir(srcs[0])
        cfg = layer.get_config()
        one_d = cls in ("QConv1D", "Conv1D")
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise UnsupportedModel(f"{where}: only channels_last data is supported")
        if any(int(d) != 1 for d in np.ravel(cfg.get("dilation_rate", 1))):
            raise UnsupportedModel(
                f"{where}: dilation_rate {cfg['dilation_rate']} is not supported"
            )
        if int(cfg.get("groups", 1)) != 1:
            raise UnsupportedModel(f"{where}: grouped convolution is not supported")
        padding = cfg["padding"]
        if padding not in ("same", "valid"):
            raise UnsupportedModel(f"{where}: padding '{padding}' is not supported (same, valid)")
        in_shape = ir_shape(layer.input_shape)
        if len(in_shape) != 3:
            raise UnsupportedModel(f"{where}: input shape {layer.input_shape} is not an image")
        h, wd, c = in_shape
        depthwise = cls in ("QDepthwiseConv2D", "DepthwiseConv2D")
        if depthwise:
            if int(cfg.get("depth_multiplier", 1)) != 1:
                raise UnsupportedModel(
                    f"{where}: depth_multiplier {cfg['depth_multiplier']}: only 1 is supported"
                )
            kernel = layer.depthwise_kernel.numpy()
            q = "depthwise_quantizer_internal"
        else:
            kernel = layer.kernel.numpy()
            q = "kernel_quantizer_internal"
        bias = layer.bias.numpy() if layer.use_bias else None
        kernel, bias, bn = self._ptq_fold(layer, kernel, bias, depthwise)
        w, wt = self._array(layer, q, kernel, where, "kernel")
        if one_d:
            w = w[None]
        kh, kw = int(w.shape[0]), int(w.shape[1])
        sh, sw = _pairs(layer.strides, 2 - one_d)
        if one_d:
            sh, sw = 1, sw
        if padding == "same":
            pad = (*same_padding(h, kh, sh), *same_padding(wd, kw, sw))
        else:
            pad = (0, 0, 0, 0)
        f = c if depthwise else int(w.shape[3])
        ho = conv_out_len(h, kh, sh, pad[0], pad[1])
        wo = conv_out_len(wd, kw, sw, pad[2], pad[3])
        if ir_shape(layer.output_shape) != (ho, wo, f):
            raise UnsupportedModel(
                f"{where}: output shape {layer.output_shape} differs from the computed "
                f"{(ho, wo, f)}"
            )
        b, bt = self._bias(layer, where, f, bias)
        lay = Conv(
            identifier(layer.name, self.taken),
            layer.name,
            ho * wo * f,
            FixedType(1, 1),
            shape=(ho, wo, f),
            in_shape=(h, wd, c),
            kernel=(kh, kw),
            stride=(sh, sw),
            pad=pad,
            depthwise=depthwise,
            filters=f,
            weight_type=wt,
            bias_type=bt,
            weights=w.astype(np.int64),
            bias=b,
        )
        if prev.size != h * wd * c:
            raise UnsupportedModel(f"{where}: expects {h * wd * c} inputs, gets {prev.size}")
        self.emit(lay, srcs)
        return self._fold_alias(layer, bn, lay.name, where, last)

    def do_pool(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        cls = type(layer).__name__
        op = POOL_CLASSES[cls]
        in_shape = ir_shape(layer.input_shape)
        if len(in_shape) != 3:
            raise UnsupportedModel(f"{where}: input shape {layer.input_shape} is not an image")
        h, wd, c = in_shape
        cfg = layer.get_config()
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise UnsupportedModel(f"{where}: only channels_last data is supported")
        if cls.startswith(("Global", "QGlobal")):
            pool, stride, padding = (h, wd), (1, 1), "valid"
        else:
            one_d = cls.endswith("1D")
            pool = _pairs(cfg["pool_size"], 1 if one_d else 2)
            stride = _pairs(cfg["strides"] or cfg["pool_size"], 1 if one_d else 2)
            padding = cfg["padding"]
        if padding == "same":
            pad = (*same_padding(h, pool[0], stride[0]), *same_padding(wd, pool[1], stride[1]))
        else:
            pad = (0, 0, 0, 0)
        ho = conv_out_len(h, pool[0], stride[0], pad[0], pad[1])
        wo = conv_out_len(wd, pool[1], stride[1], pad[2], pad[3])
        lay = Pool(
            identifier(layer.name, self.taken),
            layer.name,
            ho * wo * c,
            FixedType(1, 1),
            shape=(ho, wo, c),
            op=op,
            in_shape=(h, wd, c),
            pool=pool,
            stride=stride,
            pad=pad,
        )
        if op == "avg":
            counts = sorted(set(lay.counts().tolist()))
            if any(n & (n - 1) for n in counts):
                raise UnsupportedModel(
                    f"{where}: averages over {counts} elements; only power-of-two window "
                    "counts (padding included) divide exactly by a shift"
                )
        self.emit(lay, srcs)
        self.tap(lay.name, layer.name)
        if cls.startswith("Q"):
            return self._qkeras_average(layer, lay, where, last)
        return lay.name

    def _qkeras_average(self, layer: Any, pool: Pool, where: str, last: bool) -> str:
        """QAveragePooling2D / QGlobalAveragePooling2D: Keras's average (the in-bounds
        mean), times the window area, times ``average_quantizer(1 / area)``, then the
        layer's activation quantizer. The factor area * q(1/area) is exact (dyadic): 1 adds
        nothing, any other value becomes a constant per-channel scale (ScaleShift)."""
        out = pool.name
        if getattr(layer, "average_quantizer", None):
            q = layer.average_quantizer_internal
            qz.check_common(q, where)
            area = pool.pool[0] * pool.pool[1]
            c = float(np.asarray(q(1.0 / area), np.float32))
            factor = np.float64(np.float32(area) * np.float32(c))
            if factor != np.float32(area) * np.float32(c) or not np.isfinite(factor):
                raise UnsupportedModel(f"{where}: average factor {area} * {c} is not exact")
            if factor != 1.0:
                frac = qz.grid_frac(np.array([factor]), where, "average factor", limit=24)
                raw = int(np.round(factor * 2.0**frac))
                scale = ScaleShift(
                    identifier(layer.name + "_scale", self.taken),
                    layer.name,
                    pool.size,
                    FixedType(1, 1),
                    shape=pool.shape,
                    scale_type=for_raw_range(min(raw, 0), max(raw, 0), frac),
                    bias_type=FixedType(1, 1),
                    scale=np.full(pool.channels, raw, np.int64),
                    bias=np.zeros(pool.channels, np.int64),
                )
                self.emit(scale, [pool.name])
                self.tap(scale.name, layer.name)
                self.conv.taps.pop(pool.name, None)
                self.notes.append(
                    f"'{layer.name}': average times {area} * {qz.describe(q)}(1/{area}) = "
                    f"{factor:g} (a constant scale)"
                )
                out = self._exact_in_float32(scale.name, where)
        act = getattr(layer, "activation", None)
        if act is not None:
            res = self.elementwise(act, out, layer.name + "_act", f"{where} activation", last)
            if res != out:
                self.conv.taps.pop(out, None)
                self.tap(res, layer.name)
            out = res
        return out

    def do_Flatten(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        return self._reshape(layer, srcs)

    def do_Reshape(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        return self._reshape(layer, srcs)

    def _reshape(self, layer: Any, srcs: list[str]) -> str:
        prev = self.ir(srcs[0])
        shape = ir_shape(layer.output_shape)
        if prev.dims == (shape or (prev.size,)):
            return srcs[0]
        lay = Reshape(
            identifier(layer.name, self.taken), layer.name, prev.size, prev.out_type, shape=shape
        )
        self.emit(lay, srcs)
        self.tap(lay.name, layer.name)
        return lay.name

    def do_Add(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        prev = self.ir(srcs[0])
        if any(self.ir(s).size != prev.size for s in srcs):
            raise UnsupportedModel(f"{where}: inputs of different sizes (no broadcasting)")
        lay = Add(
            identifier(layer.name, self.taken),
            layer.name,
            prev.size,
            FixedType(1, 1),
            shape=ir_shape(layer.output_shape),
        )
        self.emit(lay, srcs)
        lay.inputs = list(srcs)
        self.tap(lay.name, layer.name)
        return lay.name

    def do_Concatenate(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        rank = len(layer.output_shape) - 1
        axis = int(layer.get_config()["axis"])
        if axis not in (-1, rank):
            raise UnsupportedModel(f"{where}: concatenation along axis {axis}: only the last axis")
        shape = ir_shape(layer.output_shape)
        size = int(np.prod(layer.output_shape[1:]))
        lay = Concat(
            identifier(layer.name, self.taken), layer.name, size, FixedType(1, 1), shape=shape
        )
        self.emit(lay, srcs)
        lay.inputs = list(srcs)
        self.tap(lay.name, layer.name)
        return lay.name

    def do_batchnorm(self, layer: Any, srcs: list[str], where: str, last: bool) -> str:
        prev = self.ir(srcs[0])
        cfg = layer.get_config()
        axis = cfg["axis"]
        axis = axis[0] if isinstance(axis, list | tuple) else axis
        if len(np.ravel(cfg["axis"])) != 1 or int(axis) not in (-1, len(layer.input_shape) - 1):
            raise UnsupportedModel(
                f"{where}: batch norm over axis {cfg['axis']}: only the last axis"
            )
        scale, offset = _bn_affine(layer)
        c = prev.channels
        if scale.shape != (c,):
            raise UnsupportedModel(f"{where}: {scale.shape} parameters for {c} channels")
        if self.ptq is not None and type(layer).__name__ == "BatchNormalization":
            return self._ptq_scale_shift(layer, prev, scale, offset, srcs, where, last)
        what = "scale gamma/sqrt(variance + epsilon)"
        try:
            fs = qz.grid_frac(scale, where, what, limit=24)
            ft = qz.grid_frac(offset, where, "shift beta - mean * scale", limit=24)
        except UnsupportedModel as exc:
            raise UnsupportedModel(
                f"{exc}: batch norm becomes exact hardware only with exactly representable "
                "parameters (e.g. QBatchNormalization with power-of-two quantizers and "
                "epsilon=0), or fold it into the weights before quantization-aware training"
            ) from None
        s_raw = np.round(scale * 2.0**fs).astype(np.int64)
        t_raw = np.round(offset * 2.0**ft).astype(np.int64)
        folded = self._fold(layer, prev, s_raw, fs, t_raw, ft) if _pow2(scale) else None
        if folded is not None:
            return self._exact_in_float32(folded, where)
        st = for_raw_range(min(int(s_raw.min()), 0), max(int(s_raw.max()), 0), fs)
        bt = for_raw_range(min(int(t_raw.min()), 0), max(int(t_raw.max()), 0), ft)
        lay = ScaleShift(
            identifier(layer.name, self.taken),
            layer.name,
            prev.size,
            FixedType(1, 1),
            shape=prev.shape,
            scale_type=st,
            bias_type=bt,
            scale=s_raw,
            bias=t_raw,
        )
        self.emit(lay, srcs)
        self.tap(lay.name, layer.name)
        return self._exact_in_float32(lay.name, where)

    def _ptq_scale_shift(
        self,
        layer: Any,
        prev: Layer,
        scale: npt.NDArray[np.float64],
        offset: npt.NDArray[np.float64],
        srcs: list[str],
        where: str,
        last: bool,
    ) -> str:
        """A float batch norm not foldable into a layer: scale (weight type) and shift (bias
        type) quantized by PTQ, output cast to its activation type."""
        assert self.ptq is not None
        s_raw, st = self.ptq.weights(layer.name, scale, "weight")
        t_raw, bt = self.ptq.weights(layer.name, offset, "bias")
        lay = ScaleShift(
            identifier(layer.name, self.taken),
            layer.name,
            prev.size,
            FixedType(1, 1),
            shape=prev.shape,
            scale_type=st,
            bias_type=bt,
            scale=s_raw,
            bias=t_raw,
        )
        self.emit(lay, srcs)
        return self._ptq_output(layer, None, lay.name, where, last, layer.name)

    def _exact_in_float32(self, name: str, where: str) -> str:
        """A batch norm is exact only if QKeras's float32 ``x * scale + shift`` is."""
        self.settle()
        lay = self.ir(name)
        acc = getattr(lay, "accum", None)
        if acc is not None and acc.width > qz.FLOAT32_BITS:
            raise UnsupportedModel(
                f"{where}: x * scale + shift needs {acc.width} bits ({acc.short()}); "
                f"QKeras computes it in float32 ({qz.FLOAT32_BITS}-bit mantissa) and rounds, "
                "so no exact hardware matches it: not supported (use parameters with fewer "
                "bits, e.g. QBatchNormalization with power-of-two quantizers and epsilon=0)"
            )
        return name

    def _fold(
        self, layer: Any, prev: Layer, s: IntArray, fs: int, t: IntArray, ft: int
    ) -> str | None:
        """Fold a power-of-two batch norm into the Dense/Conv just before it (exact: QKeras's
        float32 result is x.W*s + (b*s + t) either way); None when that is not possible."""
        if not isinstance(prev, Dense | Conv) or self.out[-1] is not prev:
            return None
        inb = _inbound(layer)[0]
        if inb.name != prev.source or len(inb._outbound_nodes) != 1:
            return None
        act = getattr(inb, "activation", None)
        if act is not None and qz.name_of(act) != "linear":
            return None
        if isinstance(prev, Conv) and prev.depthwise:
            w = prev.weights * s[None, None, :, None]
        else:
            w = prev.weights * s  # last axis is the output channel
        fw = prev.weight_type.frac + fs
        fb = max(prev.bias_type.frac + fs, ft)
        b = (prev.bias * s << (fb - prev.bias_type.frac - fs)) + (t << (fb - ft))
        w, fw = _reduce(w, fw)
        b, fb = _reduce(b, fb)
        wt = for_raw_range(min(int(w.min()), 0), max(int(w.max()), 0), fw)
        bt = for_raw_range(min(int(b.min()), 0), max(int(b.max()), 0), fb)
        if max(wt.width, bt.width) > qz.FLOAT32_BITS:
            return None
        prev.weights, prev.weight_type, prev.bias, prev.bias_type = w, wt, b, bt
        self.tap(prev.name, layer.name)
        self.notes.append(
            f"batch norm '{layer.name}' folded into '{prev.source}' (power-of-two scales): "
            f"weights {wt.short()}, bias {bt.short()}"
        )
        return prev.name


def _bn_affine(layer: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(scale, offset) per channel exactly as TensorFlow's batch_normalization computes them
    in float32: inv = rsqrt(var + eps) * gamma, offset = beta - mean * inv."""
    import tensorflow as tf

    def q(name: str, value: Any) -> Any:
        quant = getattr(layer, f"{name}_quantizer_internal", None)
        return (
            quant(value)
            if quant is not None and getattr(layer, f"{name}_quantizer", None)
            else value
        )

    c = int(layer.moving_mean.shape[0])
    gamma = q("gamma", layer.gamma) if layer.scale else tf.ones(c)
    beta = q("beta", layer.beta) if layer.center else tf.zeros(c)
    mean = q("mean", layer.moving_mean)
    var = q("variance", layer.moving_variance)
    inv = tf.math.rsqrt(tf.cast(var, tf.float32) + layer.epsilon) * tf.cast(gamma, tf.float32)
    off = tf.cast(beta, tf.float32) - tf.cast(mean, tf.float32) * inv
    return np.asarray(inv.numpy(), np.float64), np.asarray(off.numpy(), np.float64)


def convert(
    model: Any,
    name: str,
    input_type: FixedType | None,
    overrides: dict[str, Override] | None = None,
    reprogrammable: bool = False,
    ptq: Ptq | None = None,
) -> Conversion:
    """Map a QKeras model onto the IR. Precision inference runs while converting (staircase
    quantizers need their input's range); run :func:`asicflow.precision.infer` again after.
    With ``ptq`` (calibrated), float Dense/Conv layers are quantized by asicflow."""
    if ptq is not None:
        ptq.check_names({lay.name for lay in model.layers})
    return _Walker(model, name, input_type, overrides or {}, reprogrammable, ptq).run()


def model_inputs(model: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Flat stimuli reshaped to the model's input shape."""
    return np.asarray(x, np.float32).reshape(len(x), *model.input_shape[1:])


def reference_outputs(
    model: Any, conv: Conversion, x: npt.NDArray[np.float32]
) -> dict[str, np.ndarray]:
    """QKeras's own output for every tapped IR layer (softmax-dropped logits included)."""
    import tensorflow as tf

    x = model_inputs(model, x)
    names: list[str] = []
    tensors = []
    for ir_name, keras_name in conv.taps.items():
        if keras_name.endswith(":logits"):  # recomputed below without the softmax
            continue
        names.append(ir_name)
        tensors.append(model.get_layer(keras_name).output)
    out: dict[str, np.ndarray] = {}
    if tensors:
        sub = tf.keras.Model(model.input, tensors)
        try:
            preds = sub.predict(x, batch_size=1024, verbose=0)
        except tf.errors.OpError as exc:
            raise _unevaluable(exc) from None
        if not isinstance(preds, list):
            preds = [preds]
        out = {
            n: np.asarray(p, np.float32).reshape(len(x), -1)
            for n, p in zip(names, preds, strict=True)
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
            out[ir_name] = np.asarray(logits, np.float32).reshape(len(x), -1)
    return out


def _unevaluable(exc: Any) -> UnsupportedModel:
    """TensorFlow on this machine cannot run the model (for example a depthwise convolution
    with unequal strides, which TensorFlow's CPU kernel computes only where oneDNN is in use):
    without QKeras's own outputs nothing can be proven bit-exact against it."""
    first = str(getattr(exc, "message", exc)).strip().splitlines()[0][:300]
    node = getattr(exc, "op", None)
    name = str(getattr(node, "name", "") or "")
    where = f" (at {name})" if name else ""
    return UnsupportedModel(
        f"TensorFlow cannot evaluate the model on this machine{where}: {first}. The flow "
        "compares every layer with QKeras's own outputs, so the model must run in TensorFlow "
        "here; change the layer TensorFlow rejects (e.g. equal strides) or run on a machine "
        "whose TensorFlow implements it."
    )


FLOAT_ACTIVATIONS = {
    "quantized_bits": "linear",
    "quantized_po2": "linear",
    "quantized_relu": "relu",
    "quantized_relu_po2": "relu",
    "quantized_tanh": "tanh",
    "quantized_sigmoid": "sigmoid",
    # No float function: switched off, they pass their input (the latent float network).
    "binary": "linear",
    "ternary": "linear",
}


def _float_activation(act: Any) -> Callable[[Any], Any] | None:
    """The float function a QKeras activation quantizer stands for (None: unknown, or
    quantized_relu's use_sigmoid)."""
    import tensorflow as tf

    if act is None:
        return lambda v: v
    if not hasattr(act, "get_config"):
        return act  # a Keras function (relu, softmax...)
    fn = FLOAT_ACTIVATIONS.get(qz.name_of(act))
    if fn is None or act.get_config().get("use_sigmoid"):
        return None
    slope = float(act.get_config().get("negative_slope", 0.0) or 0.0)
    if fn == "relu" and slope:
        return lambda v: tf.nn.leaky_relu(v, alpha=slope)
    return tf.keras.activations.get(fn)


def _call_layer(layer: Any, v: Any) -> Any:
    return layer(v, training=False)


def float_forward(model: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64] | None:
    """The same network with every quantizer switched off: float weights, biases and batch
    norm parameters, activations as their float functions, Keras's own layer arithmetic
    (each QKeras layer's Keras base class ``call``); binary/ternary activations pass their
    input. None when an activation quantizer has no float counterpart here."""
    import tensorflow as tf

    h: dict[str, Any] = {}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            h[layer.name] = tf.constant(model_inputs(model, x))
            continue
        ins = [h[k.name] for k in _inbound(layer)]
        arg = ins if len(ins) > 1 else ins[0]
        fn: Callable[[Any], Any] | None
        if cls == "QActivation":
            fn = _float_activation(layer.quantizer)
        elif type(layer).__module__.startswith("qkeras"):
            base: Any = next(
                (b for b in type(layer).__mro__ if not b.__module__.startswith("qkeras")), None
            )
            act = getattr(layer, "activation", None)
            post = _float_activation(act)
            if base is None or (act is not None and post is None):
                return None
            saved = layer.__dict__.get("activation")
            try:
                if "activation" in layer.__dict__:
                    layer.__dict__["activation"] = tf.keras.activations.linear
                kw = {"training": False} if "Normalization" in base.__name__ else {}
                out = base.call(layer, arg, **kw)
            finally:
                if "activation" in layer.__dict__:
                    layer.__dict__["activation"] = saved
            h[layer.name] = post(out) if post is not None else out
            continue
        else:
            fn = partial(_call_layer, layer)
        if fn is None:
            return None
        h[layer.name] = fn(arg)
    out = h[model.layers[-1].name]
    return np.asarray(out, np.float64).reshape(len(x), -1)
