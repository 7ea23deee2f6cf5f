"""The golden model of every layer kind against a plain loop reference written from the IR
contract (independent index arithmetic), plus save/load, parameter order and precision
inference (exact accumulators, reprogrammable bounds). No TensorFlow here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from graphs import layer_zoo, random_conv_graph, random_mlp, zoo_inputs

from asicflow.checks.ranges import prove
from asicflow.fixed import FixedType, IntArray, cast
from asicflow.golden import first_divergence, run
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
    param_arrays,
)
from asicflow.precision import infer

ZOO = layer_zoo()
N = 300


def _tf_same(n: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _windows(lay: Conv | Pool) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """(ho, wo, [(kh, kw, flat spatial index)...]) with coordinates computed from scratch."""
    h, w, _ = lay.in_shape
    kh, kw = lay.kernel if isinstance(lay, Conv) else lay.pool
    sh, sw = lay.stride
    t, b, le, r = lay.pad
    out = []
    for ho in range((h + t + b - kh) // sh + 1):
        for wo in range((w + le + r - kw) // sw + 1):
            taps = []
            for i in range(kh):
                for j in range(kw):
                    y, xx = ho * sh - t + i, wo * sw - le + j
                    if 0 <= y < h and 0 <= xx < w:
                        taps.append((i, j, y * w + xx))
            out.append((ho, wo, taps))
    return out


def _ref_layer(lay: Layer, ins: list[IntArray], prods: list[Layer]) -> IntArray:
    n = ins[0].shape[0]
    if isinstance(lay, Dense | Conv):
        fx, fw, fb = prods[0].out_type.frac, lay.weight_type.frac, lay.bias_type.frac
        acc = lay.accum
        assert acc.frac >= fx + fw and acc.frac >= fb  # inference keeps every product exact
        x = ins[0].astype(object)

        def finish(s: object, bias: int) -> IntArray:
            v = s * (1 << (acc.frac - fx - fw)) + bias * (1 << (acc.frac - fb))  # type: ignore[operator]
            v = np.asarray(v, object)
            assert ((v >= acc.raw_min) & (v <= acc.raw_max)).all(), "accumulator would wrap"
            return cast(v.astype(np.int64), acc.frac, lay.out_type)

        if isinstance(lay, Dense):
            cols = [
                finish(x @ lay.weights[:, j].astype(object), int(lay.bias[j]))
                for j in range(lay.size)
            ]
            return np.stack(cols, axis=1)
        c = lay.in_shape[2]
        res = []
        for _, _, taps in _windows(lay):
            for f in range(lay.filters):
                s = np.zeros(n, object)
                for i, j, p in taps:
                    for ch in [f] if lay.depthwise else range(c):
                        wv = lay.weights[i, j, ch, 0 if lay.depthwise else f]
                        s = s + x[:, p * c + ch] * int(wv)
                res.append(finish(s, int(lay.bias[f])))
        return np.stack(res, axis=1)
    if isinstance(lay, Pool):
        c = lay.in_shape[2]
        res = []
        for _, _, taps in _windows(lay):
            for ch in range(c):
                vals = np.stack([ins[0][:, p * c + ch] for _, _, p in taps], axis=1)
                if lay.op == "max":
                    res.append(cast(vals.max(axis=1), lay.in_type.frac, lay.out_type))
                else:
                    k = len(taps)
                    sh = k.bit_length() - 1
                    assert 1 << sh == k
                    res.append(cast(vals.sum(axis=1), lay.in_type.frac + sh, lay.out_type))
        return np.stack(res, axis=1)
    if isinstance(lay, Activation):
        v = np.maximum(ins[0], 0) if lay.relu else ins[0]
        return cast(v, prods[0].out_type.frac, lay.out_type)
    if isinstance(lay, Reshape):
        return ins[0]
    if isinstance(lay, ScaleShift):
        c = lay.channels
        fx, fs, fb = prods[0].out_type.frac, lay.scale_type.frac, lay.bias_type.frac
        f = max(fx + fs, fb)
        idx = np.arange(lay.size) % c
        v = ins[0] * lay.scale[idx] * (1 << (f - fx - fs)) + lay.bias[idx] * (1 << (f - fb))
        return cast(v, f, lay.out_type)
    if isinstance(lay, Add):
        f = max(p.out_type.frac for p in prods)
        v = sum(x * (1 << (f - p.out_type.frac)) for x, p in zip(ins, prods, strict=True))
        return cast(np.asarray(v, np.int64), f, lay.out_type)
    if isinstance(lay, Concat):
        positions = lay.size // lay.channels
        cols = []
        for pos in range(positions):
            for x, p in zip(ins, prods, strict=True):
                cp = p.size // positions
                for ch in range(cp):
                    cols.append(cast(x[:, pos * cp + ch], p.out_type.frac, lay.out_type))
        return np.stack(cols, axis=1)
    if isinstance(lay, Steps):
        k = sum((ins[0] >= int(t)).astype(np.int64) for t in lay.thresholds)
        return lay.levels[np.asarray(k, np.int64)]
    raise AssertionError(lay.kind)


def reference(g: Graph, x: IntArray) -> dict[str, IntArray]:
    outs: dict[str, IntArray] = {}
    for lay in g.layers:
        if isinstance(lay, Input):
            outs[lay.name] = cast(x, lay.out_type.frac, lay.out_type)
            continue
        prods = g.producers(lay)
        outs[lay.name] = _ref_layer(lay, [outs[p.name] for p in prods], prods)
    return outs


@pytest.mark.parametrize("name,g", ZOO, ids=[n for n, _ in ZOO])
def test_golden_equals_loop_reference(name: str, g: Graph) -> None:
    x = zoo_inputs(g, N)
    got, want = run(g, x), reference(g, x)
    for lay in g.layers:
        assert got[lay.name].shape == (N, lay.size), lay.name
        assert np.array_equal(got[lay.name], want[lay.name]), f"{name}: layer {lay.name}"
    assert first_divergence(g, want, got) is None


def test_zoo_covers_every_kind_and_edge() -> None:
    kinds = {lay.kind for _, g in ZOO for lay in g.layers}
    assert kinds == {
        "input", "dense", "activation", "conv", "pool", "reshape", "scale", "add", "concat",
        "steps",
    }  # fmt: skip
    convs = [lay for _, g in ZOO for lay in g.layers if isinstance(lay, Conv | Pool)]
    assert any(c.depthwise for c in convs if isinstance(c, Conv))
    assert any(c.in_shape[0] == 1 for c in convs)  # 1-D
    assert any(max(c.stride) > 1 for c in convs)
    for k in range(4):  # every border padded somewhere, and asymmetric padding too
        assert any(c.pad[k] > 0 for c in convs)
    assert any(c.pad[0] != c.pad[1] or c.pad[2] != c.pad[3] for c in convs)
    assert {p.op for p in convs if isinstance(p, Pool)} == {"max", "avg"}
    avg_counts = {
        int(n) for p in convs if isinstance(p, Pool) and p.op == "avg" for n in p.counts()
    }
    assert len(avg_counts) > 1  # border windows are smaller


def test_same_padding_is_tensorflows() -> None:
    for _, g in ZOO:
        for lay in g.layers:
            if isinstance(lay, Conv) and any(lay.pad):
                h, w, _ = lay.in_shape
                t, b = _tf_same(h, lay.kernel[0], lay.stride[0])
                le, r = _tf_same(w, lay.kernel[1], lay.stride[1])
                assert lay.pad == (t, b, le, r) or lay.pad[:2] == (0, 0)


def test_conv_changes_when_padding_moves() -> None:
    """The reference has teeth: the same weights with padding moved give other outputs."""
    g = random_conv_graph((8, 6, 2), 3, (3, 3), (2, 2), "same", seed=1, dense=None)
    x = zoo_inputs(g, 100)
    base = run(g, x)["conv0"]
    conv = g.layer("conv0")
    assert isinstance(conv, Conv)
    assert conv.pad == (0, 1, 0, 1)
    conv.pad = (1, 0, 1, 0)
    assert not np.array_equal(run(g, x)["conv0"], base)


@pytest.mark.parametrize("name,g", ZOO, ids=[n for n, _ in ZOO])
def test_save_load_round_trip(tmp_path: Path, name: str, g: Graph) -> None:
    g.save(tmp_path)
    back = Graph.load(tmp_path)
    assert back.to_json() == g.to_json()
    for a, b in zip(param_arrays(g), param_arrays(back), strict=True):
        assert (a.layer, a.name, a.shape, a.type) == (b.layer, b.name, b.shape, b.type)
        assert np.array_equal(a.values, b.values)
    for la, lb in zip(g.layers, back.layers, strict=True):
        assert type(la) is type(lb)
        if isinstance(la, Steps):
            assert isinstance(lb, Steps)
            assert np.array_equal(la.thresholds, lb.thresholds)
            assert np.array_equal(la.levels, lb.levels)
    x = zoo_inputs(g, 50)
    ra, rb = run(g, x), run(back, x)
    assert all(np.array_equal(ra[k], rb[k]) for k in ra)


def test_param_arrays_order_and_types() -> None:
    g = dict(ZOO)["scale_conv"]
    arrs = param_arrays(g)
    assert [(a.layer, a.name) for a in arrs] == [
        ("conv0", "weights"),
        ("conv0", "bias"),
        ("bn0", "scale"),
        ("bn0", "bias"),
    ]
    conv, bn = g.layer("conv0"), g.layer("bn0")
    assert isinstance(conv, Conv) and isinstance(bn, ScaleShift)
    assert arrs[0].shape == conv.weights.shape and arrs[0].count == conv.weights.size
    assert arrs[0].type == conv.weight_type and arrs[2].type == bn.scale_type
    assert np.array_equal(arrs[0].values, conv.weights.reshape(-1))
    assert [a.layer for a in param_arrays(random_mlp([4, 3, 2]))] == ["dense0"] * 2 + ["dense1"] * 2


def test_chain_graphs_keep_working() -> None:
    g = random_mlp([6, 5, 3])
    assert g.is_chain() and all(not lay.inputs for lay in g.layers)
    assert g.producers(g.layers[0]) == []
    assert g.producers(g.layers[2]) == [g.layers[1]]
    skip = dict(ZOO)["add_skip"]
    assert not skip.is_chain()
    assert [p.name for p in skip.producers(skip.layer("add0"))] == ["relu0", "dense1"]


@pytest.mark.parametrize("name,g", ZOO, ids=[n for n, _ in ZOO])
def test_range_proof_every_kind(name: str, g: Graph) -> None:
    """Every stored value of the inferred graph is proven (no overflow), and the proven
    output ranges contain the values the golden model produces."""
    rows = prove(g)
    assert all(r.ok for r in rows), [r for r in rows if not r.ok]
    trace = run(g, zoo_inputs(g, N))
    outs = {r.layer: r for r in rows if r.what == "output"}
    for lay in g.layers:
        if lay.name in outs:
            r = outs[lay.name]
            v = trace[lay.name]
            assert r.type.raw_min <= v.min() and v.max() <= r.type.raw_max


def _randomize(g: Graph, seed: int) -> None:
    """New parameter values over each array type's whole raw range (extremes included)."""
    rng = np.random.default_rng(seed)
    for lay in g.layers:
        for k, arr in lay.arrays().items():
            t = lay.array_type(k)
            v = rng.integers(t.raw_min, t.raw_max + 1, size=arr.shape)
            v.reshape(-1)[:2] = (t.raw_min, t.raw_max)
            setattr(lay, k, v.astype(np.int64))


