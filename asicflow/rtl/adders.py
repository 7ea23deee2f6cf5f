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
    """Bit-level model of the adders (ns) as synthesis builds them, calibrated per PDK corner
    (:mod:`asicflow.rtl.calibrate`, kept in the PDK configuration's ``delay_model``).

    Yosys merges a chain of additions whose partial sums have no other reader into one
    multi-operand sum: carry-save levels (:meth:`merge`, ``csa_ns`` each) and one final
    carry-propagate adder. A sum that is read twice, registered or cast is complete (binary):
    its carry-propagate adder (:meth:`add`) makes output bit ``i`` ready ``sum_ns`` after the
    latest of its redundant bits and its carry-in, the carry out of bit ``i`` ``carry_ns``
    after the same; a bit with a single live operand and no carry is a wire. A signal read by
    many adders drives their load: its bits are later by ``fanout_ns`` per doubling of its
    readers. ``register_ns`` is a stage's flip-flop overhead (clock to output plus setup),
    taken off the clock period; ``margin_ns`` the calibration's worst underestimate;
    ``derate`` the measured over the modelled worst stage of pipelined layers; ``cast_ns``
    the extra cost of a layer's cast and activation measured on pipelined networks;
    ``voter_ns`` what TMR insertion adds to a stage (its majority voters), measured;
    ``mul_ns`` a multiplier's partial products beyond ``sum_ns`` and its carry-save levels.
    """

    sum_ns: float = 0.0
    carry_ns: float = 0.0
    register_ns: float = 0.0
    margin_ns: float = 0.0
    fanout_ns: float = 0.0  # a signal read by n adders: log2(n) * fanout_ns later (its load)
    csa_ns: float = 0.0  # one carry-save (3:2) level of a merged sum
    derate: float = 1.0  # measured / predicted worst stage of pipelined calibration designs
    cast_ns: float = 0.0  # a layer's cast + activation beyond 2 * sum_ns (calibration networks)
    voter_ns: float = 0.0  # a TMR design's majority voter after every register (options.tmr)
    mul_ns: float = 0.0  # a multiplier's partial products (weights as ports), beyond its tree

    def merge(self, a: Sequence[float | None], b: Sequence[float | None]) -> list[float | None]:
        """Arrival of each bit of ``a + b`` kept in carry-save form (no carry propagation:
        bit ``i`` depends on the operands' bits ``i`` and ``i - 1``)."""
        out: list[float | None] = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            ins = [
                v for v in (x, y, a[i - 1] if i else None, b[i - 1] if i else None) if v is not None
            ]
            out.append(max(ins) + self.csa_ns if ins else None)
        return out

    def load(self, readers: int) -> float:
        return self.fanout_ns * math.log2(readers) if readers > 1 else 0.0

    def add(self, a: Sequence[float | None], b: Sequence[float | None]) -> list[float | None]:
        """Arrival of each output bit from the operand bits' arrivals (``None``: a constant
        zero bit)."""
        out: list[float | None] = []
        carry: float | None = None
        for x, y in zip(a, b, strict=True):
            ins = [v for v in (x, y, carry) if v is not None]
            if len(ins) < 2:
                out.append(ins[0] if ins else None)
                carry = None
                continue
            t = max(ins)
            out.append(t + self.sum_ns)
            carry = t + self.carry_ns
        return out

    def cast(self, arrival: float, width: int) -> float:
        """A rounding/saturating cast of a ``width``-bit sum whose last bit is ready at
        ``arrival``: the rounding increment ripples right behind the sum's own carry (a sum's
        bits arrive low bits first), so only its last bit and the saturation select remain
        (``width`` kept for models where they differ; registered sums measured with and
        without the cast differ by 0.4-0.6 ns on sky130hd tt), plus ``cast_ns``: what the
        calibration networks measured beyond that where a stage ends in a layer's cast and
        activation (2-3 ns on sky130hd tt, where the sum's bits arrive together from a
        pipeline register)."""
        del width
        return arrival + 2 * self.sum_ns + self.cast_ns

    def budget(self, period_ns: float, voters: bool = False) -> float:
        """The modelled logic that fits one stage of a ``period_ns`` clock (``voters``: a
        TMR design, each stage starting behind a majority voter)."""
        voter = self.voter_ns if voters else 0.0
        return (period_ns - self.register_ns - voter - self.margin_ns) / max(self.derate, 1.0)


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
    worst_ns: float = 0.0  # the latest modelled arrival in any stage
    per_layer: int = 0  # > 0: this many stages in every shared adder graph, whatever the clock
    # Stages continuing from one layer's outputs into the next layer's adders. Off in the flows:
    # the delay model underestimates a path through a cast and an activation into the next
    # layer's adders by up to 3.5 ns (sky130hd tt, measured on the calibration networks), so
    # rtl.pipeline auto registers every layer's outputs and cuts inside the layers only.
    across_layers: bool = False

    @property
    def spans_layers(self) -> bool:
        """Stages placed by the clock budget, across layer boundaries."""
        return self.budget_ns < math.inf and not self.per_layer and self.across_layers


