"""Time-multiplexed multiply-accumulate for a reuse factor R > 1 (``Dense.reuse``,
``Conv.reuse``).

A design whose largest reuse factor is R works in beats of R cycles (see
:mod:`asicflow.rtl.generator`): a free-running ``phase`` counter (0 .. R-1, held at R-1 while
the pipeline stalls) and pipeline registers loaded only at the end of a beat (``advance``).
During a beat, a layer with reuse r shares its arithmetic r ways. An accumulator register
per output holds the sum of the earlier phases; in phase R-1 the last terms and the bias
complete the sum combinationally and the output register takes it. Every sum is modular at
the accumulator width, exactly as the golden model's WRAP.

- Constant weights, exact accumulator (:func:`_digit_row`): each product is its weight's
  canonical signed digits ``+-(x << k)`` (zero weights have none); a row's digits share
  ``ceil(digits / r)`` adder operands, each a multiplexer on ``phase``. No multiplier: a
  constant product costs about one adder, and a multiplexer less than the adders it saves,
  so area falls from R = 1 on (a shared general multiplier costs more than the r constant
  products it replaces until r is about 4).
- Port weights, or an accumulator that rounds each product: ``ceil(n_j / r)`` multipliers
  per output (``n_j`` its products, zero constant weights skipped). In phase p, multiplier
  u forms product ``p * U_j + u``, its activation and weight chosen by multiplexers on
  ``phase`` (a ``case`` over constants, or over ``params_in`` fields); identical
  selections are one shared multiplexer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from asicflow.fixed import FixedType
from asicflow.fixed import cast as fixed_cast
from asicflow.rtl.arith import Term, add, multiply, operand, tree
from asicflow.rtl.cast import cast
from asicflow.rtl.csd import csd
from asicflow.rtl.verilog import Module, Sig, const_sig, literal, range_width

Weight = int | Sig


@dataclass
class Control:
    """The beat controller's signals, as the multiplexed layers read them."""

    phase: Sig  # the phase counter register
    beat: int  # R: cycles per beat
    acc_regs: list[str] = field(default_factory=list)  # accumulator updates (when not last)
    multipliers: int = 0
    operands: int = 0  # multiplexed digit operands of constant-weight rows
    muxes: dict[tuple[object, ...], Sig] = field(default_factory=dict)  # shared selections


def _mux(m: Module, name: str, ctl: Control, choices: Sequence[Sig | int | None]) -> Sig:
    """``choices[phase]`` (``None`` or a missing phase: 0) as a ``case`` on ``phase``."""
    vals = [
        const_sig(0) if c is None else (const_sig(c) if isinstance(c, int) else c) for c in choices
    ]
    if all(v.lo == v.hi == 0 for v in vals):
        return const_sig(0)
    key = tuple((v.base, v.lsb, v.width, v.signed, v.lo, v.hi, v.const) for v in vals)
    if key in ctl.muxes:
        return ctl.muxes[key]
    lo = min(0, *(v.lo for v in vals))
    hi = max(0, *(v.hi for v in vals))
    width, signed = range_width(lo, hi)
    pw = ctl.phase.width
    net = m.net(name, width, reg=True, flop=False)
    lines = [f"case ({m.ref(ctl.phase)})"]
    for p, v in enumerate(vals):
        if v.const is None and v.lo == v.hi:
            v = const_sig(v.lo)
        if v.const is not None and v.const == 0:
            continue  # the default
        lines.append(f"    {literal(p, pw)}: {net} = {m.fit(v, width)};")
    lines.append(f"    default: {net} = {literal(0, width)};")
    lines.append("endcase")
    m.body += ["always @* begin", *[f"    {ln}" for ln in lines], "end"]
    ctl.muxes[key] = Sig(net, 0, width, signed, lo, hi)
    return ctl.muxes[key]


