"""Constant matrix-vector multiplication (``y = W x``) as a shared adder graph.

Every weight is recoded in canonical signed digits, so output ``j`` is a sum of signed,
shifted inputs ``+-(x_i << k)``. Hartley's common-subexpression elimination then repeats,
while some pattern occurs at least twice: take the two-term pattern
``(x_a << p) +- (x_b << q)`` (same relative shift, same relative sign) that occurs most often
over all outputs, compute it once as a new signal ``n``, and replace every (non-overlapping)
occurrence by one term ``+-(n << min(p, q))``. What is left of each output is summed by the
caller (:mod:`asicflow.rtl.adders`).

Pure Python on integers, no Verilog. The pair counts are kept incrementally (a replacement
only touches the outputs it occurs in) with a lazy max-heap, so a 64 x 64 layer of 6-bit
weights takes well under a second. ``max_depth`` bounds the adder depth of an extracted
signal (inputs have depth 0): deeper patterns are not extracted.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from asicflow.rtl.csd import csd

# (source id a, source id b, shift of b minus shift of a, sign of b times sign of a),
# with (a, shift_a) < (b, shift_b); packed into one integer while solving (:func:`_key`)
Pattern = tuple[int, int, int, int]


@dataclass(frozen=True)
class Op:
    """Signal ``id``: ``(src a << shift_a) + sign * (src b << shift_b)``; a shift is 0."""

    a: int
    shift_a: int
    b: int
    shift_b: int
    sign: int


@dataclass(frozen=True)
class OutTerm:
    """``sign * (source << shift)`` in an output's remaining sum."""

    sign: int
    src: int
    shift: int


@dataclass
class Cmvm:
    """Sources ``0 .. n_in-1`` are the inputs; op ``i`` defines source ``n_in + i``."""

    n_in: int
    ops: list[Op] = field(default_factory=list)
    outputs: list[list[OutTerm]] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)  # adder depth of every source

    def evaluate(self, xs: Sequence[int]) -> list[int]:
        """``W @ xs`` computed through the graph (exact Python integers)."""
        vals = [int(x) for x in xs]
        assert len(vals) == self.n_in
        for op in self.ops:
            vals.append((vals[op.a] << op.shift_a) + op.sign * (vals[op.b] << op.shift_b))
        return [sum(t.sign * (vals[t.src] << t.shift) for t in out) for out in self.outputs]

    @property
    def adders(self) -> int:
        """Two-input adders: the shared ops plus (terms - 1) per non-trivial output."""
        return len(self.ops) + sum(max(len(o) - 1, 0) for o in self.outputs)


_SRC_BITS = 21  # sources per layer: < 2**21
_D_OFF = 1 << 10  # relative shifts: |d| < 1024


def _keys(s: int, k: int, d: int, src: np.ndarray, sh: np.ndarray, sg: np.ndarray) -> np.ndarray:
    """The patterns of term (source s, shift k, sign d) with each of the terms (src, sh, sg),
    each packed in one integer (see :func:`_unkey`)."""
    first = (s < src) | ((s == src) & (k < sh))  # the single term is the pair's first
    a = np.where(first, s, src)
    b = np.where(first, src, s)
    diff = np.where(first, sh - k, k - sh)
    return (((a << _SRC_BITS) | b) << 12) | ((diff + _D_OFF) << 1) | (sg * d > 0)


def _unkey(key: int) -> Pattern:
    mask = (1 << _SRC_BITS) - 1
    d = ((key >> 1) & 2047) - _D_OFF
    return (key >> (12 + _SRC_BITS), (key >> 12) & mask, d, 1 if key & 1 else -1)


