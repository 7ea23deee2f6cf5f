"""The no-overflow proof from the IR: interval bounds from the declared input range and the
constant weights, layer by layer, compared with every type a value is stored in.

Computed independently of :mod:`asicflow.precision` (which sizes the accumulators), so the proof
checks the sizing and any user override instead of repeating it. Bounds are raw integers:

- ``Dense``: each term ``cast(x_i * w_ij, acc)`` lies between the products at the ends of the
  input range, rounded outward to the accumulator's LSB when it drops product bits; the bias
  likewise. The accumulator is AC_WRAP, so its additions are modular: the result is exact, in
  any summation order, exactly when the complete sum ``b_j + sum_i term_ij`` fits its type
  (intermediate sums may wrap harmlessly; their bound is reported too).
- a cast into an output type rounds the bound's ends with the type's rounding mode (casts are
  monotonic); AC_WRAP output types must hold them, saturating types clamp them (reported).
- ``Activation``: ReLU clamps at zero, then the cast as above.
- ``Conv``: the ``Dense`` bound for every distinct set of in-bounds window taps (padded taps
  contribute exactly 0). ``ScaleShift``, ``Add``: exact sums in their accumulator, then the cast.
  ``Pool``: the input range (avg: at its finer grid), cast. ``Concat``: the union of its
  inputs cast to the output type. ``Steps``: the levels reachable from the input range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from asicflow.fixed import FixedType, shift_round
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

# fixed.shift_round works on int64; wider bounds are rounded outward (floor / ceil) instead.
_INT64_SAFE = 1 << 62


@dataclass(frozen=True)
class Bound:
    """The range a value can take where it is stored in ``type``, and the verdict."""

    layer: str
    source: str
    what: str  # "input" | "accumulator" | "output"
    type: FixedType
    lo: int  # raw, at type.frac, before any wrap or saturation
    hi: int
    status: str  # "declared" | "fits" | "saturates" | "overflows"
    note: str = ""

    @property
    def real(self) -> tuple[float, float]:
        return self.lo * self.type.lsb, self.hi * self.type.lsb

    @property
    def ok(self) -> bool:
        return self.status != "overflows"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = self.type.ac()
        d["lo_real"], d["hi_real"] = self.real
        d["type_min"], d["type_max"] = self.type.min, self.type.max
        return d


def _grid(values: Any, src_frac: int, dst_frac: int, up: bool) -> Any:
    """Python-int values at ``src_frac`` moved to ``dst_frac``, rounded outward."""
    if dst_frac >= src_frac:
        return values * (1 << (dst_frac - src_frac))
    div = 1 << (src_frac - dst_frac)
    return -((-values) // div) if up else values // div


def _round(v: int, shift: int, rounding: str, up: bool) -> int:
    """``v`` (raw at frac f) to frac ``f - shift`` with ac_fixed rounding (exact in int64)."""
    if abs(v) < _INT64_SAFE:
        return int(shift_round(np.array([v], np.int64), shift, rounding)[0])
    return int(_grid(np.array([v], object), shift, 0, up)[0])


def _cast(lo: int, hi: int, src_frac: int, t: FixedType) -> tuple[int, int]:
    """The bound ``[lo, hi]`` (raw at ``src_frac``) rounded to ``t``'s LSB, before overflow."""
    shift = src_frac - t.frac
    return _round(lo, shift, t.rounding, False), _round(hi, shift, t.rounding, True)


def _store(
    layer: str, source: str, what: str, t: FixedType, lo: int, hi: int, note: str = ""
) -> tuple[Bound, tuple[int, int]]:
    """The verdict for storing ``[lo, hi]`` in ``t``, and the range actually stored."""
    if t.raw_min <= lo and hi <= t.raw_max:
        return Bound(layer, source, what, t, lo, hi, "fits", note), (lo, hi)
    if t.overflow == "WRAP":
        return Bound(layer, source, what, t, lo, hi, "overflows", note), (t.raw_min, t.raw_max)
    low = -t.raw_max if t.overflow == "SAT_SYM" and t.signed else t.raw_min
    clo, chi = max(lo, low), min(hi, t.raw_max)
    if t.overflow == "SAT_ZERO":  # out-of-range values become 0
        clo, chi = min(clo, 0), max(chi, 0)
    return Bound(layer, source, what, t, lo, hi, "saturates", note), (clo, chi)


