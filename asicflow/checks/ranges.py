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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from asicflow.fixed import FixedType, shift_round
from asicflow.ir import Activation, Dense, Graph, Input

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


def _dense(lay: Dense, in_t: FixedType, lo: int, hi: int) -> tuple[int, int, int, int]:
    """(partial lo, partial hi, complete lo, complete hi) of the sums, raw at the accumulator."""
    acc = lay.accum
    fp = in_t.frac + lay.weight_type.frac
    w = lay.weights.astype(object)
    t_lo = _grid(np.minimum(w * lo, w * hi), fp, acc.frac, up=False)
    t_hi = _grid(np.maximum(w * lo, w * hi), fp, acc.frac, up=True)
    b = lay.bias.astype(object)
    b_lo = _grid(b, lay.bias_type.frac, acc.frac, up=False)
    b_hi = _grid(b, lay.bias_type.frac, acc.frac, up=True)
    zero = np.zeros_like(t_lo)
    part_lo = np.minimum(t_lo, zero).sum(axis=0) + np.minimum(b_lo, 0)
    part_hi = np.maximum(t_hi, zero).sum(axis=0) + np.maximum(b_hi, 0)
    full_lo = t_lo.sum(axis=0) + b_lo
    full_hi = t_hi.sum(axis=0) + b_hi
    return (int(min(part_lo)), int(max(part_hi)), int(min(full_lo)), int(max(full_hi)))


def prove(graph: Graph) -> list[Bound]:
    """One :class:`Bound` per stored value: input, each accumulator, each layer output."""
    rows: list[Bound] = []
    prev_t: FixedType | None = None
    lo = hi = 0
    for lay in graph.layers:
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
            assert prev_t is not None
            plo, phi, flo, fhi = _dense(lay, prev_t, lo, hi)
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
                    "the complete sum can leave the accumulator type, so "
                    "the layer's result wraps",
                )
            rows.append(row)
            clo, chi = _cast(lo, hi, acc.frac, lay.out_type)
            row, (lo, hi) = _store(lay.name, lay.source, "output", lay.out_type, clo, chi)
            rows.append(row)
        elif isinstance(lay, Activation):
            assert prev_t is not None
            if lay.relu:
                lo, hi = max(lo, 0), max(hi, 0)
            clo, chi = _cast(lo, hi, prev_t.frac, lay.out_type)
            row, (lo, hi) = _store(
                lay.name,
                lay.source,
                "output",
                lay.out_type,
                clo,
                chi,
                "after ReLU" if lay.relu else "",
            )
            rows.append(row)
        else:
            raise TypeError(f"range proof has no rule for layer kind {lay.kind!r}")
        prev_t = lay.out_type
    return rows