class _Solver:
    def __init__(self, matrix: Sequence[Sequence[int]], n_in: int, max_depth: int | None):
        self.n_in = n_in
        self.max_depth = max_depth
        self.depth = [0] * n_in
        self.ops: list[Op] = []
        # per output: source -> {shift: sign}; per source: the outputs that hold it
        self.terms: list[dict[int, dict[int, int]]] = []
        self.holders: dict[int, set[int]] = {}
        digits = 0
        for j, row in enumerate(matrix):
            t: dict[int, dict[int, int]] = {}
            for i, w in enumerate(row):
                if w:
                    t[i] = {k: d for k, d in csd(int(w))}
                    digits += len(t[i])
                    self.holders.setdefault(i, set()).add(j)
            self.terms.append(t)
        if n_in + digits >= 1 << _SRC_BITS:
            raise ValueError(f"too large: {n_in} inputs and {digits} signed digits")
        # pattern counts: added - removed (Counter.update counts in C)
        self.added: Counter[int] = Counter()
        self.removed: Counter[int] = Counter()
        for j in range(len(self.terms)):
            src, sh, sg = self._arrays(j)
            order = np.lexsort((sh, src))
            src, sh, sg = src[order], sh[order], sg[order]
            u, v = np.triu_indices(len(src), 1)  # every pair once, u before v in (src, sh)
            keys = (((src[u] << _SRC_BITS) | src[v]) << 12) | ((sh[v] - sh[u] + _D_OFF) << 1)
            self.added.update((keys | (sg[u] * sg[v] > 0)).tolist())
        self.heap: list[tuple[int, int, int]] = []
        self.banned: set[int] = set()
        for key, c in self.added.items():
            if c > 1:
                self.heap.append((-c, self._new_depth(key), key))
        heapq.heapify(self.heap)

    def _arrays(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = [(s, k, d) for s, ks in self.terms[j].items() for k, d in ks.items()]
        arr = np.array(flat, dtype=np.int64).reshape(-1, 3)
        return arr[:, 0], arr[:, 1], arr[:, 2]

    def count(self, key: int) -> int:
        return self.added[key] - self.removed[key]

    def _new_depth(self, key: int) -> int:
        a, b, _, _ = _unkey(key)
        return max(self.depth[a], self.depth[b]) + 1

    def _drop(self, j: int, s: int, k: int) -> None:
        del self.terms[j][s][k]
        if not self.terms[j][s]:
            del self.terms[j][s]
            self.holders[s].discard(j)

    def _replace(
        self, j: int, a: tuple[int, int, int], b: tuple[int, int, int], n: tuple[int, int, int]
    ) -> list[int]:
        """Replace terms ``a`` and ``b`` of output ``j`` by ``n``; the patterns gained."""
        self._drop(j, a[0], a[1])
        self._drop(j, b[0], b[1])
        src, sh, sg = self._arrays(j)
        gone = [_keys(*a, src, sh, sg), _keys(*b, src, sh, sg)]
        gone.append(_keys(*a, *(np.array([v]) for v in b)))
        self.removed.update(np.concatenate(gone).tolist())
        new = _keys(*n, src, sh, sg).tolist()
        self.added.update(new)
        self.terms[j].setdefault(n[0], {})[n[1]] = n[2]
        self.holders.setdefault(n[0], set()).add(j)
        return new

    def _pop(self) -> int | None:
        while self.heap:
            negc, _, key = heapq.heappop(self.heap)
            c = self.count(key)
            if key in self.banned or c < 2:
                continue
            if c != -negc:  # stale
                heapq.heappush(self.heap, (-c, self._new_depth(key), key))
                continue
            if self.max_depth is not None and self._new_depth(key) > self.max_depth:
                self.banned.add(key)
                continue
            return key
        return None

    def _matches(self, a: int, b: int, d: int, s: int) -> list[tuple[int, int, int]]:
        """Non-overlapping occurrences: (output, shift of a, sign of a)."""
        out: list[tuple[int, int, int]] = []
        for j in sorted(self.holders.get(a, set()) & self.holders.get(b, set())):
            ta, tb = self.terms[j][a], self.terms[j][b]
            used: set[tuple[int, int]] = set()
            for k in sorted(ta):
                kb = k + d
                if (a, k) in used or (b, kb) in used:
                    continue
                sb = tb.get(kb)
                if sb is None or sb * ta[k] != s:
                    continue
                used |= {(a, k), (b, kb)}
                out.append((j, k, ta[k]))
        return out

    def run(self) -> Cmvm:
        while True:
            key = self._pop()
            if key is None:
                break
            a, b, d, s = _unkey(key)
            matches = self._matches(a, b, d, s)
            if len(matches) < 2:  # overlapping pairs only: not worth an adder
                self.banned.add(key)
                continue
            n = self.n_in + len(self.ops)
            self.ops.append(Op(a, max(0, -d), b, max(0, d), s))
            self.depth.append(self._new_depth(key))
            touched: set[int] = set()
            for j, k, sa in matches:
                touched.update(
                    self._replace(j, (a, k, sa), (b, k + d, sa * s), (n, min(k, k + d), sa))
                )
            for q in touched:
                c = self.count(q)
                if c > 1:
                    heapq.heappush(self.heap, (-c, self._new_depth(q), q))
        outputs = [
            sorted(
                (OutTerm(d, s, k) for s, ks in t.items() for k, d in ks.items()),
                key=lambda o: (o.src, o.shift),
            )
            for t in self.terms
        ]
        return Cmvm(self.n_in, self.ops, outputs, self.depth)


def solve(matrix: Sequence[Sequence[int]], n_in: int, max_depth: int | None = None) -> Cmvm:
    """The shared adder graph of ``matrix`` (one row of ``n_in`` integer weights per
    output)."""
    for row in matrix:
        if len(row) != n_in:
            raise ValueError(f"every row must have {n_in} weights, not {len(row)}")
        if any(abs(int(w)).bit_length() >= _D_OFF - 1 for w in row):
            raise ValueError(f"weights must have fewer than {_D_OFF - 1} bits")
    return _Solver(matrix, n_in, max_depth).run()
