"""QKeras quantizers -> exact fixed-point: weight arrays, activation casts and staircases.

Weights: the quantizer's own output ``q(w)`` is read back and put on the coarsest binary grid
that holds every value exactly (so ``alpha`` numbers, per-channel ``auto_po2`` scales,
binary/ternary with their alpha and po2 weights all become plain integers of a wider type;
a power-of-two scale becomes a shift). Values that are not dyadic (``alpha='auto'`` scales in
general) are rejected, naming the layer and the reason.

Activations: ``quantized_bits`` (alpha 1) and plain ``quantized_relu`` are ac_fixed casts
(``AC_RND_CONV``, ``AC_SAT``/``AC_SAT_SYM``). Every other elementwise quantizer is evaluated
by QKeras itself on every raw value its input can take (the proven input range) and becomes
a staircase (:class:`asicflow.ir.Steps`): exact by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from asicflow.errors import UnsupportedModel
from asicflow.fixed import MAX_WIDTH, FixedType, IntArray, for_raw_range

# Largest number of raw input values a staircase is computed from (one QKeras call).
STAIRCASE_MAX_INPUTS = 1 << 22
# float32 holds integers up to 2**24 exactly: wider weights cannot be QKeras's exact values.
FLOAT32_BITS = 24

STAIRCASE_QUANTIZERS = (
    "quantized_bits",
    "quantized_relu",
    "binary",
    "ternary",
    "quantized_po2",
    "quantized_relu_po2",
    "quantized_tanh",
    "quantized_sigmoid",
)
WEIGHT_QUANTIZERS = ("quantized_bits", "binary", "ternary", "quantized_po2")

SUPPORTED_QUANTIZERS = (
    "weights: quantized_bits (alpha None/1/a number with an exact binary value/'auto_po2'; "
    "'auto' only where its scales are powers of two), binary, ternary (alpha None, a number "
    "or 'auto_po2'), quantized_po2; activations: quantized_bits, quantized_relu (integer "
    "bits, negative_slope, use_sigmoid), binary, ternary (alpha None or a number), "
    "quantized_po2, quantized_relu_po2, quantized_tanh, quantized_sigmoid (hard and real "
    "variants: evaluated exactly on the input grid); no stochastic rounding, qnoise_factor 1"
)


def describe(q: Any) -> str:
    return str(q) if hasattr(q, "get_config") else repr(q)


def name_of(q: Any) -> str:
    if hasattr(q, "get_config"):
        return type(q).__name__
    return str(getattr(q, "__name__", type(q).__name__))


def _config(q: Any) -> dict[str, Any]:
    return dict(q.get_config()) if hasattr(q, "get_config") else {}


def check_common(q: Any, where: str) -> None:
    """Reject what no exact hardware can do: stochastic rounding, quantization noise."""
    cfg = _config(q)
    if cfg.get("use_stochastic_rounding"):
        raise UnsupportedModel(
            f"{where}: {describe(q)} uses stochastic rounding, which is not supported (no "
            "exact hardware equivalent)"
        )
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise UnsupportedModel(f"{where}: {describe(q)} has qnoise_factor != 1 (not supported)")
    if name_of(q).startswith("stochastic_") or name_of(q) == "bernoulli":
        raise UnsupportedModel(f"{where}: {describe(q)} is stochastic (not supported)")


def cast_type(q: Any) -> tuple[bool, FixedType] | None:
    """(relu, output type) when the quantizer is an ac_fixed cast, else None."""
    cls, cfg = name_of(q), _config(q)
    if cls == "quantized_bits":
        if cfg["alpha"] not in (None, 1, 1.0):
            return None
        bits, integer, keep_neg = int(cfg["bits"]), int(cfg["integer"]), bool(cfg["keep_negative"])
        if bits - keep_neg < 1:
            return None  # 1-bit: a sign, not a cast
        ovf = "SAT_SYM" if cfg.get("symmetric") and keep_neg else "SAT"
        return False, FixedType(bits, integer + keep_neg, keep_neg, "RND_CONV", ovf)
    if cls == "quantized_relu":
        if cfg.get("use_sigmoid") or float(cfg.get("negative_slope", 0.0)) != 0.0:
            return None
        return True, FixedType(int(cfg["bits"]), int(cfg["integer"]), False, "RND_CONV", "SAT")
    return None


def check_activation(q: Any, where: str) -> None:
    """Raise unless the quantizer is a cast or a data-independent elementwise staircase."""
    check_common(q, where)
    cls, cfg = name_of(q), _config(q)
    if cls not in STAIRCASE_QUANTIZERS:
        raise UnsupportedModel(
            f"{where}: quantizer {describe(q)} is not supported. Supported: " + SUPPORTED_QUANTIZERS
        )
    alpha = cfg.get("alpha")
    if isinstance(alpha, str):
        raise UnsupportedModel(
            f"{where}: activation quantizer {describe(q)} has alpha={alpha!r}: its scale "
            "is computed from each batch of data: not supported in fixed hardware"
        )


def staircase(
    q: Any, in_type: FixedType, lo: int, hi: int, where: str
) -> tuple[IntArray, IntArray, FixedType]:
    """(thresholds raw at ``in_type``, levels raw at the output type, output type) of the
    elementwise quantizer ``q`` over the raw inputs ``lo..hi``, from QKeras's own values."""
    import tensorflow as tf

    n = hi - lo + 1
    if n > STAIRCASE_MAX_INPUTS:
        raise UnsupportedModel(
            f"{where}: {describe(q)} on a {in_type.short()} input ({n} possible values) is "
            f"too wide to tabulate (limit {STAIRCASE_MAX_INPUTS}); quantize its input first"
        )
    if max(abs(lo), abs(hi)) >= 1 << FLOAT32_BITS:
        raise UnsupportedModel(
            f"{where}: its input {in_type.short()} is wider than float32's mantissa, so "
            "QKeras itself rounds the values it quantizes"
        )
    raw = np.arange(lo, hi + 1, dtype=np.int64)
    x = (raw.astype(np.float64) * 2.0**-in_type.frac).astype(np.float32)
    y = np.asarray(q(tf.constant(x)).numpy(), np.float64).reshape(-1)
    if not np.all(np.isfinite(y)):
        raise UnsupportedModel(f"{where}: {describe(q)} gives non-finite values")
    frac = grid_frac(y, where, f"{describe(q)} output")
    levels_all = np.round(y * 2.0**frac).astype(np.int64)
    change = np.flatnonzero(levels_all[1:] != levels_all[:-1]) + 1
    thresholds = raw[change]
    levels = np.concatenate([levels_all[:1], levels_all[change]])
    t = for_raw_range(min(int(levels.min()), 0), max(int(levels.max()), 0), frac)
    return thresholds.astype(np.int64), levels.astype(np.int64), t


