"""ac_fixed semantics of asicflow.fixed, against an independent exact-fraction reference."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from asicflow.fixed import OVERFLOW, ROUNDING, FixedType, cast, for_raw_range, quantize


def ref_round(v: Fraction, mode: str) -> int:
    fl = math.floor(v)
    rem = v - fl
    half = Fraction(1, 2)
    if rem == 0:
        return fl
    up = {
        "TRN": False,
        "TRN_ZERO": v < 0,
        "RND": rem >= half,
        "RND_MIN_INF": rem > half,
        "RND_ZERO": rem > half or (rem == half and v < 0),
        "RND_INF": rem > half or (rem == half and v > 0),
        "RND_CONV": rem > half or (rem == half and fl % 2 == 1),
    }[mode]
    return fl + 1 if up else fl


def ref_cast(raw: int, src_frac: int, t: FixedType) -> int:
    q = ref_round(Fraction(raw) * Fraction(2) ** (t.frac - src_frac), t.rounding)
    lo, hi = t.raw_min, t.raw_max
    if t.overflow == "SAT_SYM" and t.signed:  # ac_fixed (checked with g++): never -2**(W-1)
        lo = -hi
    if lo <= q <= hi:
        return q
    if t.overflow == "WRAP":
        q %= 1 << t.width
        return q - (1 << t.width) if t.signed and q > hi else q
    if t.overflow == "SAT_ZERO":
        return 0
    return min(max(q, lo), hi)


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("signed", [True, False])
def test_cast_matches_exact_reference(rounding: str, overflow: str, signed: bool) -> None:
    raw = np.arange(-300, 301, dtype=np.int64)
    for src_frac, t in [
        (4, FixedType(5, 3, signed, rounding, overflow)),
        (1, FixedType(6, 2, signed, rounding, overflow)),
        (3, FixedType(4, 4, signed, rounding, overflow)),
    ]:
        got = cast(raw, src_frac, t)
        want = [ref_cast(int(r), src_frac, t) for r in raw]
        assert got.tolist() == want, (src_frac, t)


def test_quantize_is_round_half_even_like_tf_round() -> None:
    t = FixedType(8, 8, True, "RND_CONV", "SAT")
    assert quantize([0.5, 1.5, 2.5, -0.5, -1.5, 3.3, 1e9, -1e9], t).tolist() == [
        0,
        2,
        2,
        0,
        -2,
        3,
        127,
        -128,
    ]


def test_quantize_matches_reference_on_random_floats() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 4, 2000)
    for mode in ROUNDING:
        t = FixedType(9, 4, True, mode, "SAT")
        got = quantize(x, t)
        want = [ref_cast(int(Fraction(v) * 2**60), 60, t) for v in x]
        assert got.tolist() == want, mode


def test_parse_and_spell() -> None:
    t = FixedType.parse("ac_fixed<16, 6, true, AC_RND_CONV, AC_SAT>")
    assert t == FixedType(16, 6, True, "RND_CONV", "SAT")
    assert FixedType.parse(t.ac()) == t
    assert FixedType.parse("ac_fixed<8,0,false>") == FixedType(8, 0, False)
    with pytest.raises(ValueError, match="cannot parse"):
        FixedType.parse("ap_fixed<8,3>")


def test_for_raw_range_is_narrowest() -> None:
    for lo, hi in [(0, 1), (0, 255), (-1, 0), (-128, 127), (-129, 3), (5, 300), (-7, 1000)]:
        t = for_raw_range(lo, hi, 3)
        assert t.raw_min <= lo and hi <= t.raw_max
        narrower = FixedType(t.width - 1, t.integer - 1, t.signed) if t.width > 1 else None
        if narrower is not None:
            assert not (narrower.raw_min <= lo and hi <= narrower.raw_max)
