"""Precision inference: size every accumulator so sums are exact, and apply per-layer overrides.

Bounds come from the actual (constant) weights and the value range of each layer's input, so
an accumulator is exactly as wide as its worst case needs, for any summation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asicflow.errors import ConfigError
from asicflow.fixed import FixedType, cast, for_raw_range
from asicflow.ir import Activation, Dense, Graph, Input

# QKeras evaluates in float32: sums wider than its 24-bit mantissa may be rounded there.
FLOAT32_EXACT_BITS = 24


@dataclass(frozen=True)
class Override:
    accum: FixedType | None = None
    result: FixedType | None = None


def dense_bounds(
    layer: Dense, in_type: FixedType, in_range: tuple[int, int]
) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(frac, partial-sum lo, partial-sum hi, per-output final lo, final hi), raw at ``frac``."""
    fx, fw, fb = in_type.frac, layer.weight_type.frac, layer.bias_type.frac
    frac = max(fx + fw, fb)
    w = layer.weights.astype(object)  # python ints: no overflow while bounding
    qlo, qhi = in_range
    t1, t2 = w * qlo, w * qhi
    tmin = np.minimum(t1, t2) * (1 << (frac - fx - fw))
    tmax = np.maximum(t1, t2) * (1 << (frac - fx - fw))
    b = layer.bias.astype(object) * (1 << (frac - fb))
    zero = np.zeros_like(tmin)
    neg = np.minimum(tmin, zero).sum(axis=0)
    pos = np.maximum(tmax, zero).sum(axis=0)
    part_lo = min(int(v) for v in neg + np.minimum(b, 0))
    part_hi = max(int(v) for v in pos + np.maximum(b, 0))
    return frac, part_lo, part_hi, tmin.sum(axis=0) + b, tmax.sum(axis=0) + b


def infer(graph: Graph, overrides: dict[str, Override] | None = None) -> list[str]:
    """Fill in accumulator, output types and ranges in place; return warnings."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {lay.name for lay in graph.layers})
    problems = [
        f"precision override for unknown layer '{n}' (layers: "
        f"{', '.join(lay.name for lay in graph.layers)})"
        for n in unknown
    ]
    warnings: list[str] = []
    prev_type: FixedType | None = None
    prev_range = (0, 0)
    for lay in graph.layers:
        ov = overrides.get(lay.name, Override())
        if isinstance(lay, Input):
            lay.out_range = (lay.out_type.raw_min, lay.out_type.raw_max)
        elif isinstance(lay, Dense):
            assert prev_type is not None
            frac, plo, phi, flo, fhi = dense_bounds(lay, prev_type, prev_range)
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
            assert prev_type is not None
            lay.in_type = prev_type
            lo, hi = prev_range
            if lay.relu:
                lo, hi = max(lo, 0), max(hi, 0)
            if ov.result is not None:
                lay.out_type = ov.result
            elif lay.derived:
                lay.out_type = for_raw_range(lo, hi, prev_type.frac)
            ends = cast(np.array([lo, hi], np.int64), prev_type.frac, lay.out_type)
            lay.out_range = (int(ends[0]), int(ends[1]))
        if ov.accum is not None and not isinstance(lay, Dense):
            problems.append(f"layer '{lay.name}' ({lay.kind}) has no accumulator to override")
        prev_type, prev_range = lay.out_type, lay.out_range
    if problems:
        raise ConfigError("precision overrides", problems)
    return warnings