def grid_frac(values: npt.ArrayLike, where: str, what: str, limit: int = 40) -> int:
    """Fewest fractional bits holding every value exactly (values from float32)."""
    v = np.asarray(values, np.float64)
    for f in range(-16, limit + 1):
        s = v * 2.0**f
        if np.all(s == np.round(s)):
            if np.abs(s).max(initial=0) >= 2.0 ** (MAX_WIDTH - 2):
                break
            return f
    bad = next(
        (float(x) for x in v.reshape(-1) if x * 2.0**limit != np.round(x * 2.0**limit)),
        float(v.reshape(-1)[0]),
    )
    raise UnsupportedModel(
        f"{where}: {what} takes the value {bad!r}, which has no exact fixed-point form "
        f"within {limit} fractional bits (not supported)"
    )


def weight_array(
    q: Any, w: npt.NDArray[np.float32], where: str, what: str
) -> tuple[IntArray, FixedType]:
    """Raw integers and type of QKeras's quantized weights ``q(w)``."""
    import tensorflow as tf

    if q is None:
        raise UnsupportedModel(
            f"{where}: no {what} quantizer: float {what}s are not supported without "
            f"post-training quantization ('ptq' in the flow) or a {what}_quantizer"
        )
    check_common(q, where)
    cls, cfg = name_of(q), _config(q)
    if cls not in WEIGHT_QUANTIZERS:
        raise UnsupportedModel(
            f"{where}: {what} quantizer {describe(q)} is not supported. Supported: "
            + SUPPORTED_QUANTIZERS
        )
    wq = np.asarray(q(tf.constant(w)).numpy(), np.float64)
    declared = _declared_type(cls, cfg)
    if declared is not None:
        raw = np.round(wq * 2.0**declared.frac)
        if np.all(raw == wq * 2.0**declared.frac):
            return raw.astype(np.int64), declared
    auto = UnsupportedModel(
        f"{where}: {what} quantizer {describe(q)}: alpha='auto' is not supported here: "
        "its per-channel scales are not powers of two, so the weights have no exact "
        "fixed-point form (use alpha='auto_po2' or alpha=1)"
    )
    try:
        frac = grid_frac(wq, where, f"{what} quantizer {describe(q)}")
    except UnsupportedModel:
        if cfg.get("alpha") == "auto":
            raise auto from None
        raise
    raw = np.round(wq * 2.0**frac).astype(np.int64)
    t = for_raw_range(min(int(raw.min()), 0), max(int(raw.max()), 0), frac)
    if t.width > FLOAT32_BITS and cfg.get("alpha") == "auto":
        raise auto
    if t.width > FLOAT32_BITS:
        raise UnsupportedModel(
            f"{where}: {what} quantizer {describe(q)} gives weights that need {t.width} bits "
            f"({t.short()}): not supported, beyond float32's exact range (QKeras rounds them)"
        )
    return raw, t


def _declared_type(cls: str, cfg: dict[str, Any]) -> FixedType | None:
    """The type a quantized_bits(alpha=1) weight is declared with (None for the others)."""
    if cls != "quantized_bits" or cfg.get("alpha") not in (None, 1, 1.0):
        return None
    bits, keep_neg = int(cfg["bits"]), bool(cfg["keep_negative"])
    if bits - keep_neg < 1:
        return None
    return FixedType(bits, int(cfg["integer"]) + keep_neg, keep_neg)
