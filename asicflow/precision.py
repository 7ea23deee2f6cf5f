"""Precision inference: size every accumulator so sums are exact, and apply per-layer overrides.

Bounds come from the actual (constant) weights and the value range of each layer's input, so
an accumulator is exactly as wide as its worst case needs, for any summation order. With
``reprogrammable=True`` (weights loaded at run time) every weight, bias and scale may take any
value of its type, and the bounds cover all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asicflow.errors import ConfigError
from asicflow.fixed import FixedType, cast, for_raw_range
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
)

# QKeras evaluates in float32: sums wider than its 24-bit mantissa may be rounded there.
FLOAT32_EXACT_BITS = 24

Range = tuple[int, int]


@dataclass(frozen=True)
class Override:
    accum: FixedType | None = None
    result: FixedType | None = None


def _span(values: np.ndarray, t: FixedType, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) object arrays per element: the value itself, or the whole type's raw range."""
    v = np.asarray(values).astype(object)
    if not full:
        return v, v
    return np.full(v.shape, t.raw_min, object), np.full(v.shape, t.raw_max, object)


def mac_bounds(
    w_lo: np.ndarray,
    w_hi: np.ndarray,
    b_lo: np.ndarray,
    b_hi: np.ndarray,
    fx: int,
    fw: int,
    fb: int,
    in_range: Range,
    active: np.ndarray | None = None,
) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """Bounds of ``b + sum_k x_k w_kf``: (frac, partial lo, partial hi, final lo (F,), final
    hi (F,)), raw at ``frac``. ``active`` (K,) masks the taps that take part (padding)."""
    frac = max(fx + fw, fb)
    qlo, qhi = in_range
    cands = [w_lo * qlo, w_lo * qhi, w_hi * qlo, w_hi * qhi]
    tmin = np.minimum(np.minimum(cands[0], cands[1]), np.minimum(cands[2], cands[3]))
    tmax = np.maximum(np.maximum(cands[0], cands[1]), np.maximum(cands[2], cands[3]))
    tmin = tmin * (1 << (frac - fx - fw))
    tmax = tmax * (1 << (frac - fx - fw))
    if active is not None:
        tmin = np.where(active[:, None], tmin, 0)
        tmax = np.where(active[:, None], tmax, 0)
    blo = b_lo * (1 << (frac - fb))
    bhi = b_hi * (1 << (frac - fb))
    zero = np.zeros_like(tmin)
    neg = np.minimum(tmin, zero).sum(axis=0)
    pos = np.maximum(tmax, zero).sum(axis=0)
    part_lo = min(int(v) for v in neg + np.minimum(blo, 0))
    part_hi = max(int(v) for v in pos + np.maximum(bhi, 0))
    return frac, part_lo, part_hi, tmin.sum(axis=0) + blo, tmax.sum(axis=0) + bhi