@pytest.mark.parametrize("name", ["conv2d_same_s2", "depthwise", "scale_dense", "add_skip"])
def test_reprogrammable_bounds_hold_for_any_weights(name: str) -> None:
    g = dataclasses.replace(dict(ZOO)[name])
    g.layers = [dataclasses.replace(lay) for lay in g.layers]
    const_acc = {lay.name: lay.accum for lay in g.layers if isinstance(lay, Dense | Conv)}
    infer(g, reprogrammable=True)
    for lay in g.layers:
        if lay.name in const_acc:
            assert lay.accum.width >= const_acc[lay.name].width  # type: ignore[attr-defined]
    for seed in range(3):
        _randomize(g, seed)
        x = zoo_inputs(g, 200, seed)
        want = reference(g, x)  # asserts that no accumulator wraps
        got = run(g, x)
        for lay in g.layers:
            assert np.array_equal(got[lay.name], want[lay.name])
            lo, hi = lay.out_range
            assert lo <= got[lay.name].min() and got[lay.name].max() <= hi, lay.name


def test_reprogrammable_bounds_cover_the_type_extremes() -> None:
    g = random_mlp([3, 2], seed=1)
    infer(g, reprogrammable=True)
    d = g.layers[1]
    assert isinstance(d, Dense)
    x = g.input.out_type
    w, b = d.weight_type, d.bias_type
    worst = 3 * x.raw_min * w.raw_min  # most positive product, three inputs
    exact = (worst << (d.accum.frac - x.frac - w.frac)) + (b.raw_max << (d.accum.frac - b.frac))
    assert d.out_range[1] == exact and d.accum.raw_max >= exact


