"""Every supported QKeras layer and quantizer: golden == QKeras on >= 1000 stimuli at every
tapped layer, 0 mismatches; unsupported combinations name the layer and the reason.

Models are tiny and built here with fixed seeds (random, untrained weights); TensorFlow runs
in-process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from qkeras import (
    QActivation,
    QAveragePooling2D,
    QBatchNormalization,
    QConv1D,
    QConv2D,
    QDense,
    QDepthwiseConv2D,
    QGlobalAveragePooling2D,
    binary,
    quantized_bits,
    quantized_po2,
    quantized_relu,
    quantized_relu_po2,
    quantized_sigmoid,
    quantized_tanh,
    ternary,
)

from asicflow.convert.qkeras_model import Conversion, convert, reference_outputs
from asicflow.errors import UnsupportedModel
from asicflow.fixed import FixedType, quantize, raw_of_exact, to_float
from asicflow.golden import run
from asicflow.ir import Conv, Dense, Graph, Pool, ScaleShift, Steps
from asicflow.precision import infer

L = tf.keras.layers
N = 1200
W6 = quantized_bits(6, 0, alpha=1)
IN_Q = quantized_bits(8, 2, alpha=1)


def _model(in_shape: tuple[int, ...], body: Any, seed: int = 0) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    inp = L.Input(in_shape, name="x")
    out = body(QActivation(IN_Q, name="q_in")(inp))
    return tf.keras.Model(inp, out)


def check(
    model: tf.keras.Model, seed: int = 1, spread: float = 3.0
) -> tuple[Graph, Conversion, int]:
    """Convert, run golden and QKeras on N stimuli; assert 0 mismatches on every tap.
    Returns the graph, the conversion and the number of values compared."""
    conv = convert(model, "t", FixedType(8, 3, True, "RND_CONV", "SAT"))
    g = conv.graph
    infer(g)
    size = g.input.size
    x = np.random.default_rng(seed).uniform(-spread, spread, (N, size)).astype(np.float32)
    if conv.input_quantizer is not None:
        xq = np.asarray(conv.input_quantizer(tf.constant(x)).numpy(), np.float64)
        raw = raw_of_exact(xq, g.input.out_type.frac)
    else:
        raw = quantize(x, g.input.out_type)
    x_model = (raw * 2.0**-g.input.out_type.frac).astype(np.float32)
    refs = reference_outputs(model, conv, x_model)
    trace = run(g, raw)
    assert set(refs) == set(conv.taps) and g.output.name in refs
    compared = 0
    for name, want in refs.items():
        lay = g.layer(name)
        got = to_float(trace[name], lay.out_type)
        assert got.shape == want.shape, name
        bad = int((got != want).sum())
        assert bad == 0, f"{name} ({conv.taps[name]}): {bad} of {want.size} values differ"
        compared += want.size
    # The comparison has teeth: some tapped values are non-zero and vary.
    out = refs[g.output.name]
    assert np.any(out != 0) and len(np.unique(out)) > 2
    return g, conv, compared


def _dense(n: int, name: str, act: Any = None, **kw: Any) -> QDense:
    return QDense(n, kernel_quantizer=W6, bias_quantizer=W6, activation=act, name=name, **kw)


# --- convolutions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "in_shape,kernel,strides,padding",
    [
        ((7, 9, 2), (3, 3), (2, 2), "same"),  # odd sizes, padding on every border
        ((8, 6, 1), (3, 3), (2, 2), "same"),  # even sizes: padding only bottom/right
        ((6, 7, 3), (3, 2), (2, 1), "valid"),
        ((5, 5, 2), (2, 2), (1, 1), "same"),  # even kernel: pad after only
    ],
)
def test_conv2d(
    in_shape: tuple[int, int, int], kernel: tuple, strides: tuple, padding: str
) -> None:
    def body(x: Any) -> Any:
        x = QConv2D(
            3,
            kernel,
            strides=strides,
            padding=padding,
            kernel_quantizer=W6,
            bias_quantizer=W6,
            activation=quantized_relu(6, 2),
            name="conv",
        )(x)
        return _dense(4, "fc")(L.Flatten(name="flat")(x))

    g, conv, n = check(_model(in_shape, body))
    c = g.layer("conv")
    assert isinstance(c, Conv) and c.stride == strides and n >= N
    if padding == "same" and kernel == (3, 3) and in_shape[0] % 2:
        assert all(p > 0 for p in c.pad)


@pytest.mark.parametrize("padding,strides", [("same", 2), ("valid", 1), ("same", 3)])
def test_conv1d(padding: str, strides: int) -> None:
    def body(x: Any) -> Any:
        x = QConv1D(
            3, 4, strides=strides, padding=padding, kernel_quantizer=W6, bias_quantizer=W6,
            name="conv",
        )(x)  # fmt: skip
        x = QActivation(quantized_relu(5, 2), name="act")(x)
        return _dense(3, "fc")(L.Flatten()(x))

    g, _, _ = check(_model((11, 2), body))
    c = g.layer("conv")
    assert isinstance(c, Conv) and c.in_shape == (1, 11, 2) and c.kernel == (1, 4)


def test_depthwise_conv2d() -> None:
    # Equal strides: TensorFlow's CPU depthwise kernel implements unequal ones only where
    # oneDNN is in use, which depends on the machine. Unequal strides are proven golden = C++
    # = RTL by the layer zoo (tests/graphs.py 'depthwise', stride (1, 2)).
    def body(x: Any) -> Any:
        x = QDepthwiseConv2D(
            (3, 3),
            strides=(2, 2),
            padding="same",
            depthwise_quantizer=W6,
            bias_quantizer=W6,
            name="dw",
        )(x)
        x = QActivation(quantized_bits(6, 2), name="act")(x)
        return _dense(3, "fc")(L.Flatten()(x))

    g, _, _ = check(_model((5, 7, 3), body))
    c = g.layer("dw")
    assert isinstance(c, Conv) and c.depthwise and c.weights.shape == (3, 3, 3, 1)


def test_model_tensorflow_cannot_run_is_a_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where TensorFlow here rejects the model (as it does unequal depthwise strides without
    oneDNN), the flow stops with a message naming the cause, not TensorFlow's traceback."""

    def body(x: Any) -> Any:
        return _dense(3, "fc")(L.Flatten()(x))

    model = _model((4,), body)
    conv = convert(model, "t", FixedType(8, 3, True, "RND_CONV", "SAT"))

    def reject(*_: Any, **__: Any) -> Any:
        raise tf.errors.InvalidArgumentError(
            None, None, "Current implementation only supports equal length strides"
        )

    monkeypatch.setattr(tf.keras.Model, "predict", reject)
    with pytest.raises(UnsupportedModel) as err:
        reference_outputs(model, conv, np.zeros((2, 4), np.float32))
    msg = str(err.value)
    assert msg.startswith("TensorFlow cannot evaluate the model on this machine")
    assert "equal length strides" in msg and "Traceback" not in msg


