"""Post-training quantization of float Keras layers (``ptq`` in the flow).

asicflow, not QKeras, quantizes here: weights and biases round half to even and saturate
(``AC_RND_CONV``, ``AC_SAT``) to the flow's types, whose integer bits (when only a width is
given) are the fewest with no value saturating; each quantized layer's output is cast to an
activation type whose integer bits come from the float model's range on calibration data.
The golden model built from these integers is the reference; it is compared with the float
model, not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from asicflow.config import PtqConfig
from asicflow.errors import ConfigError
from asicflow.fixed import MAX_WIDTH, FixedType, IntArray, quantize

# Lowest integer-bit count tried for a type chosen from a range (values down to 2**-24).
LOWEST_INTEGER = -24


def fewest_integer_bits(lo: float, hi: float, width: int, signed: bool) -> int:
    """Fewest integer bits (ac_fixed's I, sign included) for which ``lo`` and ``hi``, rounded
    half to even at the resulting LSB, fit ``width`` bits without saturating."""
    if lo == 0.0 and hi == 0.0:
        return 1
    for integer in range(LOWEST_INTEGER, MAX_WIDTH):
        t = FixedType(width, integer, signed)
        ends = np.round(np.array([lo, hi], np.float64) * 2.0**t.frac)
        if ends.min() >= t.raw_min and ends.max() <= t.raw_max:
            return integer
    raise ValueError(f"range [{lo}, {hi}] does not fit {width} bits")


def with_ptq_modes(t: FixedType) -> FixedType:
    """The type with PTQ's rounding (half to even) and overflow (saturate)."""
    return t.with_modes("RND_CONV", "SAT")


@dataclass
class Ptq:
    """The flow's PTQ settings plus the float model's calibrated output ranges."""

    cfg: PtqConfig
    # Keras layer name -> (min, max) of its float output on the calibration data.
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Keras layers asicflow quantized (every other layer has QKeras quantizers).
    quantized: list[str] = field(default_factory=list)

    def _layer_type(self, keras_name: str, what: str) -> FixedType | None:
        return self.cfg.layers.get(keras_name, {}).get(what)

    def weights(
        self, keras_name: str, w: npt.NDArray[Any], what: str
    ) -> tuple[IntArray, FixedType]:
        """Raw integers and type of float ``w`` (``what``: "weight" or "bias")."""
        w = np.asarray(w, np.float64)
        t = self._layer_type(keras_name, f"{what}_type") or getattr(self.cfg, f"{what}_type")
        if t is None:
            bits = getattr(self.cfg, f"{what}_bits")
            lo, hi = (float(w.min()), float(w.max())) if w.size else (0.0, 0.0)
            t = FixedType(bits, fewest_integer_bits(min(lo, 0.0), hi, bits, True), True)
        t = with_ptq_modes(t)
        if keras_name not in self.quantized:
            self.quantized.append(keras_name)
        return quantize(w, t), FixedType(t.width, t.integer, t.signed)

    def activation(self, keras_name: str, relu: bool, where: str) -> FixedType:
        """Output type of a quantized layer (after its ReLU or linear activation)."""
        t = self._layer_type(keras_name, "activation_type") or self.cfg.activation_type
        if t is None:
            if keras_name not in self.ranges:
                raise ConfigError(
                    "ptq", [f"{where}: no calibrated range for '{keras_name}' (internal)"]
                )
            lo, hi = self.ranges[keras_name]
            signed = not relu and lo < 0
            bits = self.cfg.activation_bits
            if signed and bits < 2:
                raise ConfigError(
                    "ptq", [f"{where}: a signed output needs 'ptq.activation_bits' >= 2"]
                )
            lo = max(lo, 0.0) if relu else lo
            t = FixedType(
                bits, fewest_integer_bits(min(lo, 0.0), max(hi, 0.0), bits, signed), signed
            )
        return with_ptq_modes(t)

    def check_names(self, keras_names: set[str]) -> None:
        unknown = sorted(set(self.cfg.layers) - keras_names)
        if unknown:
            raise ConfigError(
                "ptq",
                [
                    f"'ptq.layers.{n}': the model has no layer '{n}' (layers: "
                    f"{', '.join(sorted(keras_names))})"
                    for n in unknown
                ],
            )


def calibrate(model: Any, x: npt.NDArray[np.float32]) -> dict[str, tuple[float, float]]:
    """(min, max) of every layer's float output on ``x`` (model-shaped inputs); for a layer
    whose activation is a softmax, the range of its logits (the softmax is dropped)."""
    import tensorflow as tf

    layers = [lay for lay in model.layers if type(lay).__name__ != "InputLayer"]
    sub = tf.keras.Model(model.input, [lay.output for lay in layers])
    outs = sub.predict(x, batch_size=1024, verbose=0)
    if not isinstance(outs, list):
        outs = [outs]
    ranges = {}
    for lay, out in zip(layers, outs, strict=True):
        act = getattr(lay, "activation", None)
        if getattr(act, "__name__", "") == "softmax":
            out = logits(model, lay, x)
        ranges[lay.name] = (float(np.min(out)), float(np.max(out)))
    return ranges


def logits(model: Any, layer: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """A float Dense layer's output before its softmax activation."""
    import tensorflow as tf

    if type(layer).__name__ not in ("Dense", "QDense"):
        raise ConfigError(
            "ptq", [f"layer '{layer.name}': a softmax activation only on a Dense layer"]
        )
    pre = tf.keras.Model(model.input, layer.input).predict(x, batch_size=1024, verbose=0)
    out = np.asarray(pre, np.float64).reshape(len(x), -1) @ np.asarray(layer.kernel, np.float64)
    if layer.use_bias:
        out = out + np.asarray(layer.bias, np.float64)
    return out
