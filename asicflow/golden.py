"""The golden model: bit-accurate numpy execution of the IR on raw integers.

Every kind's rule here is the contract of the IR: the C++ and the Verilog must match it bit
for bit. A convolution is the Dense rule applied to each output position's
window (an im2col gather in which padded taps read a zero that contributes nothing).
"""

from __future__ import annotations

import numpy as np

from asicflow.fixed import FixedType, IntArray, cast, to_float
from asicflow.ir import (
    Activation,
    Add,
    Concat,
    Conv,
    Dense,
    Graph,
    Input,
    Layer,
    Pool,
    Reshape,
    ScaleShift,
    Steps,
)

CHUNK = 2048


def mac(
    x: IntArray,
    w: IntArray,
    b: IntArray,
    in_frac: int,
    w_frac: int,
    b_frac: int,
    acc_t: FixedType,
    out_t: FixedType,
) -> IntArray:
    """The Dense rule on rows ``x`` (n, K) with weights ``w`` (K, F) and bias ``b`` (F,)."""
    wrap = acc_t.with_modes(acc_t.rounding, "WRAP")
    bias = cast(b, b_frac, wrap)
    out = np.empty((x.shape[0], w.shape[1]), np.int64)
    for s in range(0, x.shape[0], CHUNK):
        xs = x[s : s + CHUNK]
        if acc_t.frac >= in_frac + w_frac:  # every product is exact in the accumulator
            acc = (xs @ w) << (acc_t.frac - in_frac - w_frac)
        else:  # each product is rounded to the accumulator's LSB first
            prods = xs[:, :, None] * w[None, :, :]
            acc = cast(prods, in_frac + w_frac, wrap).sum(axis=1)
        acc = cast(acc + bias, acc_t.frac, acc_t.with_modes("TRN", "WRAP"))
        out[s : s + CHUNK] = cast(acc, acc_t.frac, out_t)
    return out


def dense(layer: Dense, x: IntArray, in_type: FixedType) -> IntArray:
    return mac(
        x,
        layer.weights,
        layer.bias,
        in_type.frac,
        layer.weight_type.frac,
        layer.bias_type.frac,
        layer.accum,
        layer.out_type,
    )


def _gather(x: IntArray, taps: IntArray, channels: int, fill: int) -> IntArray:
    """(n, P, K, C) window values of flat (H, W, C) inputs ``x``; ``fill`` where padded."""
    n = x.shape[0]
    xs = x.reshape(n, -1, channels)
    xp = np.concatenate([xs, np.full((n, 1, channels), fill, np.int64)], axis=1)
    return xp[:, np.where(taps < 0, xs.shape[1], taps), :]


