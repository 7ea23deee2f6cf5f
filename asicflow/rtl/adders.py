"""A layer's shared adder graph (:mod:`asicflow.rtl.cmvm`) as Verilog two-input adders,
with pipeline registers placed by a delay model.

Every signal is exact: its width and signedness come from its value range (interval
arithmetic on the operands), except the nodes of an output's own sum tree when that range
does not fit the accumulator, which are computed modulo ``2**acc.width`` (the golden WRAP;
modular sums do not depend on the order of the additions).

Each output's remaining terms and its bias are summed as a tree built earliest-first
(Huffman on arrival time): the two operands available first are added first, so a deep
shared signal meets the others late. Pipelining (:class:`Pipe`) follows the same times:
a node whose delay would end past the stage budget starts a new stage, its operands taken
from registers (shared ``<signal>_s<stage>`` registers, one per signal and stage).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from asicflow.fixed import FixedType
from asicflow.rtl.cmvm import Cmvm
from asicflow.rtl.verilog import Module, Sig, const_sig, range_width


@dataclass(frozen=True)
class DelayModel:
    """Delay of a two-input adder of ``width`` bits: ``base + per_bit * width`` ns."""

    adder_base_ns: float = 0.0
    adder_per_bit_ns: float = 0.0

    def adder(self, width: int) -> float:
        return self.adder_base_ns + self.adder_per_bit_ns * width


@dataclass
class Pipe:
    """Where pipeline registers go: a stage holds at most ``budget_ns`` of logic.

    ``regs`` receives the register updates (``net <= value;``), to be emitted with the
    design's other data registers.
    """

    budget_ns: float = math.inf
    model: DelayModel = field(default_factory=DelayModel)
    regs: list[str] = field(default_factory=list)
    registers: int = 0  # flip-flops added


@dataclass
class Node:
    """A value available ``t`` ns into pipeline stage ``stage`` (relative to the layer)."""

    sig: Sig
    stage: int
    t: float
    later: dict[int, Sig] = field(default_factory=dict)  # the value registered to a stage


class Graph:
    """Emits two-input adders into ``m``, tracking each value's stage and arrival."""

    def __init__(self, m: Module, name: str, pipe: Pipe) -> None:
        self.m = m
        self.name = name
        self.pipe = pipe
        self.block: list[str] = []
        self.n = 0

    def at(self, node: Node, stage: int) -> Sig:
        """``node``'s value in ``stage`` (through registers from its own stage)."""
        if stage == node.stage or node.sig.const is not None or node.sig.lo == node.sig.hi:
            return node.sig
        assert stage > node.stage
        if stage not in node.later:
            prev = self.at(node, stage - 1)
            s = node.sig
            net = self.m.net(f"{s.base or 'k'}_s{stage}", s.width, reg=True)
            self.pipe.regs.append(f"{net} <= {self.m.ref(prev)};")
            self.pipe.registers += s.width
            node.later[stage] = Sig(net, 0, s.width, s.signed, s.lo, s.hi)
        return node.later[stage]

    def add2(
        self, a: Node, shift_a: int, b: Node, shift_b: int, sign: int, wrap: FixedType | None
    ) -> Node:
        """``(a << shift_a) + sign * (b << shift_b)``, exact (or modulo ``wrap``)."""
        sa, sb = a.sig, b.sig
        lo = (sa.lo << shift_a) + (sb.lo << shift_b if sign > 0 else -(sb.hi << shift_b))
        hi = (sa.hi << shift_a) + (sb.hi << shift_b if sign > 0 else -(sb.lo << shift_b))
        width, signed = range_width(lo, hi)
        if wrap is not None and not (wrap.raw_min <= lo and hi <= wrap.raw_max):
            width, signed, lo, hi = wrap.width, wrap.signed, wrap.raw_min, wrap.raw_max
        if lo == hi:
            return Node(const_sig(lo), 0, 0.0)
        const_a, const_b = sa.lo == sa.hi, sb.lo == sb.hi
        live = [n for n, c in ((a, const_a), (b, const_b)) if not c]
        stage = max(n.stage for n in live)
        t = max(n.t if n.stage == stage else 0.0 for n in live)
        d = self.pipe.model.adder(width)
        if t + d > self.pipe.budget_ns and t > 0:
            stage, t = stage + 1, 0.0
        ta = self._shifted(self.at(a, stage), shift_a, width)
        tb = self._shifted(self.at(b, stage), shift_b, width)
        if tb is None:
            expr = ta or f"{width}'d0"
        elif ta is None:
            expr = f"{width}'d0 - {tb}" if sign < 0 else tb
        else:
            expr = f"{ta} {'+' if sign > 0 else '-'} {tb}"
        self.n += 1
        sig = self.m.assign(f"{self.name}_{self.n}", lo, hi, expr, width, signed, self.block)
        self.m.cells["operands"] += 2
        return Node(sig, stage, t + d)

    def _shifted(self, s: Sig, shift: int, width: int) -> str | None:
        """``s << shift`` as ``width`` bits (``None``: it is 0 modulo ``2**width``)."""
        if shift >= width or (s.const is not None and s.const << shift == 0):
            return None
        if s.const is None and s.lo == s.hi:
            s = const_sig(s.lo)
        body = self.m.fit(s, width - shift)
        return f"{{{body}, {shift}'b0}}" if shift else body

    def flush(self) -> None:
        self.m.comb(self.block)
        self.block = []


@dataclass(order=True)
class _Item:
    stage: int
    t: float
    seq: int
    sign: int = field(compare=False)
    node: Node = field(compare=False)
    shift: int = field(compare=False)


def sum_tree(
    g: Graph, terms: Sequence[tuple[int, Node, int]], bias: int, wrap: FixedType | None
) -> Node:
    """``bias + sum(sign * (node << shift))`` as a tree of two-input adders, earliest
    operands first."""
    heap: list[_Item] = []
    seq = 0
    for s, node, k in terms:
        heap.append(_Item(node.stage, node.t, seq, s, node, k))
        seq += 1
    if bias or not heap:
        heap.append(_Item(0, 0.0, seq, 1, Node(const_sig(bias), 0, 0.0), 0))
        seq += 1
    heapq.heapify(heap)
    while len(heap) > 1:
        x, y = heapq.heappop(heap), heapq.heappop(heap)
        if x.sign < 0 and y.sign > 0:
            x, y = y, x
        k = min(x.shift, y.shift)
        node = g.add2(x.node, x.shift - k, y.node, y.shift - k, x.sign * y.sign, wrap)
        heapq.heappush(heap, _Item(node.stage, node.t, seq, x.sign, node, k))
        seq += 1
    last = heap[0]
    if last.sign > 0 and last.shift == 0:
        return last.node
    zero = Node(const_sig(0), 0, 0.0)
    return g.add2(zero, 0, last.node, last.shift, last.sign, wrap)


def emit_cmvm(
    g: Graph,
    sol: Cmvm,
    xs: Sequence[Node],
    biases: Sequence[int],
    shift: int,
    wrap: FixedType | None,
) -> list[Node]:
    """Output ``j``: ``biases[j] + (sum_i W[j][i] * xs[i]) << shift`` (modulo ``wrap``)."""
    srcs = list(xs)
    for op in sol.ops:
        srcs.append(g.add2(srcs[op.a], op.shift_a, srcs[op.b], op.shift_b, op.sign, None))
    return [
        sum_tree(g, [(t.sign, srcs[t.src], t.shift + shift) for t in out], bias, wrap)
        for out, bias in zip(sol.outputs, biases, strict=True)
    ]