def mux_dots(
    m: Module,
    ctl: Control,
    name: str,
    rows: list[list[tuple[Sig, Weight]]],
    biases: Sequence[Weight],
    fx: int,
    fw: int,
    fb: int,
    acc: FixedType,
    out_type: FixedType,
    reuse: int,
) -> list[Sig]:
    """The golden ``mac`` rule per row with ``reuse`` phases per product slot."""
    acc_wrap = acc.with_modes(acc.rounding, "WRAP")
    exact = acc.frac >= fx + fw
    shift = acc.frac - fx - fw if exact else 0
    r = min(reuse, ctl.beat)
    outs = []
    for j, row in enumerate(rows):
        b = biases[j]
        if exact and isinstance(b, int) and all(isinstance(w, int) for _, w in row):
            bias = int(fixed_cast(np.array([b]), fb, acc_wrap)[0])
            const_row = [(x, w) for x, w in row if isinstance(w, int)]
            total = _digit_row(m, ctl, f"{name}{j}", const_row, bias, shift, acc, r)
            outs.append(cast(m, total, acc.frac, out_type, f"{name}_{j}"))
            continue
        terms = [(x, w) for x, w in row if not (isinstance(w, int) and w == 0)]
        units = -(-len(terms) // r) if terms else 0
        if units == -(-len(row) // r):
            # skipping zeros saves no multiplier: keep every position, so that this row's
            # activation selections are the same as the other rows' (one shared multiplexer)
            terms = list(row)
        block: list[str] = []
        prods: list[Term] = []
        for u in range(units):
            xs: list[Sig | int | None] = [None] * ctl.beat
            ws: list[Sig | int | None] = [None] * ctl.beat
            for p in range(r):
                i = p * units + u
                if i < len(terms):
                    xs[p], ws[p] = terms[i]
            xsel = _mux(m, f"{name}_x{j}_{u}", ctl, xs)
            wsel = _mux(m, f"{name}_w{j}_{u}", ctl, ws)
            pr = multiply(m, f"{name}_m{j}_{u}", xsel, wsel, block)
            ctl.multipliers += 1
            if not exact:
                pr = cast(m, pr, fx + fw, acc_wrap, f"{name}_m{j}_{u}_acc")
            prods.append(Term(1, pr, shift))
        m.comb(block)
        # the sum of the earlier phases (0 at phase 0) plus this phase's products
        reg, before = _earlier(m, ctl, f"{name}{j}", acc)
        block = []
        partial = add(m, f"{name}_part{j}", 0, [Term(1, before, 0), *prods], acc, block)
        m.comb(block)
        ctl.acc_regs.append(f"{reg} <= {m.fit(partial, acc.width)};")
        block = []
        if isinstance(b, int):
            bias = int(fixed_cast(np.array([b]), fb, acc_wrap)[0])
            total = add(m, f"{name}_acc{j}", bias, [Term(1, partial, 0)], acc, block)
        else:
            bc = cast(m, b, fb, acc_wrap, f"{name}_b{j}")
            total = add(m, f"{name}_acc{j}", 0, [Term(1, partial, 0), Term(1, bc, 0)], acc, block)
        m.comb(block)
        outs.append(cast(m, total, acc.frac, out_type, f"{name}_{j}"))
    return outs


def _earlier(m: Module, ctl: Control, name: str, acc: FixedType) -> tuple[str, Sig]:
    """A row's accumulator register and the sum of its earlier phases (the register, or 0 in
    phase 0). The caller adds the register's update (taken in every phase but the last)."""
    reg = m.net(f"{name}_accq", acc.width, reg=True)
    held = Sig(reg, 0, acc.width, acc.signed, acc.raw_min, acc.raw_max)
    phase0 = f"({m.ref(ctl.phase)} == {literal(0, ctl.phase.width)})"
    before = m.assign(
        f"{name}_prev",
        acc.raw_min,
        acc.raw_max,
        f"{phase0} ? {literal(0, acc.width)} : {m.ref(held)}",
        width=acc.width,
        signed=acc.signed,
    )
    return reg, before


def _digit_row(
    m: Module,
    ctl: Control,
    name: str,
    row: list[tuple[Sig, int]],
    bias: int,
    shift: int,
    acc: FixedType,
    r: int,
) -> Sig:
    """One row with constant weights and an exact accumulator, as multiplexed adder operands.

    A constant product is a sum of its weight's canonical signed digits ``+-(x << k)``; the
    row's digits, sorted by shift, are dealt ``r`` at a time to ``ceil(digits / r)`` adder
    operands, each a multiplexer on ``phase`` over its digits' fields (zero weights have no
    digit). So the adder tree has 1/r of the operands, each behind an r-input multiplexer,
    and no multiplier. The fields' offset constants, and the bias in the last phase, are one
    more operand chosen by phase. Sums are modulo ``2**acc.width`` (the golden WRAP).
    """
    width = acc.width
    digits = sorted(
        ((k + shift, d, x) for x, w in row for k, d in csd(w) if k + shift < width),
        key=lambda t: (t[0], t[2].base, t[2].lsb),
    )
    reg, before = _earlier(m, ctl, name, acc)
    text, corr = operand(m, Term(1, before, 0), width)
    parts = [text]
    consts = [corr] * ctl.beat
    consts[ctl.beat - 1] += bias
    for u in range(-(-len(digits) // r)):
        fields: list[str | None] = [None] * ctl.beat
        for p, (k, d, x) in enumerate(digits[u * r : (u + 1) * r]):
            fields[p], c = operand(m, Term(d, x, k), width)
            consts[p] += c
        parts.append(_mux_text(m, f"{name}_d{u}", ctl, fields, width))
        ctl.operands += 1
    consts = [c & ((1 << width) - 1) for c in consts]
    if len(set(consts)) > 1:
        parts.append(m.fit(_mux(m, f"{name}_k", ctl, consts), width))
    elif consts[0]:
        parts.append(literal(consts[0], width))
    m.cells["operands"] += len(parts)
    partial = m.assign(f"{name}_part", acc.raw_min, acc.raw_max, tree(parts), width, acc.signed)
    ctl.acc_regs.append(f"{reg} <= {m.fit(partial, width)};")
    return partial


def _mux_text(m: Module, name: str, ctl: Control, fields: list[str | None], width: int) -> str:
    """A ``width``-bit net: ``fields[phase]`` (``None``: 0), as a ``case`` on ``phase``."""
    net = m.net(name, width, reg=True, flop=False)
    lines = [f"case ({m.ref(ctl.phase)})"]
    lines += [f"    {literal(p, ctl.phase.width)}: {net} = {f};" for p, f in enumerate(fields) if f]
    lines += [f"    default: {net} = {literal(0, width)};", "endcase"]
    m.body += ["always @* begin", *[f"    {ln}" for ln in lines], "end"]
    return net