# --- pooling, reshape -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,pool,strides,padding,in_shape",
    [
        (L.MaxPooling2D, (2, 2), None, "same", (5, 7, 2)),
        (L.AveragePooling2D, (2, 2), None, "same", (5, 7, 2)),
        (L.MaxPooling2D, (3, 3), (2, 2), "same", (7, 6, 2)),
        (L.AveragePooling2D, (2, 2), (1, 1), "valid", (4, 5, 2)),
        (L.MaxPooling1D, 3, 2, "valid", (9, 3)),
        (L.AveragePooling1D, 2, 2, "same", (9, 3)),
        (L.GlobalAveragePooling2D, None, None, None, (4, 2, 3)),
        (L.GlobalMaxPooling1D, None, None, None, (5, 3)),
    ],
)
def test_pooling(cls: Any, pool: Any, strides: Any, padding: Any, in_shape: tuple) -> None:
    def body(x: Any) -> Any:
        x = QConv2D(2, 1, kernel_quantizer=W6, bias_quantizer=W6, name="c")(x) if False else x
        kw = {} if pool is None else {"pool_size": pool, "strides": strides, "padding": padding}
        x = cls(name="pool", **kw)(x)
        if len(x.shape) > 2:
            x = L.Flatten()(x)
        return _dense(3, "fc")(x)

    g, conv, _ = check(_model(in_shape, body))
    assert isinstance(g.layer("pool"), Pool) and "pool" in conv.taps.values()


