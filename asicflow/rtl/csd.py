"""Canonical signed digit (non-adjacent form) recoding of integer constants.

``x * w`` for a constant ``w`` becomes a sum of ``+-(x << k)``: the NAF has the fewest
non-zero digits of any signed-digit form (on average a third of the bits, against half for
plain binary), so a constant product costs fewest adder operands.
"""

from __future__ import annotations


def csd(w: int) -> list[tuple[int, int]]:
    """``[(shift, digit)]`` with digits in {-1, +1} and ``sum(d << k) == w``, no two adjacent."""
    digits: list[tuple[int, int]] = []
    k = 0
    while w:
        if w & 1:
            d = 2 - (w & 3)  # +1 when w = 1 (mod 4), -1 when w = 3 (mod 4)
            digits.append((k, d))
            w -= d
        w >>= 1
        k += 1
    return digits
