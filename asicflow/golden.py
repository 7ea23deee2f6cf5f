"""The golden model: bit-accurate numpy execution of the IR on raw integers."""

from __future__ import annotations

import numpy as np

from asicflow.fixed import FixedType, IntArray, cast
from asicflow.ir import Activation, Dense, Graph, Input, Layer

CHUNK = 2048


def dense(layer: Dense, x: IntArray, in_type: FixedType) -> IntArray:
    fx, fw = in_type.frac, layer.weight_type.frac
    acc_t = layer.accum
    bias = cast(layer.bias, layer.bias_type.frac, acc_t.with_modes(acc_t.rounding, "WRAP"))
    out = np.empty((x.shape[0], layer.size), np.int64)
    for s in range(0, x.shape[0], CHUNK):
        xs = x[s : s + CHUNK]
        if acc_t.frac >= fx + fw:  # every product is exact in the accumulator
            acc = (xs @ layer.weights) << (acc_t.frac - fx - fw)
        else:  # each product is rounded to the accumulator's LSB first
            prods = xs[:, :, None] * layer.weights[None, :, :]
            acc = cast(prods, fx + fw, acc_t.with_modes(acc_t.rounding, "WRAP")).sum(axis=1)
        acc = cast(acc + bias, acc_t.frac, acc_t.with_modes("TRN", "WRAP"))
        out[s : s + CHUNK] = cast(acc, acc_t.frac, layer.out_type)
    return out


def activation(layer: Activation, x: IntArray) -> IntArray:
    if layer.relu:
        x = np.maximum(x, 0)
    return cast(x, layer.in_type.frac, layer.out_type)


def run(graph: Graph, x: IntArray) -> dict[str, IntArray]:
    """Every layer's raw outputs for raw inputs ``x`` (stimuli x features)."""
    outs: dict[str, IntArray] = {}
    prev: Layer | None = None
    cur = np.asarray(x, np.int64)
    for lay in graph.layers:
        if isinstance(lay, Input):
            cur = cast(cur, lay.out_type.frac, lay.out_type)
        elif isinstance(lay, Dense):
            assert prev is not None
            cur = dense(lay, cur, prev.out_type)
        elif isinstance(lay, Activation):
            cur = activation(lay, cur)
        else:
            raise TypeError(f"golden model has no rule for layer kind {lay.kind!r}")
        outs[lay.name] = cur
        prev = lay
    return outs


def first_divergence(
    graph: Graph, expected: dict[str, IntArray], actual: dict[str, IntArray]
) -> str | None:
    """Where two per-layer traces first differ: 'layer L, stimulus S, index I: want A got B'."""
    for lay in graph.layers:
        if lay.name not in expected or lay.name not in actual:
            continue
        e, a = expected[lay.name], actual[lay.name]
        bad = np.argwhere(e != a)
        if bad.size:
            s, i = (int(v) for v in bad[0])
            return (
                f"layer '{lay.name}' (from Keras '{lay.source}'), stimulus {s}, index {i}: "
                f"expected raw {int(e[s, i])}, got {int(a[s, i])} "
                f"({int((e != a).sum())} values differ in this layer)"
            )
    return None