def test_avg_pool_odd_count_is_rejected() -> None:
    model = _model((9, 3), lambda x: L.AveragePooling1D(3, name="avg3")(x))
    with pytest.raises(UnsupportedModel, match=r"'avg3'.*\[3\].*power-of-two"):
        convert(model, "t", None)
    model = _model((5, 5, 1), lambda x: L.AveragePooling2D(2, padding="same", name="p")(x))
    check(model)  # counts 4, 2, 1 at the borders: all powers of two


def test_reshape_into_conv() -> None:
    def body(x: Any) -> Any:
        x = L.Reshape((4, 3, 2), name="img")(x)
        x = QConv2D(2, 2, kernel_quantizer=W6, bias_quantizer=W6, name="conv")(x)
        return _dense(3, "fc")(L.Flatten()(x))

    check(_model((24,), body))


# --- skip connections ---------------------------------------------------------------------


def test_add_and_concatenate() -> None:
    def body(x: Any) -> Any:
        a = _dense(6, "a", quantized_relu(6, 2))(x)
        b = _dense(6, "b")(a)
        s = L.Add(name="add")([a, b])
        c = L.Concatenate(name="cat")([s, x])
        return _dense(3, "fc")(c)

    g, conv, _ = check(_model((6,), body))
    assert {"add", "cat"} <= set(conv.taps.values())
    assert [p.name for p in g.producers(g.layer("cat"))] == ["add", "q_in"]


def test_concatenate_channels_of_images() -> None:
    def body(x: Any) -> Any:
        a = QConv2D(
            2, 3, padding="same", kernel_quantizer=W6, bias_quantizer=W6,
            activation=quantized_relu(4, 1), name="a",
        )(x)  # fmt: skip
        c = L.Concatenate(name="cat")([x, a])
        c = QConv2D(2, 2, strides=2, kernel_quantizer=W6, bias_quantizer=W6, name="b")(c)
        return _dense(2, "fc")(L.Flatten()(c))

    check(_model((4, 5, 2), body))


# --- batch norm -----------------------------------------------------------------------------


def _set_bn(layer: Any, rng: np.random.Generator, po2: bool) -> None:
    c = layer.gamma.shape[0]
    if po2:
        vals = [
            2.0 ** rng.integers(-2, 2, c),
            rng.choice([-1.0, -0.5, 0.25, 0.5], c),
            rng.choice([-0.5, 0.25, 0.125], c),
            4.0 ** rng.integers(-1, 2, c),
        ]
    else:  # dyadic but not powers of two
        vals = [
            rng.choice([0.75, 1.25, 1.5], c),
            rng.choice([-0.375, 0.25, 0.625], c),
            rng.choice([-0.5, 0.25], c),
            np.ones(c),
        ]
    layer.set_weights([np.asarray(v, np.float32) for v in vals])


def test_qbatchnorm_po2_is_folded() -> None:
    def body(x: Any) -> Any:
        x = _dense(6, "fc1")(x)
        x = QBatchNormalization(epsilon=0.0, name="bn")(x)
        x = QActivation(quantized_relu(6, 2), name="act")(x)
        return _dense(3, "fc2")(x)

    model = _model((8,), body)
    _set_bn(model.get_layer("bn"), np.random.default_rng(0), po2=True)
    g, conv, _ = check(model)
    assert not any(isinstance(lay, ScaleShift) for lay in g.layers)
    assert conv.taps["fc1"] == "bn" and any("folded" in n for n in g.notes)


