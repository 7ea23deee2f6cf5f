"""Per-layer combinational logic of the fully parallel generator (one rule per IR kind).

Every rule maps a layer's input elements (:class:`Sig` values, flat in the IR's C order) to
its output elements, bit exactly as :mod:`asicflow.golden` computes them. ``Dense`` and
``Conv`` share one rule (:meth:`LayerLogic.dots`): a convolution output is a Dense output
over the in-bounds taps of its window. A weight is either a constant (canonical signed digit
shift-adds, zero weights skipped; with an exact accumulator the rows over the same inputs are
one shared adder graph, :meth:`LayerLogic.shared`) or a field of the ``params_in`` port (a
real multiplier, sized from the weight type's range; nothing skipped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from asicflow.fixed import FixedType
from asicflow.fixed import cast as fixed_cast
from asicflow.ir import (
    Activation,
    Add,
    Concat,
    Conv,
    Dense,
    Layer,
    Pool,
    ScaleShift,
    Steps,
)
from asicflow.rtl.adders import DelayModel, Graph, Node, Pipe, _loaded, emit_cmvm, sum_tree
from asicflow.rtl.arith import Term, add, at_least, maximum, multiply, product, relu
from asicflow.rtl.cast import cast
from asicflow.rtl.cmvm import Cmvm, solve
from asicflow.rtl.csd import csd
from asicflow.rtl.reuse import Control, mux_dots
from asicflow.rtl.verilog import Module, Sig, const_sig, literal, range_width

Weight = int | Sig  # a constant weight or a port field
Params = dict[tuple[str, str], list[Sig]]  # (layer, array) -> element fields of params_in


def _num(w: int) -> str:
    return f"m{-w}" if w < 0 else str(w)


class LayerLogic:
    """Emits layer logic into module ``m``; ``params`` holds port weights (ports mode)."""

    def __init__(
        self,
        m: Module,
        params: Params | None = None,
        ctl: Control | None = None,
        pipe: Pipe | None = None,
    ) -> None:
        self.m = m
        self.params = params
        self.ctl = ctl  # the beat controller of a design with reuse factors > 1
        self.pipe = pipe or Pipe()
        self.stages = 0  # pipeline registers inside the last layer emitted
        self.t_in = 0.0  # arrival (ns into its stage) of the next layer's inputs
        self.t_out = 0.0  # arrival of the last pipelined layer's outputs

    def pipelined(self, lay: Layer, in_type: FixedType) -> bool:
        """Whether ``lay`` is built as a shared adder graph placed by the pipeliner (so its
        inputs may arrive unregistered, ``t_in`` into a stage)."""
        return (
            self.pipe.spans_layers
            and isinstance(lay, Dense | Conv)
            and self.params is None
            and not (lay.reuse > 1 and self.ctl is not None)
            and lay.accum.frac >= in_type.frac + lay.weight_type.frac
        )

    def take_stages(self) -> int:
        """Registers inside the layer just emitted (its extra latency), then 0."""
        n, self.stages = self.stages, 0
        return n

    # -- parameters ----------------------------------------------------------------------
    def array(self, lay: Layer, name: str) -> Sequence[Weight]:
        """A parameter array, flat in C order: port fields in ports mode, else constants."""
        if self.params is not None:
            return self.params[lay.name, name]
        values: np.ndarray = getattr(lay, name)
        return [int(v) for v in values.reshape(-1)]

    # -- multiply-accumulate (Dense, Conv, ScaleShift) -------------------------------------
    def dots(
        self,
        name: str,
        rows: list[list[tuple[Sig, Weight]]],
        biases: Sequence[Weight],
        fx: int,
        fw: int,
        fb: int,
        acc: FixedType,
        out_type: FixedType,
        wrap: bool = True,
    ) -> list[Sig]:
        """``cast(cast(b_j, acc) + sum cast(x*w, acc), acc.frac, out_type)`` per row j (the
        golden ``mac`` rule; ``wrap=False``: the exact ScaleShift sum, never wrapped)."""
        m = self.m
        acc_wrap = acc.with_modes(acc.rounding, "WRAP")
        exact = acc.frac >= fx + fw  # every product lands exactly in the accumulator
        shift = acc.frac - fx - fw
        int_biases = [b for b in biases if isinstance(b, int)]
        const_rows = [[(x, w) for x, w in row if isinstance(w, int)] for row in rows]
        if exact and len(int_biases) == len(biases):
            if all(len(c) == len(r) for c, r in zip(const_rows, rows, strict=True)):
                totals = self.shared(name, const_rows, int_biases, fb, shift, acc_wrap, wrap)
                return [
                    cast(m, total, acc.frac, out_type, f"{name}_{j}")
                    for j, total in enumerate(totals)
                ]
        if exact and self.pipe.budget_ns < math.inf and not self.pipe.per_layer:
            return self.piped_dots(name, rows, biases, fb, shift, acc_wrap, out_type, wrap)
        block: list[str] = []
        prods: dict[tuple[Sig, Weight], Sig] = {}

        def prod(x: Sig, w: Weight) -> Sig:
            key = (x, w)
            if key not in prods:
                wname = _num(w) if isinstance(w, int) else f"w{w.lsb}"
                pname = f"{name}_p_{x.base}_{x.lsb}_{wname}"
                p = (
                    product(m, pname, x, w, block)
                    if isinstance(w, int)
                    else multiply(m, pname, x, w, block)
                )
                if not exact:  # each product rounded to the accumulator's LSB first
                    p = cast(m, p, fx + fw, acc_wrap, f"{pname}_acc")
                prods[key] = p
            return prods[key]

        # products are emitted first (their block), then the sums (a second block)
        all_terms: list[tuple[int, list[Term]]] = []
        for j, row in enumerate(rows):
            terms: list[Term] = []
            bias = 0
            b = biases[j]
            if isinstance(b, int):
                bias = int(fixed_cast(np.array([b]), fb, acc_wrap)[0])
            else:
                bc = cast(m, b, fb, acc_wrap, f"{name}_b{j}")
                if bc.const is not None or bc.lo == bc.hi:
                    bias = bc.lo
                else:
                    terms.append(Term(1, bc, 0))
            for x, w in row:
                if isinstance(w, int):
                    if w == 0:
                        continue
                    if exact and x.lo != x.hi:
                        terms += [Term(d, x, k + shift) for k, d in csd(w)]
                        continue
                    if exact:  # a constant input
                        bias += (x.lo * w) << shift
                        continue
                p = prod(x, w)
                terms.append(Term(1, p, shift if exact else 0))
            all_terms.append((bias, terms))
        m.comb(block)
        block = []
        totals = [
            add(m, f"{name}_acc{j}", bias, terms, acc if wrap else None, block)
            for j, (bias, terms) in enumerate(all_terms)
        ]
        m.comb(block)
        return [cast(m, total, acc.frac, out_type, f"{name}_{j}") for j, total in enumerate(totals)]

    def shared(
        self,
        name: str,
        rows: list[list[tuple[Sig, int]]],
        biases: list[int],
        fb: int,
        shift: int,
        acc_wrap: FixedType,
        wrap: bool,
    ) -> list[Sig]:
        """Constant weights, exact accumulator: the rows that read the same inputs (all of a
        Dense, one output position of a Conv) are one constant matrix, built as a shared adder
        graph (:mod:`asicflow.rtl.cmvm`), pipelined by ``self.pipe``; the sums before the cast,
        all in the layer's last internal stage."""
        g = Graph(self.m, f"{name}_a", self.pipe)
        groups: dict[tuple[Sig, ...], list[int]] = {}
        mats: list[dict[Sig, int]] = []
        bias_raw: list[int] = []
        for j, row in enumerate(rows):
            col: dict[Sig, int] = {}
            bias = int(fixed_cast(np.array([biases[j]]), fb, acc_wrap)[0])
            for x, w in row:
                if x.lo == x.hi:  # a constant input
                    bias += (x.lo * w) << shift
                else:  # zero weights too: rows over the same inputs are one matrix
                    col[x] = col.get(x, 0) + w
            mats.append(col)
            bias_raw.append(bias)
            groups.setdefault(tuple(col), []).append(j)
        solved: dict[tuple[tuple[int, ...], ...], Cmvm] = {}
        target = acc_wrap if wrap else None
        width = acc_wrap.width  # the rounding / saturating cast after the sums

        def emit(g: Graph) -> tuple[dict[int, Node], int]:
            """Every output's sum node, and the stage the casts are in."""
            nodes: dict[int, Node] = {}
            for cols, js in groups.items():
                matrix = tuple(tuple(mats[j][x] for x in cols) for j in js)
                if matrix not in solved:
                    solved[matrix] = solve(matrix, len(cols))
                xs = [Node(x, 0, self.t_in) for x in cols]
                outs = emit_cmvm(g, solved[matrix], xs, [bias_raw[j] for j in js], shift, target)
                nodes.update(zip(js, outs, strict=True))
            last = max([n.stage for n in nodes.values()] + [0])
            model = self.pipe.model
            if any(n.stage == last and model.cast(n.t, width) > g.budget for n in nodes.values()):
                last += 1
            return nodes, last

        g = Graph(self.m, f"{name}_a", self.pipe)
        if self.pipe.per_layer:
            g.budget = self._layer_budget(emit, self.pipe.per_layer)
        nodes, last = emit(g)
        totals = [g.at(nodes[j], last) for j in range(len(rows))]
        g.flush()
        self.stages += last
        self.t_out = max(
            [self.pipe.model.cast(n.t if n.stage == last else 0.0, width) for n in nodes.values()]
            + [0.0]
        )
        self.pipe.worst_ns = max(self.pipe.worst_ns, self.t_out)
        return totals

    def piped_dots(
        self,
        name: str,
        rows: list[list[tuple[Sig, Weight]]],
        biases: Sequence[Weight],
        fb: int,
        shift: int,
        acc_wrap: FixedType,
        out_type: FixedType,
        wrap: bool,
    ) -> list[Sig]:
        """Port weights (or port biases), exact accumulator, clock-budgeted pipeline: each
        product ``x * w`` is a carry-save value (:func:`product_node`) summed with the row's
        other terms by the pipeliner's adder tree (:func:`~asicflow.rtl.adders.sum_tree`),
        which registers the products, partial sums or sums where a stage's budget ends."""
        m = self.m
        model = self.pipe.model
        block: list[str] = []
        inputs: dict[Sig, Node] = {}
        rows_terms: list[tuple[int, list[tuple[int, Node, int]]]] = []
        readers: dict[Sig, int] = {}
        for row in rows:
            for x, w in row:
                if x.lo != x.hi and isinstance(w, int) and w:
                    readers[x] = readers.get(x, 0) + len(csd(w))
        for j, row in enumerate(rows):
            terms: list[tuple[int, Node, int]] = []
            b = biases[j]
            bias = 0
            if isinstance(b, int):
                bias = int(fixed_cast(np.array([b]), fb, acc_wrap)[0])
            else:
                bc = cast(m, b, fb, acc_wrap, f"{name}_b{j}")
                if bc.const is not None or bc.lo == bc.hi:
                    bias = bc.lo
                else:
                    terms.append((1, Node(bc, 0, 0.0), 0))
            for k, (x, w) in enumerate(row):
                if isinstance(w, int):
                    if w == 0:
                        continue
                    if x.lo == x.hi:  # a constant input
                        bias += (x.lo * w) << shift
                        continue
                    if x not in inputs:
                        inputs[x] = _loaded(Node(x, 0, 0.0), model.load(readers[x]))
                    terms += [(d, inputs[x], e + shift) for e, d in csd(w)]
                    continue
                p = multiply(m, f"{name}_p{j}_{k}", x, w, block)
                if p.const is not None or p.lo == p.hi:
                    bias += p.lo << shift
                    continue
                terms.append((1, product_node(p, x, w, model), shift))
            rows_terms.append((bias, terms))
        m.comb(block)
        g = Graph(m, f"{name}_a", self.pipe)
        target = acc_wrap if wrap else None
        nodes = [sum_tree(g, terms, bias, target) for bias, terms in rows_terms]
        width = acc_wrap.width
        last = max([n.stage for n in nodes] + [0])
        if any(n.stage == last and model.cast(n.t, width) > g.budget for n in nodes):
            last += 1
        totals = [g.at(n, last) for n in nodes]
        g.flush()
        self.stages += last
        self.t_out = max(
            [model.cast(n.t if n.stage == last else 0.0, width) for n in nodes] + [0.0]
        )
        self.pipe.worst_ns = max(self.pipe.worst_ns, self.t_out)
        return [cast(m, t, acc_wrap.frac, out_type, f"{name}_{j}") for j, t in enumerate(totals)]

    def _layer_budget(
        self, emit: Callable[[Graph], tuple[dict[int, Node], int]], stages: int
    ) -> float:
        """The smallest stage budget (ns) that cuts the layer into at most ``stages`` stages,
        by dry runs: from its unpipelined delay / ``stages`` up in steps of 5%."""
        model = self.pipe.model
        dry = Graph(self.m, "dry", self.pipe, dry=True)
        nodes, _ = emit(dry)
        total = max([model.cast(n.t, n.sig.width) for n in nodes.values()] + [0.0])
        budget = total / stages
        while budget < total:
            dry = Graph(self.m, "dry", self.pipe, dry=True)
            dry.budget = budget
            if emit(dry)[1] + 1 <= stages:
                return budget
            budget *= 1.05
        return math.inf

    def mac(
        self,
        lay: Dense | Conv,
        rows: list[list[tuple[Sig, Weight]]],
        biases: Sequence[Weight],
        in_type: FixedType,
    ) -> list[Sig]:
        """A Dense/Conv layer's outputs: fully parallel, or time-multiplexed (reuse > 1)."""
        args = (
            in_type.frac,
            lay.weight_type.frac,
            lay.bias_type.frac,
            lay.accum,
            lay.out_type,
        )
        if lay.reuse > 1 and self.ctl is not None:
            return mux_dots(self.m, self.ctl, lay.name, rows, biases, *args, lay.reuse)
        return self.dots(lay.name, rows, biases, *args)

    def dense(self, lay: Dense, xs: list[Sig], in_type: FixedType) -> list[Sig]:
        w = self.array(lay, "weights")
        n = lay.size
        rows = [[(x, w[i * n + j]) for i, x in enumerate(xs)] for j in range(n)]
        return self.mac(lay, rows, self.array(lay, "bias"), in_type)

    def conv(self, lay: Conv, xs: list[Sig], in_type: FixedType) -> list[Sig]:
        rows, biases = conv_rows(lay, xs, self.array(lay, "weights"), self.array(lay, "bias"))
        return self.mac(lay, rows, biases, in_type)

    def scale(self, lay: ScaleShift, xs: list[Sig], in_type: FixedType) -> list[Sig]:
        c = lay.channels
        s, b = self.array(lay, "scale"), self.array(lay, "bias")
        if lay.accum.frac < in_type.frac + lay.scale_type.frac or (
            lay.accum.frac < lay.bias_type.frac
        ):
            raise ValueError(f"layer '{lay.name}': the ScaleShift accumulator must be exact")
        rows = [[(x, s[k % c])] for k, x in enumerate(xs)]
        biases = [b[k % c] for k in range(len(xs))]
        return self.dots(
            lay.name,
            rows,
            biases,
            in_type.frac,
            lay.scale_type.frac,
            lay.bias_type.frac,
            lay.accum,
            lay.out_type,
            wrap=False,
        )

    # -- elementwise and reductions ------------------------------------------------------
    def activation(self, lay: Activation, xs: list[Sig]) -> list[Sig]:
        outs = []
        for j, x in enumerate(xs):
            if lay.relu:
                x = relu(self.m, f"{lay.name}_relu{j}", x)
            outs.append(cast(self.m, x, lay.in_type.frac, lay.out_type, f"{lay.name}_{j}"))
        return outs

    def steps(self, lay: Steps, xs: list[Sig]) -> list[Sig]:
        """``levels[count(x >= thresholds)]``: a comparator per reachable threshold, and a
        priority multiplexer (the comparisons of increasing thresholds are a thermometer)."""
        m = self.m
        th = [int(t) for t in lay.thresholds]
        lv = [int(v) for v in lay.levels]
        outs = []
        for j, x in enumerate(xs):
            base = sum(1 for t in th if x.lo >= t)  # thresholds always passed
            top = sum(1 for t in th if x.hi >= t)  # thresholds ever passed
            reach = lv[base : top + 1]
            if len(set(reach)) == 1:
                outs.append(const_sig(reach[0]))
                continue
            lo, hi = min(reach), max(reach)
            width, signed = range_width(lo, hi)
            expr = literal(lv[base], width)
            for k in range(base, top):  # count >= k + 1  <=>  x >= th[k]
                cond = at_least(m, x, th[k])
                assert isinstance(cond, str)
                expr = f"{cond} ? {literal(lv[k + 1], width)} : ({expr})"
            outs.append(m.assign(f"{lay.name}_{j}", lo, hi, expr, width=width, signed=signed))
        return outs

    def pool(self, lay: Pool, xs: list[Sig]) -> list[Sig]:
        m = self.m
        taps = lay.taps()
        c = lay.in_shape[2]
        outs = []
        shifts = lay.count_shifts() if lay.op == "avg" else None
        for p in range(taps.shape[0]):
            for ch in range(c):
                vals = [xs[int(t) * c + ch] for t in taps[p] if t >= 0]
                j = p * c + ch
                if lay.op == "max":
                    v = _tree_max(m, f"{lay.name}_max{j}", vals)
                    outs.append(cast(m, v, lay.in_type.frac, lay.out_type, f"{lay.name}_{j}"))
                else:
                    assert shifts is not None
                    block: list[str] = []
                    s = add(m, f"{lay.name}_sum{j}", 0, [Term(1, v, 0) for v in vals], None, block)
                    m.comb(block)
                    frac = lay.in_type.frac + int(shifts[p])
                    outs.append(cast(m, s, frac, lay.out_type, f"{lay.name}_{j}"))
        return outs

    def add(self, lay: Add, inputs: list[list[Sig]], types: list[FixedType]) -> list[Sig]:
        m = self.m
        frac = lay.accum.frac
        block: list[str] = []
        sums = []
        for j in range(lay.size):
            terms = []
            for xs, t in zip(inputs, types, strict=True):
                if frac < t.frac:
                    raise ValueError(f"layer '{lay.name}': accumulator drops input bits")
                terms.append(Term(1, xs[j], frac - t.frac))
            sums.append(add(m, f"{lay.name}_acc{j}", 0, terms, None, block))
        m.comb(block)
        return [cast(m, s, frac, lay.out_type, f"{lay.name}_{j}") for j, s in enumerate(sums)]

    def concat(self, lay: Concat, inputs: list[list[Sig]], producers: list[Layer]) -> list[Sig]:
        m = self.m
        parts = [
            [
                cast(m, x, p.out_type.frac, lay.out_type, f"{lay.name}_{k}_{i}")
                for i, x in enumerate(xs)
            ]
            for k, (xs, p) in enumerate(zip(inputs, producers, strict=True))
        ]
        positions = lay.size // lay.channels
        out: list[Sig] = []
        for pos in range(positions):
            for xs, p in zip(parts, producers, strict=True):
                ch = p.channels
                out += xs[pos * ch : (pos + 1) * ch]
        return out


