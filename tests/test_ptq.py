"""Post-training quantization of float Keras models (``ptq`` in the flow): weights rounded by
asicflow, the golden model checked against the float model (TensorFlow runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import yaml

from asicflow.config import PtqConfig, load_flow
from asicflow.convert.ptq import Ptq, calibrate, fewest_integer_bits
from asicflow.convert.qkeras_model import convert, model_inputs
from asicflow.errors import CheckFailed, ConfigError, UnsupportedModel
from asicflow.fixed import FixedType, quantize, to_float
from asicflow.golden import run
from asicflow.ir import Activation, Conv, Dense
from asicflow.precision import infer
from asicflow.steps.base import execute
from asicflow.steps.convert import ConvertStep
from asicflow.steps.golden import GoldenStep

L = tf.keras.layers
ROOT = Path(__file__).resolve().parents[1]
IN_T = FixedType(8, 3, True, "RND_CONV", "SAT")


@pytest.mark.parametrize(
    "lo,hi,width,signed,want",
    [
        (-0.7, 0.3, 8, True, 1),  # [-1, 1)
        (-0.5, 0.25, 8, True, 0),  # -0.5 fits [-0.5, 0.5) exactly
        (0.0, 0.5, 8, True, 1),  # +0.5 would saturate at I = 0
        (0.0, 5.0, 6, False, 3),  # [0, 8)
        (0.0, 0.1, 4, False, -3),  # [0, 1/8): 0.1 rounds to 13/128 -> raw 13 of 15
        (-3.0, 2.0, 4, True, 3),  # [-4, 4)
    ],
)
def test_fewest_integer_bits(lo: float, hi: float, width: int, signed: bool, want: int) -> None:
    assert fewest_integer_bits(lo, hi, width, signed) == want


def _model(seed: int = 0) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    inp = L.Input((6, 6, 1), name="x")
    x = L.Conv2D(3, 3, padding="same", name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Activation("relu", name="act")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(8, activation="relu", name="fc1")(x)
    x = L.BatchNormalization(name="bn2")(x)  # after a ReLU: not foldable -> ScaleShift
    out = L.Dense(4, name="fc2")(x)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    for name in ("bn", "bn2"):
        bn = model.get_layer(name)
        c = bn.gamma.shape[0]
        bn.set_weights(
            [
                rng.uniform(0.5, 2.0, c).astype(np.float32),
                rng.uniform(-0.5, 0.5, c).astype(np.float32),
                rng.uniform(-0.3, 0.3, c).astype(np.float32),
                rng.uniform(0.5, 2.0, c).astype(np.float32),
            ]
        )
    return model


def _convert(model: tf.keras.Model, cfg: PtqConfig, x: np.ndarray) -> tuple[Any, Ptq]:
    raw = quantize(x, IN_T)
    xm = model_inputs(model, (raw * IN_T.lsb).astype(np.float32))
    ptq = Ptq(cfg, calibrate(model, xm))
    conv = convert(model, "t", IN_T, ptq=ptq)
    infer(conv.graph)
    return conv, ptq


def _data(n: int = 1000, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, (n, 36)).astype(np.float32)


def test_float_model_quantized_and_close_to_float() -> None:
    model = _model()
    x = _data()
    conv, ptq = _convert(model, PtqConfig(enabled=True, activation_bits=10), x)
    g = conv.graph
    kinds = [lay.kind for lay in g.layers]
    assert "scale" in kinds and kinds.count("activation") == 4  # act, fc1 relu, bn2, fc2
    assert set(ptq.quantized) >= {"conv", "fc1", "fc2", "bn2"}
    c = g.layer("conv")
    assert isinstance(c, Conv) and c.weight_type.width == 8
    assert any("'bn' folded into 'conv'" in n for n in g.notes)
    # Weights: within half an LSB of the folded float weights, integer bits minimal.
    bn = model.get_layer("bn")
    gamma, beta, mean, var = (np.asarray(v, np.float64) for v in bn.get_weights())
    s = gamma / np.sqrt(var + bn.epsilon)
    k_float = model.get_layer("conv").get_weights()[0] * s
    got = to_float(c.weights, c.weight_type)
    assert np.abs(got - k_float).max() <= c.weight_type.lsb / 2 + 1e-6
    assert np.abs(k_float).max() > c.weight_type.max / 2  # one integer bit fewer would not do
    # ReLU outputs are unsigned; the linear logits signed.
    relu = g.layer("act_relu")
    assert isinstance(relu, Activation) and relu.relu and not relu.out_type.signed
    assert g.output.out_type.signed and g.output.out_type.width == 10
    # Golden vs float: argmax agrees almost always, error small against the logit spread.
    golden = to_float(run(g, quantize(x, IN_T))[g.output.name], g.output.out_type)
    ref = model.predict(model_inputs(model, x), verbose=0)
    agree = np.mean(np.argmax(golden, 1) == np.argmax(ref, 1))
    assert agree > 0.95
    assert np.sqrt(np.mean((golden - ref) ** 2)) < 0.05 * ref.std()


def test_fewer_bits_are_worse() -> None:
    """The comparison has teeth: 3-bit weights and activations disagree much more."""
    model, x = _model(), _data()
    ref = model.predict(model_inputs(model, x), verbose=0)
    errs = []
    for bits in (10, 3):
        cfg = PtqConfig(enabled=True, weight_bits=bits, activation_bits=bits)
        g = _convert(model, cfg, x)[0].graph
        out = to_float(run(g, quantize(x, IN_T))[g.output.name], g.output.out_type)
        errs.append(float(np.sqrt(np.mean((out - ref) ** 2))))
    assert errs[1] > 5 * errs[0]


def test_fixed_types_and_per_layer_overrides_saturate() -> None:
    model = _model()
    fc2 = model.get_layer("fc2")
    w, b = fc2.get_weights()
    w[0, 0] = 5.0  # beyond ac_fixed<4, 1>: saturates to 0.875
    fc2.set_weights([w, b])
    cfg = PtqConfig(
        enabled=True,
        weight_type=FixedType(6, 2, True),
        activation_type=FixedType(9, 4, False),
        layers={"fc2": {"weight_type": FixedType(4, 1, True), "activation_type": IN_T}},
    )
    g = _convert(model, cfg, _data(200))[0].graph
    d1, d2 = g.layer("fc1"), g.layer("fc2")
    assert isinstance(d1, Dense) and isinstance(d2, Dense)
    assert d1.weight_type == FixedType(6, 2, True) and d2.weight_type == FixedType(4, 1, True)
    assert d2.weights[0, 0] == 7 and to_float(d2.weights, d2.weight_type).max() == 0.875
    assert g.layer("fc1_relu").out_type == FixedType(9, 4, False, "RND_CONV", "SAT")
    assert g.output.out_type == IN_T


def test_ptq_layer_names_are_checked() -> None:
    cfg = PtqConfig(enabled=True, layers={"fc9": {"weight_type": FixedType(4, 1)}})
    with pytest.raises(ConfigError, match=r"ptq.layers.fc9.*no layer 'fc9'"):
        _convert(_model(), cfg, _data(50))


def test_float_layer_without_ptq_is_rejected_with_the_hint() -> None:
    with pytest.raises(UnsupportedModel, match=r"'conv'.*'ptq' in the flow"):
        convert(_model(), "t", IN_T)


def test_float_sigmoid_is_rejected() -> None:
    inp = L.Input((4,))
    model = tf.keras.Model(inp, L.Dense(3, activation="sigmoid", name="sg")(inp))
    with pytest.raises(UnsupportedModel, match=r"'sg'.*'sigmoid'"):
        _convert(model, PtqConfig(enabled=True), np.zeros((4, 4), np.float32))


def _flow(tmp_path: Path, **ptq: Any) -> Path:
    data = yaml.safe_load((ROOT / "flows" / "float_mlp.yaml").read_text())
    data["model"] = str(ROOT / "examples" / "float_mlp" / "float_mlp.h5")
    data["ptq"].update(ptq)
    path = tmp_path / "float_mlp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_config_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_flow(_flow(tmp_path, weight_bits=1, layers={"fc1": {"weight_typ": "ac_fixed<4,1>"}}))
    msg = str(e.value)
    assert "'ptq.weight_bits' is 1" in msg and "'ptq.layers.fc1.weight_typ' is not a key" in msg


def test_example_flow_convert_and_golden(tmp_path: Path) -> None:
    """flows/float_mlp.yaml: honest reporting (no QKeras figures), agreement >= 95 %; with
    2-bit activations and min_agreement 100 % the golden step fails."""
    flow = load_flow(ROOT / "flows" / "float_mlp.yaml")
    m = execute(ConvertStep(), flow, tmp_path)
    assert m["model__post_training_quantized"] is True and "model__qkeras_accuracy" not in m
    assert m["model__float_accuracy"] > 0.9
    with np.load(tmp_path / "float_mlp" / "convert" / "reference.npz") as f:
        assert "float.y" in f.files and not any(k.startswith("qkeras.") for k in f.files)
    g = execute(GoldenStep(), flow, tmp_path)
    assert "golden__qkeras_mismatches" not in g
    assert g["golden__float_agreement"] >= 95.0 and g["golden__accuracy"] > 0.9
    assert g["golden__reference"].startswith("post-training quantized: golden is the reference")

    bad = load_flow(_flow(tmp_path, activation_bits=2, weight_bits=2, min_agreement=100.0))
    execute(ConvertStep(), bad, tmp_path / "bad")
    with pytest.raises(CheckFailed, match=r"agree on .* below ptq.min_agreement 100"):
        execute(GoldenStep(), bad, tmp_path / "bad")