def test_batchnorm_after_conv_activation_is_scale_shift() -> None:
    def body(x: Any) -> Any:
        x = QConv2D(
            3, 3, strides=2, padding="same", kernel_quantizer=W6, bias_quantizer=W6,
            activation=quantized_relu(6, 2), name="conv",
        )(x)  # fmt: skip
        x = L.BatchNormalization(epsilon=0.0, name="bn")(x)
        x = QActivation(quantized_bits(6, 2), name="act")(x)
        return _dense(3, "fc")(L.Flatten()(x))

    model = _model((5, 5, 2), body)
    _set_bn(model.get_layer("bn"), np.random.default_rng(1), po2=False)
    g, conv, _ = check(model)
    bn = g.layer("bn")
    assert isinstance(bn, ScaleShift) and conv.taps["bn"] == "bn"


def test_float_batchnorm_with_trained_statistics_is_rejected() -> None:
    def body(x: Any) -> Any:
        return L.BatchNormalization(name="bn_float")(_dense(4, "fc")(x))

    model = _model((8,), body)
    bn = model.get_layer("bn_float")
    bn.set_weights([np.full(4, 1.1, np.float32), np.zeros(4, np.float32)] + bn.get_weights()[2:])
    with pytest.raises(UnsupportedModel, match=r"'bn_float'.*float32.*not supported"):
        convert(model, "t", None)


# --- weight quantizers ----------------------------------------------------------------------

WEIGHT_QUANTIZERS = {
    "alpha_0.75": quantized_bits(5, 0, alpha=0.75),
    "alpha_2": quantized_bits(4, 1, alpha=2.0),
    "auto_po2": quantized_bits(6, 0, alpha="auto_po2"),
    "keep_negative_false": quantized_bits(4, 0, keep_negative=False),
    "symmetric": quantized_bits(5, 1, symmetric=True),
    "binary": binary(),
    "binary_alpha": binary(alpha=0.5),
    "binary_auto_po2": binary(alpha="auto_po2"),
    "ternary": ternary(),
    "ternary_threshold": ternary(alpha=0.25, threshold=0.1),
    "ternary_auto_po2": ternary(alpha="auto_po2"),
    "po2": quantized_po2(4),
}


@pytest.mark.parametrize("key", list(WEIGHT_QUANTIZERS))
def test_weight_quantizer(key: str) -> None:
    q = WEIGHT_QUANTIZERS[key]

    def body(x: Any) -> Any:
        x = QDense(8, kernel_quantizer=q, bias_quantizer=W6, name="fc1")(x)
        x = QActivation(quantized_relu(6, 2), name="act")(x)
        x = QConv1D(2, 3, kernel_quantizer=q, bias_quantizer=W6, name="c1")(L.Reshape((8, 1))(x))
        return L.Flatten(name="out")(x)

    g, _, _ = check(_model((6,), body))
    d = g.layer("fc1")
    assert isinstance(d, Dense) and np.count_nonzero(d.weights) > 0


def test_auto_po2_scales_become_a_wider_type() -> None:
    def body(x: Any) -> Any:
        return QDense(
            4, kernel_quantizer=quantized_bits(4, 0, alpha="auto_po2"), bias_quantizer=W6,
            name="fc",
        )(x)  # fmt: skip

    model = _model((6,), body)
    k = model.get_layer("fc").kernel
    k.assign(k.numpy() * np.array([0.1, 1.0, 4.0, 16.0], np.float32))  # spread channel scales
    g, _, _ = check(model)
    d = g.layer("fc")
    assert isinstance(d, Dense) and d.weight_type.width > 4


def test_auto_alpha_not_exact_is_rejected() -> None:
    model = _model(
        (6,), lambda x: QDense(3, kernel_quantizer=quantized_bits(4, 0, alpha="auto"), name="fa")(x)
    )
    k = model.get_layer("fa").kernel
    k.assign(np.linspace(-0.9, 0.7, k.numpy().size, dtype=np.float32).reshape(k.shape))
    with pytest.raises(UnsupportedModel, match=r"'fa'.*alpha='auto'.*not powers of two"):
        convert(model, "t", None)


# --- activation quantizers ------------------------------------------------------------------