def _sums(
    w: np.ndarray, b: np.ndarray, fp: int, fb: int, acc: FixedType, lo: int, hi: int, mask: Any
) -> tuple[int, int, int, int]:
    """(partial lo, partial hi, complete lo, complete hi) of ``b + sum_k x_k w_k`` over the
    taps ``mask`` selects (others contribute 0), raw at the accumulator."""
    w = w.astype(object)
    t_lo = _grid(np.minimum(w * lo, w * hi), fp, acc.frac, up=False)
    t_hi = _grid(np.maximum(w * lo, w * hi), fp, acc.frac, up=True)
    if mask is not None:
        t_lo = np.where(mask[:, None], t_lo, 0)
        t_hi = np.where(mask[:, None], t_hi, 0)
    b = b.astype(object)
    b_lo = _grid(b, fb, acc.frac, up=False)
    b_hi = _grid(b, fb, acc.frac, up=True)
    zero = np.zeros_like(t_lo)
    part_lo = np.minimum(t_lo, zero).sum(axis=0) + np.minimum(b_lo, 0)
    part_hi = np.maximum(t_hi, zero).sum(axis=0) + np.maximum(b_hi, 0)
    full_lo = t_lo.sum(axis=0) + b_lo
    full_hi = t_hi.sum(axis=0) + b_hi
    return (int(min(part_lo)), int(max(part_hi)), int(min(full_lo)), int(max(full_hi)))


def _dense(lay: Dense, in_t: FixedType, lo: int, hi: int) -> tuple[int, int, int, int]:
    """(partial lo, partial hi, complete lo, complete hi) of the sums, raw at the accumulator."""
    fp = in_t.frac + lay.weight_type.frac
    return _sums(lay.weights, lay.bias, fp, lay.bias_type.frac, lay.accum, lo, hi, None)


def _conv(lay: Conv, in_t: FixedType, lo: int, hi: int) -> tuple[int, int, int, int]:
    """As :func:`_dense`, over every distinct set of in-bounds window taps."""
    kh, kw, c, _ = lay.weights.shape
    w = lay.weights.reshape(kh * kw, c) if lay.depthwise else lay.weights.reshape(-1, lay.filters)
    fp = in_t.frac + lay.weight_type.frac
    res = [
        _sums(
            w,
            lay.bias,
            fp,
            lay.bias_type.frac,
            lay.accum,
            lo,
            hi,
            m if lay.depthwise else np.repeat(m, c),
        )
        for m in np.unique(lay.taps() >= 0, axis=0)
    ]
    return (
        min(r[0] for r in res),
        max(r[1] for r in res),
        min(r[2] for r in res),
        max(r[3] for r in res),
    )


def _accumulate(
    rows: list[Bound], lay: Dense | Conv, bounds: tuple[int, int, int, int]
) -> tuple[int, int]:
    """The accumulator and output rows of a Dense-rule layer; returns the output range."""
    plo, phi, flo, fhi = bounds
    acc = lay.accum
    if acc.raw_min <= plo and phi <= acc.raw_max:
        note = "partial sums fit too, in any summation order"
    else:
        pl, ph = plo * acc.lsb, phi * acc.lsb
        note = (
            f"partial sums span [{pl:g}, {ph:g}] and may wrap before the last "
            "addition: harmless, the AC_WRAP sum is modular"
        )
    row, (lo, hi) = _store(lay.name, lay.source, "accumulator", acc, flo, fhi, note)
    if row.status != "fits":
        row = Bound(
            row.layer,
            row.source,
            row.what,
            row.type,
            row.lo,
            row.hi,
            "overflows",
            "the complete sum can leave the accumulator type, so the layer's result wraps",
        )
    rows.append(row)
    clo, chi = _cast(lo, hi, acc.frac, lay.out_type)
    row, out = _store(lay.name, lay.source, "output", lay.out_type, clo, chi)
    rows.append(row)
    return out


