"""Fixed-point types with ac_fixed semantics, and exact numpy arithmetic on their raw integers.

A value of type ``FixedType(width=W, integer=I, signed=S)`` is stored as a raw integer ``q``
(``W`` bits, two's complement when signed) and means ``q * 2**-(W - I)``. Every function here
works on raw int64 arrays, so all results are exact (widths up to 62 bits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 62

_AC_RE = re.compile(
    r"^\s*ac_fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(true|false)\s*"
    r"(?:,\s*AC_(\w+)\s*(?:,\s*AC_(\w+)\s*)?)?)?>\s*$"
)


@dataclass(frozen=True)
class FixedType:
    """``ac_fixed<width, integer, signed, AC_<rounding>, AC_<overflow>>``."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"width {self.width} outside 1..{MAX_WIDTH}")
        if self.rounding not in ROUNDING:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; one of {ROUNDING}")
        if self.overflow not in OVERFLOW:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; one of {OVERFLOW}")

    @property
    def frac(self) -> int:
        """Fractional bits (may be negative or exceed the width, as in ac_fixed)."""
        return self.width - self.integer

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        return self.raw_min * 2.0**-self.frac

    @property
    def max(self) -> float:
        return self.raw_max * 2.0**-self.frac

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    def ac(self) -> str:
        """The C++ type name."""
        s = "true" if self.signed else "false"
        return (
            f"ac_fixed<{self.width}, {self.integer}, {s}, AC_{self.rounding}, AC_{self.overflow}>"
        )

    def short(self) -> str:
        s = "" if self.signed else "u"
        modes = (
            ""
            if (self.rounding, self.overflow) == ("TRN", "WRAP")
            else (f",{self.rounding},{self.overflow}")
        )
        return f"{s}fixed<{self.width},{self.integer}{modes}>"

    def with_modes(self, rounding: str = "TRN", overflow: str = "WRAP") -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding, overflow)

    def to_dict(self) -> dict[str, object]:
        return {
            "width": self.width,
            "integer": self.integer,
            "signed": self.signed,
            "rounding": self.rounding,
            "overflow": self.overflow,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> FixedType:
        return FixedType(
            int(d["width"]),
            int(d["integer"]),
            bool(d["signed"]),
            str(d["rounding"]),
            str(d["overflow"]),
        )

    @staticmethod
    def parse(text: str) -> FixedType:
        """Parse ``ac_fixed<W, I[, true|false[, AC_Q[, AC_O]]]>`` (ac_fixed's own defaults)."""
        m = _AC_RE.match(text)
        if not m:
            raise ValueError(
                f"cannot parse type {text!r}; write e.g. "
                "'ac_fixed<16, 6, true, AC_RND_CONV, AC_SAT>'"
            )
        w, i, s, q, o = m.groups()
        return FixedType(int(w), int(i), s != "false", q or "TRN", o or "WRAP")

    @staticmethod
    def for_range(lo: float, hi: float, frac: int) -> FixedType:
        """The narrowest type with ``frac`` fractional bits holding every value in [lo, hi]."""
        qlo = int(np.floor(lo * 2.0**frac))
        qhi = int(np.ceil(hi * 2.0**frac))
        return for_raw_range(qlo, qhi, frac)


def for_raw_range(qlo: int, qhi: int, frac: int) -> FixedType:
    """The narrowest type with ``frac`` fractional bits holding raw values qlo..qhi."""
    if qlo < 0:
        width = max(int(qhi).bit_length(), int(-qlo - 1).bit_length()) + 1
        signed = True
    else:
        width = max(int(qhi).bit_length(), 1)
        signed = False
    return FixedType(width, width - frac, signed)


def _round(
    floor: IntArray,
    above: BoolArray,
    tie: BoolArray,
    exact: BoolArray,
    neg: BoolArray,
    rounding: str,
) -> IntArray:
    """Pick floor or floor + 1 from the remainder's position, per ac_fixed rounding mode."""
    if rounding == "TRN":  # toward -inf
        up = np.zeros_like(exact)
    elif rounding == "TRN_ZERO":
        up = neg & ~exact
    elif rounding == "RND":  # half toward +inf
        up = above | tie
    elif rounding == "RND_MIN_INF":
        up = above
    elif rounding == "RND_ZERO":
        up = above | (tie & neg)
    elif rounding == "RND_INF":
        up = above | (tie & ~neg)
    elif rounding == "RND_CONV":  # half to even
        up = above | (tie & ((floor & 1) == 1))
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return np.where(up, floor + 1, floor).astype(np.int64)


def shift_round(raw: IntArray, shift: int, rounding: str) -> IntArray:
    """Divide raw integers by ``2**shift`` with an ac_fixed rounding mode (shift <= 0: exact)."""
    raw = np.asarray(raw, dtype=np.int64)
    if shift <= 0:
        return raw << (-shift)
    floor = raw >> shift
    rem = raw - (floor << shift)  # 0 .. 2**shift - 1
    half = np.int64(1) << (shift - 1)
    return _round(floor, rem > half, rem == half, rem == 0, raw < 0, rounding)


def cast(raw: IntArray, src_frac: int, dst: FixedType) -> IntArray:
    """Convert raw integers with ``src_frac`` fractional bits to type ``dst``, as ac_fixed does."""
    q = shift_round(np.asarray(raw, dtype=np.int64), src_frac - dst.frac, dst.rounding)
    lo, hi = dst.raw_min, dst.raw_max
    if dst.overflow == "WRAP":
        mask = (1 << dst.width) - 1
        q = q & mask
        if dst.signed:
            q = np.where(q > hi, q - (1 << dst.width), q)
        return q.astype(np.int64)
    if dst.overflow == "SAT_SYM" and dst.signed:
        lo = -hi
    if dst.overflow == "SAT_ZERO":
        return np.where((q < lo) | (q > hi), 0, q).astype(np.int64)
    return np.clip(q, lo, hi).astype(np.int64)


def quantize(x: npt.ArrayLike, dst: FixedType) -> IntArray:
    """Quantize floats to raw integers of ``dst`` (rounding and overflow as ac_fixed does).

    Exact for every float64 input: scaling by a power of two and splitting off the floor
    are exact in binary floating point.
    """
    s = np.asarray(x, dtype=np.float64) * 2.0**dst.frac
    if np.any(~np.isfinite(s)) or np.any(np.abs(s) >= 2.0**62):
        raise ValueError("value is not finite or too large to quantize")
    fl = np.floor(s)
    rem = s - fl
    q = _round(fl.astype(np.int64), rem > 0.5, rem == 0.5, rem == 0, s < 0, dst.rounding)
    return cast(q, dst.frac, dst)


def to_float(raw: IntArray, t: FixedType) -> npt.NDArray[np.float64]:
    return np.asarray(raw, dtype=np.float64) * 2.0**-t.frac


def raw_of_exact(values: npt.ArrayLike, frac: int) -> IntArray:
    """Raw integers of values known to lie on the ``2**-frac`` grid; error otherwise."""
    v = np.asarray(values, dtype=np.float64) * 2.0**frac
    r = np.round(v)
    if np.any(r != v):
        raise ValueError(f"values are not multiples of 2**-{frac}")
    return r.astype(np.int64)


def frac_bits_needed(values: npt.ArrayLike, limit: int = 40) -> int:
    """Fewest fractional bits that represent every value exactly (error past ``limit``)."""
    v = np.asarray(values, dtype=np.float64)
    for f in range(-8, limit + 1):
        s = v * 2.0**f
        if np.all(s == np.round(s)):
            return f
    raise ValueError(f"values need more than {limit} fractional bits")