ACT_QUANTIZERS = {
    "relu_int": quantized_relu(6, 2),
    "relu_leaky": quantized_relu(6, 2, negative_slope=0.25),
    "relu_sigmoid": quantized_relu(4, 1, use_sigmoid=1),
    "bits_unsigned": quantized_bits(5, 1, keep_negative=False),
    "bits_symmetric": quantized_bits(5, 1, symmetric=True),
    "bits_1bit": quantized_bits(1, 0),
    "binary": binary(),
    "binary_01": binary(use_01=True),
    "binary_alpha": binary(alpha=0.5),
    "ternary": ternary(),
    "ternary_alpha_threshold": ternary(alpha=0.5, threshold=0.4),
    "po2": quantized_po2(4),
    "po2_max": quantized_po2(4, max_value=2),
    "relu_po2": quantized_relu_po2(4),
    "relu_po2_slope": quantized_relu_po2(4, negative_slope=0.5),
    "tanh": quantized_tanh(4),
    "tanh_symmetric": quantized_tanh(5, symmetric=True),
    "tanh_real": quantized_tanh(4, use_real_tanh=True),
    "sigmoid": quantized_sigmoid(4),
    "sigmoid_real": quantized_sigmoid(5, use_real_sigmoid=True),
}


@pytest.mark.parametrize("key", list(ACT_QUANTIZERS))
def test_activation_quantizer(key: str) -> None:
    q = ACT_QUANTIZERS[key]

    def body(x: Any) -> Any:
        x = _dense(8, "fc1")(x)
        x = QActivation(q, name="act")(x)
        return _dense(4, "fc2")(x)

    g, conv, _ = check(_model((6,), body))
    assert conv.taps.get("act") == "act"
    act = g.layer("act")
    assert act.kind in ("activation", "steps")
    if isinstance(act, Steps):
        assert np.all(np.diff(act.thresholds) > 0)
        assert len(act.levels) == len(act.thresholds) + 1


def test_quantizer_as_layer_activation() -> None:
    def body(x: Any) -> Any:
        x = _dense(8, "fc1", act=ternary(alpha=0.5))(x)
        return _dense(3, "fc2", act="relu")(x)

    g, conv, _ = check(_model((6,), body))
    assert conv.taps["fc1_act"] == "fc1" and isinstance(g.layer("fc1_act"), Steps)


# --- unsupported ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda: QConv2D(2, 3, dilation_rate=2, kernel_quantizer=W6, name="bad"), "dilation"),
        (
            lambda: QDepthwiseConv2D(3, depth_multiplier=2, depthwise_quantizer=W6, name="bad"),
            "depth_multiplier",
        ),
        (lambda: QActivation(quantized_bits(4, 0, alpha="auto"), name="bad"), "alpha='auto'"),
        (lambda: L.Conv2DTranspose(2, 3, name="bad"), "is not supported"),
        (lambda: L.Conv2D(2, 3, name="bad"), "'ptq' in the flow"),  # float without ptq
        (
            lambda: QConv2D(
                2,
                3,
                kernel_quantizer=quantized_bits(4, 0, use_stochastic_rounding=True),
                name="bad",
            ),
            "stochastic",
        ),
    ],
)
def test_unsupported_image_layers(make: Any, needle: str) -> None:
    model = _model((6, 6, 2), lambda x: make()(x))
    with pytest.raises(UnsupportedModel) as e:
        convert(model, "t", None)
    assert "'bad'" in str(e.value) and needle in str(e.value)


# --- QAveragePooling2D / QGlobalAveragePooling2D ---------------------------------------------


