"""Time-multiplexed multiply-accumulate for a reuse factor R > 1 (``Dense.reuse``,
``Conv.reuse``).

A design whose largest reuse factor is R works in beats of R cycles (see
:mod:`asicflow.rtl.generator`): a free-running ``phase`` counter (0 .. R-1, held at R-1 while
the pipeline stalls) and pipeline registers loaded only at the end of a beat (``advance``).
During a beat, a layer with reuse r computes each output j with ``ceil(n_j / r)`` multipliers
(``n_j`` its products; zero constant weights skipped): in phase p, multiplier u forms product
``p * U_j + u``, its activation chosen by a multiplexer on ``phase`` and its weight read from
a ROM (a ``case`` on ``phase``; in ports mode a multiplexer over ``params_in`` fields). An
accumulator register per output holds the sum of the earlier phases; at phase R-1 the last
products and the bias complete the sum combinationally and the output register takes it.
Every sum is modular at the accumulator width, exactly as the golden model's WRAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from asicflow.fixed import FixedType
from asicflow.fixed import cast as fixed_cast
from asicflow.rtl.arith import Term, add, multiply
from asicflow.rtl.cast import cast
from asicflow.rtl.verilog import Module, Sig, const_sig, literal, range_width

Weight = int | Sig


@dataclass
class Control:
    """The beat controller's signals, as the multiplexed layers read them."""

    phase: Sig  # the phase counter register
    beat: int  # R: cycles per beat
    acc_regs: list[str] = field(default_factory=list)  # accumulator updates (when not last)
    multipliers: int = 0


def _mux(m: Module, name: str, ctl: Control, choices: Sequence[Sig | int | None]) -> Sig:
    """``choices[phase]`` (``None`` or a missing phase: 0) as a ``case`` on ``phase``."""
    vals = [
        const_sig(0) if c is None else (const_sig(c) if isinstance(c, int) else c) for c in choices
    ]
    if all(v.lo == v.hi == 0 for v in vals):
        return const_sig(0)
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
    return Sig(net, 0, width, signed, lo, hi)


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
    phase0 = f"({m.ref(ctl.phase)} == {literal(0, ctl.phase.width)})"
    outs = []
    for j, row in enumerate(rows):
        terms = [(x, w) for x, w in row if not (isinstance(w, int) and w == 0)]
        units = -(-len(terms) // r) if terms else 0
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
        reg = m.net(f"{name}_accq{j}", acc.width, reg=True)
        held = Sig(reg, 0, acc.width, acc.signed, acc.raw_min, acc.raw_max)
        before = m.assign(
            f"{name}_prev{j}",
            acc.raw_min,
            acc.raw_max,
            f"{phase0} ? {literal(0, acc.width)} : {m.ref(held)}",
            width=acc.width,
            signed=acc.signed,
        )
        block = []
        partial = add(m, f"{name}_part{j}", 0, [Term(1, before, 0), *prods], acc, block)
        m.comb(block)
        ctl.acc_regs.append(f"{reg} <= {m.fit(partial, acc.width)};")
        b = biases[j]
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