def dense_bounds(
    layer: Dense, in_type: FixedType, in_range: Range, reprogrammable: bool = False
) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(frac, partial-sum lo, partial-sum hi, per-output final lo, final hi), raw at ``frac``."""
    w_lo, w_hi = _span(layer.weights, layer.weight_type, reprogrammable)
    b_lo, b_hi = _span(layer.bias, layer.bias_type, reprogrammable)
    return mac_bounds(
        w_lo,
        w_hi,
        b_lo,
        b_hi,
        in_type.frac,
        layer.weight_type.frac,
        layer.bias_type.frac,
        in_range,
    )


def conv_bounds(
    layer: Conv, in_type: FixedType, in_range: Range, reprogrammable: bool = False
) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """As :func:`dense_bounds`, over every output position (padded taps contribute 0)."""
    kh, kw, c, _ = layer.weights.shape
    k = kh * kw
    if layer.depthwise:
        w = layer.weights.reshape(k, c)
    else:
        w = layer.weights.reshape(k * c, layer.filters)
    w_lo, w_hi = _span(w, layer.weight_type, reprogrammable)
    b_lo, b_hi = _span(layer.bias, layer.bias_type, reprogrammable)
    masks = np.unique(layer.taps() >= 0, axis=0)
    res = []
    for m in masks:
        active = m if layer.depthwise else np.repeat(m, c)
        res.append(
            mac_bounds(
                w_lo,
                w_hi,
                b_lo,
                b_hi,
                in_type.frac,
                layer.weight_type.frac,
                layer.bias_type.frac,
                in_range,
                active,
            )
        )
    frac = res[0][0]
    flo = np.minimum.reduce([r[3] for r in res])
    fhi = np.maximum.reduce([r[4] for r in res])
    return frac, min(r[1] for r in res), max(r[2] for r in res), flo, fhi


def scale_bounds(
    layer: ScaleShift, in_type: FixedType, in_range: Range, reprogrammable: bool = False
) -> tuple[int, int, int]:
    """(frac, lo, hi) of ``x * scale + bias`` over every channel, raw at ``frac``."""
    s_lo, s_hi = _span(layer.scale[None, :], layer.scale_type, reprogrammable)
    b_lo, b_hi = _span(layer.bias, layer.bias_type, reprogrammable)
    frac, _, _, lo, hi = mac_bounds(
        s_lo,
        s_hi,
        b_lo,
        b_hi,
        in_type.frac,
        layer.scale_type.frac,
        layer.bias_type.frac,
        in_range,
    )
    return frac, int(min(lo)), int(max(hi))


def _cast_range(r: Range, frac: int, t: FixedType) -> Range:
    ends = cast(np.array(r, np.int64), frac, t)
    return int(ends[0]), int(ends[1])


def _shift(r: Range, by: int) -> Range:
    return r[0] << by, r[1] << by


def infer(
    graph: Graph, overrides: dict[str, Override] | None = None, reprogrammable: bool = False
) -> list[str]:
    """Fill in accumulator, output types and ranges in place; return warnings."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {lay.name for lay in graph.layers})
    problems = [
        f"precision override for unknown layer '{n}' (layers: "
        f"{', '.join(lay.name for lay in graph.layers)})"
        for n in unknown
    ]
    warnings: list[str] = []
    for lay in graph.layers:
        ov = overrides.get(lay.name, Override())
        prods: list[Layer] = graph.producers(lay)
        prev_type = prods[0].out_type if prods else lay.out_type
        prev_range = prods[0].out_range if prods else (0, 0)
        if isinstance(lay, Input):
            lay.out_range = (lay.out_type.raw_min, lay.out_type.raw_max)
        elif isinstance(lay, (Dense, Conv)):
            bounds = dense_bounds if isinstance(lay, Dense) else conv_bounds
            frac, plo, phi, flo, fhi = bounds(lay, prev_type, prev_range, reprogrammable)  # type: ignore[arg-type]
            exact = for_raw_range(plo, phi, frac)
            if ov.accum is not None:
                if ov.accum.overflow != "WRAP":
                    problems.append(
                        f"layer '{lay.name}': accumulator override must use AC_WRAP (saturating "
                        "at each addition depends on summation order); saturate in 'result'"
                    )
                lay.accum = ov.accum
            else:
                lay.accum = exact
            lay.out_type = ov.result if ov.result is not None else lay.accum.with_modes()
            if ov.accum is None and ov.result is None:
                lay.out_range = (int(min(flo)), int(max(fhi)))
            else:
                lay.out_range = (lay.out_type.raw_min, lay.out_type.raw_max)
            if lay.accum.width > FLOAT32_EXACT_BITS:
                warnings.append(
                    f"layer '{lay.name}': accumulator is {lay.accum.width} bits; QKeras sums in "
                    f"float32 ({FLOAT32_EXACT_BITS}-bit mantissa), so QKeras itself may round"
                )
        elif isinstance(lay, Activation):
            lay.in_type = prev_type
            lo, hi = prev_range
            if lay.relu:
                lo, hi = max(lo, 0), max(hi, 0)
            if ov.result is not None:
                lay.out_type = ov.result
            elif lay.derived:
                lay.out_type = for_raw_range(lo, hi, prev_type.frac)
            lay.out_range = _cast_range((lo, hi), prev_type.frac, lay.out_type)
        elif isinstance(lay, Pool):
            lay.in_type = prev_type
            if lay.op == "avg":
                try:
                    sh = int(lay.count_shifts().max())
                except ValueError as exc:
                    problems.append(f"layer '{lay.name}': average over {exc}: not a power of two")
                    sh = 0
            else:
                sh = 0
            r = _shift(prev_range, sh)
            exact = for_raw_range(*r, prev_type.frac + sh)
            lay.out_type = ov.result if ov.result is not None else exact
            lay.out_range = _cast_range(r, prev_type.frac + sh, lay.out_type)
        elif isinstance(lay, Reshape):
            lay.out_type = prev_type
            lay.out_range = prev_range
            if ov.result is not None:
                problems.append(f"layer '{lay.name}' (reshape) has no result type to override")
        elif isinstance(lay, ScaleShift):
            frac, lo, hi = scale_bounds(lay, prev_type, prev_range, reprogrammable)
            lay.accum = for_raw_range(lo, hi, frac)
            lay.out_type = ov.result if ov.result is not None else lay.accum.with_modes()
            lay.out_range = _cast_range((lo, hi), frac, lay.out_type)
        elif isinstance(lay, Add):
            lay.in_types = [p.out_type for p in prods]
            frac = max(t.frac for t in lay.in_types)
            lo = sum(p.out_range[0] << (frac - p.out_type.frac) for p in prods)
            hi = sum(p.out_range[1] << (frac - p.out_type.frac) for p in prods)
            lay.accum = for_raw_range(lo, hi, frac)
            lay.out_type = ov.result if ov.result is not None else lay.accum.with_modes()
            lay.out_range = _cast_range((lo, hi), frac, lay.out_type)
        elif isinstance(lay, Concat):
            lay.in_types = [p.out_type for p in prods]
            frac = max(t.frac for t in lay.in_types)
            lo = min(p.out_range[0] << (frac - p.out_type.frac) for p in prods)
            hi = max(p.out_range[1] << (frac - p.out_type.frac) for p in prods)
            lay.out_type = ov.result if ov.result is not None else for_raw_range(lo, hi, frac)
            ends = [_cast_range(p.out_range, p.out_type.frac, lay.out_type) for p in prods]
            lay.out_range = (min(e[0] for e in ends), max(e[1] for e in ends))
        elif isinstance(lay, Steps):
            lay.in_type = prev_type
            if ov.result is not None:
                problems.append(
                    f"layer '{lay.name}' (steps) has fixed output levels; no result override"
                )
            i0, i1 = np.searchsorted(lay.thresholds, list(prev_range), side="right")
            reach = lay.levels[int(i0) : int(i1) + 1]
            lay.out_range = (int(reach.min()), int(reach.max()))
        if ov.accum is not None and not isinstance(lay, (Dense, Conv)):
            problems.append(f"layer '{lay.name}' ({lay.kind}) has no accumulator to override")
    if problems:
        raise ConfigError("precision overrides", problems)
    return warnings