@pytest.mark.parametrize(
    "make,in_shape,factor",
    [
        # q(1/4) = 1/4: exactly the average, no extra layer; activation quantizer after it
        (
            lambda: QAveragePooling2D(
                2,
                average_quantizer=quantized_bits(8, 0, alpha=1),
                activation=quantized_relu(5, 1),
                name="qavg",
            ),
            (5, 7, 2),
            1.0,
        ),  # fmt: skip
        # QKeras 0.9: alpha * quantized(x), so q(1/4) = 1.5 / 4: average times 1.5; 'same'
        # padding at the borders
        (
            lambda: QAveragePooling2D(
                2, padding="same", average_quantizer=quantized_bits(4, 0, alpha=1.5), name="qavg"
            ),
            (5, 5, 2),
            1.5,
        ),  # fmt: skip
        (lambda: QAveragePooling2D((1, 2), name="qavg"), (4, 6, 2), 1.0),  # no quantizer
        # binary(1/8) = 1: average times 8
        (lambda: QGlobalAveragePooling2D(average_quantizer=binary(), name="qavg"), (4, 2, 3), 8.0),
    ],
)
def test_qaverage_pooling(make: Any, in_shape: tuple, factor: float) -> None:
    def body(x: Any) -> Any:
        x = make()(x)
        if len(x.shape) > 2:
            x = L.Flatten()(x)
        return _dense(3, "fc")(x)

    g, conv, _ = check(_model(in_shape, body))
    assert isinstance(g.layer("qavg"), Pool) and "qavg" in conv.taps.values()
    scales = [lay for lay in g.layers if isinstance(lay, ScaleShift)]
    if factor == 1.0:
        assert not scales
    else:
        (s,) = scales
        assert np.all(to_float(s.scale, s.scale_type) == factor)


def test_qaverage_pooling_odd_window_is_rejected() -> None:
    model = _model((6, 6, 1), lambda x: QAveragePooling2D(3, name="qavg3")(x))
    with pytest.raises(UnsupportedModel, match=r"'qavg3'.*\[9\].*power-of-two"):
        convert(model, "t", None)


# --- float reference (quantizers off) -------------------------------------------------------


def test_float_forward_equals_a_plain_keras_twin() -> None:
    """float_forward of a conv/pool/BN/add/concat QKeras model equals the same architecture
    built from plain Keras layers with the same float weights."""

    def body(x: Any, q: bool = True) -> Any:
        conv = (lambda **k: QConv2D(kernel_quantizer=W6, bias_quantizer=W6, **k)) if q else L.Conv2D
        a = conv(filters=3, kernel_size=3, padding="same", name="c1")(x)
        a = QBatchNormalization(name="bn")(a) if q else L.BatchNormalization(name="bn")(a)
        a = QActivation(quantized_relu(6, 2), name="r1")(a) if q else L.ReLU(name="r1")(a)
        b = conv(filters=3, kernel_size=1, name="c2")(x)
        s = L.Add(name="add")([a, b])
        c = L.Concatenate(name="cat")([s, x])
        p = (
            QAveragePooling2D(2, average_quantizer=W6, name="avg")(c)
            if q
            else (L.AveragePooling2D(2, name="avg")(c))
        )
        p = L.MaxPooling2D(1, name="mx")(p)
        f = L.Flatten(name="flat")(p)
        return _dense(4, "fc")(f) if q else L.Dense(4, name="fc")(f)

    from asicflow.convert.qkeras_model import float_forward

    model = _model((6, 6, 2), body)
    _set_bn(model.get_layer("bn"), np.random.default_rng(3), po2=False)
    inp = L.Input((6, 6, 2))
    twin = tf.keras.Model(inp, body(inp, q=False))
    for layer in twin.layers[1:]:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    x = np.random.default_rng(0).uniform(-2, 2, (64, 72)).astype(np.float32)
    want = twin.predict(x.reshape(-1, 6, 6, 2), verbose=0)
    got = float_forward(model, x)
    assert got is not None and got.shape == (64, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    q_out = model.predict(x.reshape(-1, 6, 6, 2), verbose=0)
    assert np.abs(q_out - want).max() > 1e-3  # the quantized model differs: quantizers were off


def test_float_forward_binary_off_is_identity() -> None:
    from asicflow.convert.qkeras_model import float_forward

    model = _model((6,), lambda x: _dense(3, "fc")(QActivation(binary(), name="b")(x)))
    x = np.random.default_rng(0).uniform(-1, 1, (5, 6)).astype(np.float32)
    w, b = model.get_layer("fc").get_weights()
    got = float_forward(model, x)
    assert got is not None
    np.testing.assert_allclose(got, x @ w + b, rtol=1e-5, atol=1e-6)
    model = _model((6,), lambda x: QActivation(quantized_relu(4, 1, use_sigmoid=1))(x))
    assert float_forward(model, x) is None