def conv(layer: Conv, x: IntArray, in_type: FixedType) -> IntArray:
    taps = layer.taps()
    p, k = taps.shape
    c = layer.in_shape[2]
    n = x.shape[0]
    out = np.empty((n, p, layer.filters), np.int64)
    args = (in_type.frac, layer.weight_type.frac, layer.bias_type.frac, layer.accum)
    step = max(1, CHUNK // p)
    for s in range(0, n, step):
        g = _gather(x[s : s + step], taps, c, 0)  # (m, P, K, C)
        m = g.shape[0]
        if layer.depthwise:
            for ch in range(c):
                rows = g[:, :, :, ch].reshape(m * p, k)
                w = layer.weights[:, :, ch, :].reshape(k, 1)
                y = mac(rows, w, layer.bias[ch : ch + 1], *args, layer.out_type)
                out[s : s + m, :, ch] = y.reshape(m, p)
        else:
            rows = g.reshape(m * p, k * c)
            w = layer.weights.reshape(k * c, layer.filters)
            y = mac(rows, w, layer.bias, *args, layer.out_type)
            out[s : s + m] = y.reshape(m, p, layer.filters)
    return out.reshape(n, -1)


def pool(layer: Pool, x: IntArray) -> IntArray:
    taps = layer.taps()
    c = layer.in_shape[2]
    if layer.op == "max":
        g = _gather(x, taps, c, np.iinfo(np.int64).min)
        return cast(g.max(axis=2), layer.in_type.frac, layer.out_type).reshape(x.shape[0], -1)
    if layer.op != "avg":
        raise ValueError(f"pool '{layer.name}': unknown op {layer.op!r}")
    s = _gather(x, taps, c, 0).sum(axis=2)  # (n, P, C)
    shifts = layer.count_shifts()
    out = np.empty_like(s)
    for sh in np.unique(shifts):
        sel = shifts == sh
        out[:, sel, :] = cast(s[:, sel, :], layer.in_type.frac + int(sh), layer.out_type)
    return out.reshape(x.shape[0], -1)


def activation(layer: Activation, x: IntArray) -> IntArray:
    if layer.relu:
        x = np.maximum(x, 0)
    return cast(x, layer.in_type.frac, layer.out_type)


def scale_shift(layer: ScaleShift, x: IntArray, in_type: FixedType) -> IntArray:
    c = layer.channels
    frac = layer.accum.frac
    xs = x.reshape(x.shape[0], -1, c)
    prod = (xs * layer.scale) << (frac - in_type.frac - layer.scale_type.frac)
    acc = prod + (layer.bias << (frac - layer.bias_type.frac))
    return cast(acc, frac, layer.out_type).reshape(x.shape[0], -1)


def add(layer: Add, xs: list[IntArray], types: list[FixedType]) -> IntArray:
    frac = layer.accum.frac
    acc = sum((x << (frac - t.frac) for x, t in zip(xs, types, strict=True)), np.int64(0))
    return cast(np.asarray(acc, np.int64), frac, layer.out_type)


def concat(layer: Concat, xs: list[IntArray], producers: list[Layer]) -> IntArray:
    n = xs[0].shape[0]
    parts = [
        cast(x, p.out_type.frac, layer.out_type).reshape(n, -1, p.channels)
        for x, p in zip(xs, producers, strict=True)
    ]
    return np.concatenate(parts, axis=2).reshape(n, -1)


def steps(layer: Steps, x: IntArray) -> IntArray:
    idx = np.searchsorted(layer.thresholds, x, side="right")
    return np.asarray(layer.levels, np.int64)[idx]


def run(graph: Graph, x: IntArray) -> dict[str, IntArray]:
    """Every layer's raw outputs for raw inputs ``x`` (stimuli x features)."""
    outs: dict[str, IntArray] = {}
    for lay in graph.layers:
        prods = graph.producers(lay)
        ins = [outs[p.name] for p in prods]
        if isinstance(lay, Input):
            cur = cast(np.asarray(x, np.int64), lay.out_type.frac, lay.out_type)
        elif isinstance(lay, Dense):
            cur = dense(lay, ins[0], prods[0].out_type)
        elif isinstance(lay, Activation):
            cur = activation(lay, ins[0])
        elif isinstance(lay, Conv):
            cur = conv(lay, ins[0], prods[0].out_type)
        elif isinstance(lay, Pool):
            cur = pool(lay, ins[0])
        elif isinstance(lay, Reshape):
            cur = ins[0]
        elif isinstance(lay, ScaleShift):
            cur = scale_shift(lay, ins[0], prods[0].out_type)
        elif isinstance(lay, Add):
            cur = add(lay, ins, [p.out_type for p in prods])
        elif isinstance(lay, Concat):
            cur = concat(lay, ins, prods)
        elif isinstance(lay, Steps):
            cur = steps(lay, ins[0])
        else:
            raise TypeError(f"golden model has no rule for layer kind {lay.kind!r}")
        outs[lay.name] = cur
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


def compare_with_qkeras(
    graph: Graph, trace: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> tuple[int, str | None]:
    """(output mismatches, first divergence by layer) between golden and QKeras."""
    first: str | None = None
    out_mismatch = 0
    for lay in graph.layers:
        key = f"qkeras.{lay.name}"
        if key not in ref:
            continue
        want = ref[key].astype(np.float64)
        got = to_float(trace[lay.name], lay.out_type)
        bad = got != want
        if lay is graph.output:
            out_mismatch = int(bad.sum())
        if bad.any() and first is None:
            s, i = (int(v) for v in np.argwhere(bad)[0])
            first = (
                f"layer '{lay.name}' (Keras '{lay.source}'), stimulus {s}, index {i}: "
                f"QKeras {want[s, i]!r}, golden {got[s, i]!r} ({int(bad.sum())} values "
                "differ in this layer)"
            )
    return out_mismatch, first
