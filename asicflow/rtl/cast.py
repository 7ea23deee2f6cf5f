"""ac_fixed's conversion (``asicflow.fixed.cast``) as Verilog, specialised per use.

``cast(raw, src_frac, dst)`` divides by ``2**(src_frac - dst.frac)`` with ``dst.rounding``
(or shifts left, exactly) and then applies ``dst.overflow``. Every parameter is known when
the Verilog is written, so the generator emits only the logic a given conversion needs: a
truncation is a bit slice, a rounding mode is one carry-in bit computed from the discarded
bits, and an overflow check is left out when the value range cannot overflow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from asicflow.fixed import FixedType
from asicflow.fixed import cast as fixed_cast
from asicflow.fixed import shift_round as fixed_shift_round
from asicflow.rtl.verilog import Module, Sig, const_sig, literal, range_width

Bit = bool | str  # a constant or the text of a 1-bit expression


def _and(a: Bit, b: Bit) -> Bit:
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return f"({a} & {b})"


def _or(a: Bit, b: Bit) -> Bit:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return f"({a} | {b})"


def _not(a: Bit) -> Bit:
    if isinstance(a, bool):
        return not a
    return f"~{a}"


def cast(m: Module, x: Sig, src_frac: int, dst: FixedType, name: str) -> Sig:
    """Emit ``fixed.cast(x, src_frac, dst)``; the result has ``dst.width`` bits or fewer.

    The returned value's ``width`` may be narrower than ``dst.width`` when its range allows
    (callers widen with :meth:`Module.fit`); its raw value always equals the golden model's.
    """
    if x.const is not None or x.lo == x.hi:
        v = int(fixed_cast(np.array([x.lo], np.int64), src_frac, dst)[0])
        return const_sig(v)
    fused = round_saturate(m, x, src_frac - dst.frac, dst, name)
    if fused is not None:
        return fused
    q = shift_round(m, x, src_frac - dst.frac, dst.rounding, name)
    return overflow(m, q, dst, name)


def round_saturate(m: Module, x: Sig, shift: int, dst: FixedType, name: str) -> Sig | None:
    """A rounding (``shift`` > 0) and saturating cast with the saturation decided from the
    floor, beside the rounding increment instead of after it (None: not such a cast).

    With ``q = floor + up`` (``up`` the rounding carry, 0 or 1): ``q > hi`` exactly when
    ``floor > hi - up`` and ``q < lo`` when ``floor < lo - up``, comparisons of the floor with
    constants, selected by ``up``; the value kept when neither holds is ``floor + up`` in
    ``dst.width`` bits (exact: it is in range then). So the increment is only as wide as
    the destination and no comparison waits for it.
    """
    if shift <= 0 or dst.overflow not in ("SAT", "SAT_ZERO", "SAT_SYM"):
        return None
    if x.width <= shift:
        return None  # the integer part is a constant: shift_round's own path
    lo, hi = dst.raw_min, dst.raw_max
    if dst.overflow == "SAT_SYM" and dst.signed:
        lo = -hi
    flo, fhi = x.lo >> shift, x.hi >> shift
    if flo == fhi or (flo >= lo and fhi + 1 <= hi):
        return None  # a constant floor, or nothing to saturate
    up = _round_up(m, x, shift, dst.rounding)
    if isinstance(up, bool):
        return None  # no rounding carry (TRN) or a constant one: nothing to overlap
    floor = x.bits(shift, x.width - shift, x.signed, flo, fhi)
    cw = max(floor.width, dst.width) + 1
    wide = f"$signed({m.fit(floor, cw)})"

    def when(k_up: int, k_down: int, op: str) -> str:
        return (
            f"({up} ? ({wide} {op} {literal(k_up, cw, True)}) : "
            f"({wide} {op} {literal(k_down, cw, True)}))"
        )

    over = when(hi - 1, hi, ">") if fhi + 1 > hi else ""
    under = when(lo - 1, lo, "<") if flo < lo else ""
    inc = up if dst.width == 1 else f"{{{dst.width - 1}'b0, {up}}}"
    keep = m.assign(
        f"{name}_rnd",
        dst.raw_min,
        dst.raw_max,
        f"{m.fit(floor, dst.width)} + {inc}",
        width=dst.width,
        signed=dst.signed,
    )
    expr = m.ref(keep)
    if dst.overflow == "SAT_ZERO":
        cond = " | ".join(c for c in (over, under) if c)
        expr = f"{cond} ? {literal(0, dst.width)} : {expr}"
        rlo, rhi = min(max(flo, lo), 0), max(min(fhi + 1, hi), 0)
    else:
        if under:
            expr = f"{under} ? {literal(lo, dst.width)} : {expr}"
        if over:
            expr = f"{over} ? {literal(hi, dst.width)} : {expr}"
        rlo, rhi = max(flo, lo), min(fhi + 1, hi)
    return m.assign(name, rlo, rhi, expr, width=dst.width, signed=dst.signed)


def shift_round(m: Module, x: Sig, shift: int, rounding: str, name: str) -> Sig:
    """``fixed.shift_round``: divide by ``2**shift`` with ``rounding`` (shift <= 0: exact)."""
    if shift == 0:
        return x
    if x.const is not None or x.lo == x.hi:
        return const_sig(int(fixed_shift_round(np.array([x.lo], np.int64), shift, rounding)[0]))
    if shift < 0:
        lo, hi = x.lo << -shift, x.hi << -shift
        return m.assign(
            f"{name}_sh", lo, hi, f"{{{m.fit(x, range_width(lo, hi)[0] + shift)}, " f"{-shift}'b0}}"
        )
    if x.width <= shift:  # make room so the integer part has at least one bit
        x = m.assign(
            f"{name}_ext", x.lo, x.hi, m.fit(x, shift + 1), width=shift + 1, signed=x.signed
        )
    flo, fhi = x.lo >> shift, x.hi >> shift
    up = _round_up(m, x, shift, rounding)
    if flo == fhi and up is False:
        return const_sig(flo)
    floor = const_sig(flo) if flo == fhi else x.bits(shift, x.width - shift, x.signed, flo, fhi)
    if up is False:
        return floor
    hi = fhi + 1
    width = range_width(flo, hi)[0]
    carry = _bit_text(up)
    inc = carry if width == 1 else f"{{{width - 1}'b0, {carry}}}"
    return m.assign(f"{name}_rnd", flo, hi, f"{m.fit(floor, width)} + {inc}")


def _bit_text(b: Bit) -> str:
    if isinstance(b, bool):
        return "1'b1" if b else "1'b0"
    return b


def _round_up(m: Module, x: Sig, s: int, rounding: str) -> Bit:
    """The carry into ``floor(x / 2**s)`` per ac_fixed rounding mode (``fixed._round``).

    Referencing a bit marks it used (see ``Module.unused_sink``), so the terms are built
    lazily and the ones that may be constant are evaluated first: no bit is referenced
    unless it ends up in the expression.
    """
    if rounding == "TRN":
        return False

    def half() -> Bit:  # remainder >= half an LSB
        return m.bit(x, s - 1)

    def rest() -> Bit:  # remainder bits below the half bit are not all zero
        if s < 2:
            return False
        low = m.ref(x.bits(0, s - 1, False, 0, (1 << (s - 1)) - 1))
        return f"(|{low})" if s > 2 else low

    def neg() -> Bit:  # the source value is negative
        if x.hi < 0:
            return True
        return m.bit(x, x.width - 1) if x.signed and x.lo < 0 else False

    def above() -> Bit:
        return _all(rest, half)

    def tie() -> Bit:
        return _all(lambda: _not(rest()), half)

    rules: dict[str, Callable[[], Bit]] = {
        "TRN_ZERO": lambda: _all(neg, lambda: _any(half, rest)),
        "RND": half,
        "RND_MIN_INF": above,
        "RND_ZERO": lambda: _any(above, lambda: _all(neg, tie)),
        "RND_INF": lambda: _any(above, lambda: _all(lambda: _not(neg()), tie)),
        "RND_CONV": lambda: _any(above, lambda: _all(tie, lambda: m.bit(x, s))),
    }
    if rounding not in rules:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return rules[rounding]()


def _all(*terms: Callable[[], Bit]) -> Bit:
    """AND of lazily built terms; stops at the first constant False."""
    out: Bit = True
    for term in terms:
        v = term()
        if v is False:
            return False
        out = _and(out, v)
    return out


def _any(*terms: Callable[[], Bit]) -> Bit:
    """OR of lazily built terms; stops at the first constant True."""
    out: Bit = False
    for term in terms:
        v = term()
        if v is True:
            return True
        out = _or(out, v)
    return out


def overflow(m: Module, q: Sig, dst: FixedType, name: str) -> Sig:
    """``fixed.cast``'s overflow handling of an already rounded value ``q``."""
    lo, hi = dst.raw_min, dst.raw_max
    if dst.overflow == "SAT_SYM" and dst.signed:
        lo = -hi
    if q.lo >= lo and q.hi <= hi:  # cannot overflow
        return q
    if dst.overflow == "WRAP":
        return m.assign(
            name, dst.raw_min, dst.raw_max, m.fit(q, dst.width), width=dst.width, signed=dst.signed
        )
    if dst.overflow not in ("SAT", "SAT_ZERO", "SAT_SYM"):
        raise ValueError(f"unknown overflow mode {dst.overflow!r}")
    cw = max(q.width, dst.width) + 1
    wide = m.fit(q, cw)
    over = f"($signed({wide}) > {literal(hi, cw, True)})" if q.hi > hi else ""
    under = f"($signed({wide}) < {literal(lo, cw, True)})" if q.lo < lo else ""
    keep = m.fit(q, dst.width)
    zero = literal(0, dst.width)
    if dst.overflow == "SAT_ZERO":
        cond = " | ".join(c for c in (over, under) if c)
        expr = f"{cond} ? {zero} : {keep}"
        rlo, rhi = min(max(q.lo, lo), 0), max(min(q.hi, hi), 0)
    else:
        expr = keep
        if under:
            expr = f"{under} ? {literal(lo, dst.width)} : {expr}"
        if over:
            expr = f"{over} ? {literal(hi, dst.width)} : {expr}"
        rlo, rhi = max(q.lo, lo), min(q.hi, hi)
    return m.assign(name, rlo, rhi, expr, width=dst.width, signed=dst.signed)
