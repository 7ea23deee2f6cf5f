"""Multi-operand sums of shifted values, constant products and ReLU on :class:`Sig` values.

A sum is written for synthesis as one flat multi-operand addition (Yosys ``alumacc`` turns it
into a single carry-save tree, whatever the parenthesisation) of non-negative, zero-padded
fields plus one constant; sized from the exact value range of the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from asicflow.fixed import FixedType
from asicflow.rtl.csd import csd
from asicflow.rtl.verilog import Module, Sig, const_sig, literal, range_width


@dataclass(frozen=True)
class Term:
    """``sign * (value << shift)``."""

    sign: int  # +1 or -1
    value: Sig
    shift: int


def product(m: Module, name: str, x: Sig, w: int, block: list[str]) -> Sig:
    """The exact product ``x * w``: the sum of w's canonical signed digits ``+-(x << k)``."""
    return add(m, name, 0, [Term(d, x, k) for k, d in csd(w)], None, block)


def add(
    m: Module, name: str, bias: int, terms: list[Term], wrap: FixedType | None, block: list[str]
) -> Sig:
    """``bias + sum(+-(value << shift))``, modulo ``2**wrap.width`` as ``wrap`` holds it.

    The sum is as narrow as its value range allows; it is ``wrap.width`` bits (and wraps)
    only when the range does not fit ``wrap``.
    """
    for t in [t for t in terms if t.value.lo == t.value.hi]:  # constant operands
        bias += t.sign * (t.value.lo << t.shift)
    terms = [t for t in terms if t.value.lo != t.value.hi]
    lo = bias + sum(min(t.sign * t.value.lo, t.sign * t.value.hi) << t.shift for t in terms)
    hi = bias + sum(max(t.sign * t.value.lo, t.sign * t.value.hi) << t.shift for t in terms)
    if wrap is None or wrap.raw_min <= lo and hi <= wrap.raw_max:
        width, signed = range_width(lo, hi)
    else:  # wraps: every bit of the accumulator
        width, signed, lo, hi = wrap.width, wrap.signed, wrap.raw_min, wrap.raw_max
    terms = [t for t in terms if t.shift < width]  # x << shift vanishes mod 2**width
    if not terms:
        return const_sig(_wrap(bias, width, signed))
    const = bias
    parts = []
    for t in terms:
        text, correction = operand(m, t, width)
        parts.append(text)
        const += correction
    const %= 1 << width
    if const:
        parts.insert(0, literal(const, width))
    m.cells["operands"] += len(parts)
    return m.assign(name, lo, hi, tree(parts), width=width, signed=signed, block=block)


def operand(m: Module, t: Term, width: int) -> tuple[str, int]:
    """``+-(x << k)`` modulo ``2**width`` as a non-negative field plus a constant.

    Sign-extension elimination: a signed n-bit x equals (x with its sign bit inverted,
    read unsigned) - 2**(n-1), and -f = ~f - (2**b - 1) for a b-bit field f. So every
    operand is only as wide as x, with zeros above it, and the constants join the bias:
    the adder tree has no columns of copied sign bits and no subtractions.
    """
    x, k = t.value, t.shift
    n, signed = range_width(x.lo, x.hi)
    bits = min(n, width - k)  # bits of x that reach the result
    signed = signed and bits == n  # else the sign bit lies above the result: plain bits
    correction = -(1 << (n - 1 + k)) if signed else 0  # field = x + 2**(n-1)
    neg = t.sign < 0
    if neg:  # -(f << k) = (~f << k) - ((2**bits - 1) << k)
        correction = -correction - (((1 << bits) - 1) << k)
    inv = "~" if neg else ""
    if not signed:
        field = f"{inv}{m.fit(x, bits)}"
    else:  # the sign bit is inverted once for the offset, once more when negated
        msb = m.bit(x, bits - 1)
        msb = msb if neg else f"~{msb}"
        field = msb if bits == 1 else f"{msb}, {inv}{m.ref(x.bits(0, bits - 1, False, 0, 0))}"
    pad = width - bits - k
    parts = [*([f"{pad}'b0"] if pad else []), field, *([f"{k}'b0"] if k else [])]
    return f"{{{', '.join(parts)}}}", correction


def relu(m: Module, name: str, x: Sig) -> Sig:
    """``max(x, 0)``: the sign bit selects zero or the low bits."""
    if x.lo >= 0:
        return x
    if x.hi <= 0:
        return const_sig(0)
    width = range_width(0, x.hi)[0]
    low = m.ref(x.bits(0, width, False, 0, x.hi))
    return m.assign(name, 0, x.hi, f"{m.bit(x, x.width - 1)} ? " f"{literal(0, width)} : {low}")


def tree(parts: list[str]) -> str:
    """A balanced sum: every operand is log2(n) adders from the result (not n, as in a
    left-to-right chain; event-driven simulators such as Icarus re-evaluate a chain once
    per changed operand)."""
    if len(parts) == 1:
        return parts[0]
    half = len(parts) // 2
    left, right = tree(parts[:half]), tree(parts[half:])
    return f"({left}\n            + {right})"


def _wrap(v: int, width: int, signed: bool) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if signed and v >> (width - 1) else v


def multiply(m: Module, name: str, x: Sig, w: Sig, block: list[str]) -> Sig:
    """The exact product of two variable values (a port weight times an activation).

    Both operands are extended to the product's width (from its value range) and multiplied
    there: the low bits of a two's complement product do not depend on signedness, so the
    result is exact; ``$signed`` only lets synthesis drop the copied sign bits again.
    """
    if w.const is not None or w.lo == w.hi:
        return product(m, name, x, w.lo, block)
    if x.const is not None or x.lo == x.hi:
        return product(m, name, w, x.lo, block)
    corners = [x.lo * w.lo, x.lo * w.hi, x.hi * w.lo, x.hi * w.hi]
    lo, hi = min(corners), max(corners)
    width = range_width(lo, hi)[0]
    expr = f"$signed({m.fit(x, width)}) * $signed({m.fit(w, width)})"
    m.cells["multipliers"] = m.cells.get("multipliers", 0) + 1
    return m.assign(name, lo, hi, expr, block=block)


def maximum(m: Module, name: str, a: Sig, b: Sig) -> Sig:
    """``max(a, b)``: one comparator and a multiplexer at the common width."""
    if a.lo >= b.hi:
        return a
    if b.lo >= a.hi:
        return b
    lo, hi = max(a.lo, b.lo), max(a.hi, b.hi)
    width, signed = range_width(min(a.lo, b.lo), hi)
    fa, fb = m.fit(a, width), m.fit(b, width)
    cond = f"$signed({fa}) > $signed({fb})" if signed else f"{fa} > {fb}"
    out_w = range_width(lo, hi)[0]  # the chosen value lies in lo..hi: its low bits hold it
    ra, rb = m.fit(a, out_w), m.fit(b, out_w)
    return m.assign(name, lo, hi, f"({cond}) ? {ra} : {rb}")


def at_least(m: Module, x: Sig, threshold: int) -> bool | str:
    """``x >= threshold`` for a constant threshold: a constant or a 1-bit expression."""
    if x.lo >= threshold:
        return True
    if x.hi < threshold:
        return False
    width, signed = range_width(min(x.lo, threshold), max(x.hi, threshold))
    fx = m.fit(x, width)
    if signed:
        return f"($signed({fx}) >= {literal(threshold, width, True)})"
    return f"({fx} >= {literal(threshold, width)})"