def conv_rows(
    lay: Conv, xs: list[Sig], w: Sequence[Weight], b: Sequence[Weight]
) -> tuple[list[list[tuple[Sig, Weight]]], list[Weight]]:
    """Per output (position, filter): the (input, weight) pairs of its in-bounds taps."""
    taps = lay.taps()
    c = lay.in_shape[2]
    f = lay.filters
    rows: list[list[tuple[Sig, Weight]]] = []
    biases: list[Weight] = []
    for p in range(taps.shape[0]):
        for o in range(f):
            row: list[tuple[Sig, Weight]] = []
            for k, t in enumerate(taps[p]):
                if t < 0:
                    continue
                if lay.depthwise:  # weights (KH, KW, C, 1): channel o only
                    row.append((xs[int(t) * c + o], w[k * c + o]))
                else:
                    row += [(xs[int(t) * c + ci], w[(k * c + ci) * f + o]) for ci in range(c)]
            rows.append(row)
            biases.append(b[o])
    return rows, biases


def _tree_max(m: Module, name: str, vals: list[Sig]) -> Sig:
    """A balanced comparator tree (log2(n) comparators deep)."""
    level = 0
    while len(vals) > 1:
        nxt = [
            maximum(m, f"{name}_{level}_{k}", vals[k], vals[k + 1])
            for k in range(0, len(vals) - 1, 2)
        ]
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
        level += 1
    return vals[0]


def product_node(p: Sig, x: Sig, w: Sig, model: DelayModel) -> Node:
    """The product ``p = x * w`` of two variable values as the pipeliner sees it: Yosys
    builds its partial products (one AND gate each) and reduces them with a carry-save tree
    of ``levels`` 3:2 levels (Dadda: 3 rows in 1 level, 4 in 2, 6 in 3, 9 in 4, ...), which
    the sum reading it continues (a product has one reader); ``mul_ns`` (calibrated on
    port-weight layers) covers what this leaves out."""
    rows = min(range_width(x.lo, x.hi)[0], range_width(w.lo, w.hi)[0])
    levels, height = 0, 2
    while height < rows:
        height, levels = height * 3 // 2, levels + 1
    t = model.sum_ns + model.mul_ns + levels * model.csa_ns
    red: tuple[float | None, ...] = (t,) * p.width
    arr = tuple(model.add(red, red))
    done = max([v for v in arr if v is not None] + [t])
    return Node(p, 0, done, arr=arr, csa=red, single=True)
