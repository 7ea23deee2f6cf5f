"""QKeras -> IR -> golden model, bit-exact against QKeras itself (TensorFlow runs here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QDense, binary, quantized_bits, quantized_relu

from asicflow.config import load_flow
from asicflow.errors import UnsupportedModel
from asicflow.fixed import FixedType
from asicflow.golden import compare_with_qkeras, run
from asicflow.ir import Activation, Dense, Graph
from asicflow.steps.base import execute
from asicflow.steps.convert import ConvertStep
from asicflow.steps.golden import GoldenStep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    build = tmp_path_factory.mktemp("build")
    out = {}
    for name in ("digits_mlp", "jet_mlp"):
        flow = load_flow(ROOT / "flows" / f"{name}.yaml")
        execute(ConvertStep(), flow, build)
        out[name] = build / name
    return out


@pytest.mark.parametrize("name,count", [("digits_mlp", 1797), ("jet_mlp", 2000)])
def test_golden_equals_qkeras_every_layer(
    converted: dict[str, Path], name: str, count: int
) -> None:
    graph = Graph.load(converted[name] / "convert")
    with np.load(converted[name] / "convert" / "reference.npz") as f:
        ref = {k: f[k] for k in f.files}
    assert len(ref["x"]) == count >= 1000
    trace = run(graph, ref["x"])
    taps = [k for k in ref if k.startswith("qkeras.")]
    assert len(taps) == len(graph.layers)  # every IR layer is compared, logits included
    mismatches, first = compare_with_qkeras(graph, trace, ref)
    assert (mismatches, first) == (0, None)


def test_round_half_up_would_disagree(converted: dict[str, Path]) -> None:
    """The comparison has teeth: QKeras rounds half to even; half-up differs somewhere."""
    graph = Graph.load(converted["digits_mlp"] / "convert")
    for lay in graph.layers:
        if isinstance(lay, Activation):
            lay.out_type = dataclasses.replace(lay.out_type, rounding="RND")
    with np.load(converted["digits_mlp"] / "convert" / "reference.npz") as f:
        ref = {k: f[k] for k in f.files}
    mismatches, first = compare_with_qkeras(graph, run(graph, ref["x"]), ref)
    assert mismatches > 0 and first is not None and "relu1" in first


def test_accumulators_are_exact(converted: dict[str, Path]) -> None:
    """No accumulator wraps: every exact (Python int) sum fits the inferred accumulator."""
    graph = Graph.load(converted["jet_mlp"] / "convert")
    with np.load(converted["jet_mlp"] / "convert" / "reference.npz") as f:
        x = f["x"]
    trace = run(graph, x)
    prev = graph.input
    for lay in graph.layers[1:]:
        if isinstance(lay, Dense):
            xin = trace[prev.name].astype(object)
            exact = xin @ lay.weights.astype(object) + lay.bias.astype(object) * (
                1 << (lay.accum.frac - lay.bias_type.frac)
            )
            assert (exact >= lay.accum.raw_min).all() and (exact <= lay.accum.raw_max).all()
            assert (trace[lay.name] == exact.astype(np.int64)).all()
        prev = lay


def test_golden_step_metrics(converted: dict[str, Path]) -> None:
    flow = load_flow(ROOT / "flows" / "digits_mlp.yaml")
    m = execute(GoldenStep(), flow, converted["digits_mlp"].parent)
    assert m["golden__qkeras_mismatches"] == 0 and m["golden__vectors"] == 1797
    assert m["golden__accuracy"] > 0.9


def _convert(model: object, input_type: FixedType | None = None) -> Graph:
    from asicflow.convert.qkeras_model import convert

    return convert(model, "t", input_type).graph


def _seq(*layers: object, n_in: int = 8) -> object:
    return tf.keras.Sequential([tf.keras.layers.Input((n_in,)), *layers])


@pytest.mark.parametrize(
    "layer,needle",
    [
        (tf.keras.layers.LayerNormalization(), "layer 'bad' (LayerNormalization) is not supported"),
        (
            QDense(
                4,
                kernel_quantizer=quantized_bits(6, 0, alpha="auto"),
                bias_quantizer=quantized_bits(6, 0),
            ),
            "alpha='auto'",
        ),
        (QActivation(binary(alpha="auto_po2")), "computed from each batch"),
        (QActivation("quantized_ulaw(4)"), "quantized_ulaw"),
        (QDense(4), "no kernel quantizer"),
        (QActivation(quantized_bits(6, 0, use_stochastic_rounding=True)), "stochastic rounding"),
        (tf.keras.layers.Activation("sigmoid"), "activation 'sigmoid' is not supported"),
    ],
)
def test_unsupported_named(layer: object, needle: str) -> None:
    layer._name = "bad"  # type: ignore[attr-defined]
    q = QActivation(quantized_bits(8, 0), name="qin")
    model = _seq(q, tf.keras.layers.Dropout(0.0), layer)
    with pytest.raises(UnsupportedModel) as e:
        _convert(model)
    msg = str(e.value)
    assert needle in msg and "'bad'" in msg
    assert "supported" in msg.lower()


def test_softmax_only_at_the_end() -> None:
    model = _seq(
        QActivation(quantized_bits(8, 0)),
        tf.keras.layers.Activation("softmax", name="sm"),
        QDense(
            2,
            kernel_quantizer=quantized_bits(4, 0, alpha=1),
            bias_quantizer=quantized_bits(4, 0, alpha=1),
        ),
    )
    with pytest.raises(UnsupportedModel, match="'sm'.*softmax only as the last layer"):
        _convert(model)


def test_input_type_needed_without_input_quantizer() -> None:
    model = _seq(
        QDense(
            3,
            kernel_quantizer=quantized_bits(4, 0, alpha=1),
            bias_quantizer=quantized_bits(4, 0, alpha=1),
            name="d",
        ),
        QActivation(quantized_relu(4, 1)),
    )
    with pytest.raises(UnsupportedModel, match="set 'input_type' in the flow"):
        _convert(model)
    g = _convert(model, FixedType(8, 2, True, "RND_CONV", "SAT"))
    assert g.input.out_type == FixedType(8, 2, True, "RND_CONV", "SAT")
    assert [lay.kind for lay in g.layers] == ["input", "dense", "activation"]


@pytest.mark.parametrize("name", ["econ_encoder", "bn_po2_mlp", "binary_mlp"])
def test_breadth_examples_golden_equals_qkeras(tmp_path: Path, name: str) -> None:
    """The model-breadth examples: convert + golden, every tapped layer, 0 mismatches."""
    flow = load_flow(ROOT / "flows" / f"{name}.yaml")
    execute(ConvertStep(), flow, tmp_path)
    m = execute(GoldenStep(), flow, tmp_path)
    graph = Graph.load(tmp_path / name / "convert")
    assert m["golden__vectors"] >= 1000 and m["golden__qkeras_mismatches"] == 0
    assert m["golden__layers_compared"] == len(graph.layers)
    assert (tmp_path / name / "golden" / "profile.png").exists()
    kinds = {lay.kind for lay in graph.layers}
    want = {"econ_encoder": "conv", "bn_po2_mlp": "dense", "binary_mlp": "steps"}[name]
    assert want in kinds