def test_concat_and_add_types_hold_every_input() -> None:
    g = dict(ZOO)["concat_conv"]
    cat = g.layer("cat0")
    assert isinstance(cat, Concat)
    assert [t for t in cat.in_types] == [p.out_type for p in g.producers(cat)]
    for p in g.producers(cat):
        lo, hi = p.out_range
        back = cast(np.array([lo, hi]), p.out_type.frac, cat.out_type)
        assert list(back) == [
            lo << (cat.out_type.frac - p.out_type.frac),
            hi << (cat.out_type.frac - p.out_type.frac),
        ]
    assert cat.out_type == FixedType(8, 3, True)


def test_profile_rows_and_files(tmp_path: Path) -> None:
    from asicflow import profiling

    g = dict(ZOO)["conv_avgpool_dense"]
    trace = run(g, zoo_inputs(g, N))
    rows = profiling.write(g, trace, tmp_path)
    assert (tmp_path / "profile.png").stat().st_size > 1000
    md = (tmp_path / "profile.md").read_text()
    assert all(f"| {lay.name} | output |" in md for lay in g.layers)
    by = {(r.layer, r.what): r for r in rows}
    conv = g.layer("conv0")
    assert isinstance(conv, Conv)
    w = by[("conv0", "weights")]
    assert (w.lo, w.hi) == (int(conv.weights.min()), int(conv.weights.max()))
    relu = by[("relu0", "output")]  # unsigned 6-bit ReLU, saturating: the full width is used
    assert relu.bits_used == 6 and relu.headroom_bits == 0
    for r in rows:
        assert r.type.raw_min <= r.lo <= r.hi <= r.type.raw_max and 1 <= r.bits_used