def _output(rows: list[Bound], lay: Layer, lo: int, hi: int, note: str = "") -> tuple[int, int]:
    row, out = _store(lay.name, lay.source, "output", lay.out_type, lo, hi, note)
    rows.append(row)
    return out


def prove(graph: Graph) -> list[Bound]:
    """One :class:`Bound` per stored value: input, each accumulator, each layer output."""
    rows: list[Bound] = []
    ranges: dict[str, tuple[int, int]] = {}
    for lay in graph.layers:
        prods = graph.producers(lay)
        prev_t = prods[0].out_type if prods else lay.out_type
        lo, hi = ranges[prods[0].name] if prods else (0, 0)

        if isinstance(lay, Input):
            t = lay.out_type
            lo, hi = t.raw_min, t.raw_max
            rows.append(
                Bound(
                    lay.name,
                    lay.source,
                    "input",
                    t,
                    lo,
                    hi,
                    "declared",
                    "every value of the input type",
                )
            )
        elif isinstance(lay, Dense):
            lo, hi = _accumulate(rows, lay, _dense(lay, prev_t, lo, hi))
        elif isinstance(lay, Conv):
            lo, hi = _accumulate(rows, lay, _conv(lay, prev_t, lo, hi))
        elif isinstance(lay, Activation):
            if lay.relu:
                lo, hi = max(lo, 0), max(hi, 0)
            clo, chi = _cast(lo, hi, prev_t.frac, lay.out_type)
            lo, hi = _output(rows, lay, clo, chi, "after ReLU" if lay.relu else "")
        elif isinstance(lay, Pool):
            sh = int(lay.count_shifts().max()) if lay.op == "avg" else 0
            clo, chi = _cast(lo << sh, hi << sh, prev_t.frac + sh, lay.out_type)
            lo, hi = _output(rows, lay, clo, chi, f"{lay.op} pooling")
        elif isinstance(lay, Reshape):
            pass  # identity: same values, same type
        elif isinstance(lay, ScaleShift):
            acc = lay.accum
            fp = prev_t.frac + lay.scale_type.frac
            _, _, flo, fhi = _sums(
                np.diag(lay.scale), lay.bias, fp, lay.bias_type.frac, acc, lo, hi, None
            )
            row, (lo, hi) = _store(lay.name, lay.source, "accumulator", acc, flo, fhi)
            rows.append(row)
            clo, chi = _cast(lo, hi, acc.frac, lay.out_type)
            lo, hi = _output(rows, lay, clo, chi)
        elif isinstance(lay, Add):
            acc = lay.accum
            alo = sum(_grid(ranges[p.name][0], p.out_type.frac, acc.frac, False) for p in prods)
            ahi = sum(_grid(ranges[p.name][1], p.out_type.frac, acc.frac, True) for p in prods)
            row, (lo, hi) = _store(lay.name, lay.source, "accumulator", acc, alo, ahi)
            rows.append(row)
            clo, chi = _cast(lo, hi, acc.frac, lay.out_type)
            lo, hi = _output(rows, lay, clo, chi)
        elif isinstance(lay, Concat):
            ends = [_cast(*ranges[p.name], p.out_type.frac, lay.out_type) for p in prods]
            lo, hi = _output(
                rows, lay, min(e[0] for e in ends), max(e[1] for e in ends), "concatenation"
            )
        elif isinstance(lay, Steps):
            i0, i1 = np.searchsorted(lay.thresholds, [lo, hi], side="right")
            reach = lay.levels[int(i0) : int(i1) + 1]
            lo, hi = _output(rows, lay, int(reach.min()), int(reach.max()), "staircase levels")
        else:
            raise TypeError(f"range proof has no rule for layer kind {lay.kind!r}")
        ranges[lay.name] = (lo, hi)
    return rows