@dataclass
class Node:
    """A value available ``t`` ns into pipeline stage ``stage`` (relative to the layer);
    ``arr``: each bit's arrival (empty: every bit at ``t``)."""

    sig: Sig
    stage: int
    t: float
    later: dict[int, Sig] = field(default_factory=dict)  # the value registered to a stage
    arr: tuple[float | None, ...] = ()  # complete (binary) bits
    csa: tuple[float | None, ...] = ()  # carry-save bits (a sum Yosys can merge onward)
    single: bool = False  # read only by one adder: its carry-save form goes on

    def merged(self, stage: int) -> bool:
        """Whether the adder reading this value in ``stage`` continues its carry-save sum."""
        return self.single and bool(self.csa) and stage == self.stage

    def bits(self, stage: int, shift: int, width: int) -> list[float | None]:
        """Arrival of the ``width`` bits of ``self << shift`` seen in ``stage`` (a register
        of a later stage: every bit at 0; a constant: every bit at 0, it is logic)."""
        s = self.sig
        own = stage == self.stage and s.const is None and s.lo != s.hi
        form = self.csa if self.merged(stage) else self.arr
        src = list(form) if own and form else [self.t if own else 0.0] * s.width
        ext = src[-1] if s.signed and s.lo < 0 else None  # sign or zero extension
        out: list[float | None] = [None] * min(shift, width)
        for i in range(width - len(out)):
            out.append(src[i] if i < len(src) else ext)
        return out


class Graph:
    """Emits two-input adders into ``m``, tracking each value's stage and arrival."""

    def __init__(self, m: Module, name: str, pipe: Pipe, dry: bool = False) -> None:
        self.m = m
        self.name = name
        self.pipe = pipe
        self.budget = pipe.budget_ns
        self.dry = dry  # only the arrival times: no Verilog, no registers
        self.block: list[str] = []
        self.n = 0

    def at(self, node: Node, stage: int) -> Sig:
        """``node``'s value in ``stage`` (through registers from its own stage)."""
        if stage == node.stage or node.sig.const is not None or node.sig.lo == node.sig.hi:
            return node.sig
        if self.dry:
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
        red, arr = self._arrival(a, shift_a, b, shift_b, stage, width)
        if _latest(arr) > self.budget and any(n.stage == stage and n.t > 0 for n in live):
            stage += 1  # the operands from registers: a new stage starts here
            red, arr = self._arrival(a, shift_a, b, shift_b, stage, width)
        if self.dry:
            return Node(
                Sig("dry", 0, width, signed, lo, hi),
                stage,
                _latest(arr),
                arr=tuple(arr),
                csa=tuple(red),
            )
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
        self.pipe.worst_ns = max(self.pipe.worst_ns, _latest(arr))
        return Node(sig, stage, _latest(arr), arr=tuple(arr), csa=tuple(red))

    def _arrival(
        self, a: Node, shift_a: int, b: Node, shift_b: int, stage: int, width: int
    ) -> tuple[list[float | None], list[float | None]]:
        """(carry-save, complete) arrival of each bit of the sum in ``stage``."""
        model = self.pipe.model
        xa, xb = a.bits(stage, shift_a, width), b.bits(stage, shift_b, width)
        if a.merged(stage) or b.merged(stage):
            red = model.merge(xa, xb)
        else:  # two complete operands: the pair itself is the carry-save form
            red = [
                None if x is None and y is None else max(x or 0.0, y or 0.0)
                for x, y in zip(xa, xb, strict=True)
            ]
            return red, model.add(xa, xb)
        return red, model.add(red, red)  # the final carry-propagate adder over it

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


def _loaded(node: Node, delay: float) -> Node:
    """``node`` as its readers see it: every bit ``delay`` later (the load of its fanout)."""
    if delay <= 0.0 or node.sig.const is not None or node.sig.lo == node.sig.hi:
        return node
    arr = node.arr or (node.t,) * node.sig.width
    node.arr = tuple(None if t is None else t + delay for t in arr)
    node.csa = tuple(None if t is None else t + delay for t in node.csa)
    node.t += delay
    return node


def _latest(arr: Sequence[float | None]) -> float:
    return max([t for t in arr if t is not None] + [0.0])


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
        node.single = True  # read by the next adder of the tree only (the root: the cast)
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
    readers = [0] * (len(xs) + len(sol.ops))
    for op in sol.ops:
        readers[op.a] += 1
        readers[op.b] += 1
    for out in sol.outputs:
        for t in out:
            readers[t.src] += 1
    model = g.pipe.model
    srcs = [_loaded(x, model.load(readers[i])) for i, x in enumerate(xs)]
    for op in sol.ops:
        node = g.add2(srcs[op.a], op.shift_a, srcs[op.b], op.shift_b, op.sign, None)
        node.single = readers[len(srcs)] == 1
        srcs.append(_loaded(node, model.load(readers[len(srcs)])))
    return [
        sum_tree(g, [(t.sign, srcs[t.src], t.shift + shift) for t in out], bias, wrap)
        for out, bias in zip(sol.outputs, biases, strict=True)
    ]
