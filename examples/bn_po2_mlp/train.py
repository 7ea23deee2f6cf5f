"""Train the bn_po2_mlp example: 16 -> QDense 32 (power-of-two per-channel scales,
alpha='auto_po2') -> ReLU -> QDense 6 (auto_po2) -> QBatchNormalization (power-of-two
quantizers, epsilon 0: folded exactly into that dense) -> ReLU -> QDense 5 (auto_po2), on
SYNTHETIC jet-like data.

Why the batch norm sits on a 6-wide layer: TensorFlow's vectorized rsqrt (8 float lanes on
AVX) is one ulp off even for powers of four (measured: rsqrt(4.0**k) * 2**k == 1 - 2**-23), so
a QBatchNormalization over 8+ channels has no exact fixed-point equivalent and asicflow rejects
it; over fewer channels TensorFlow takes the exact scalar path.

Run from the project root:  .venv/bin/python examples/bn_po2_mlp/train.py
Writes examples/bn_po2_mlp/bn_po2_mlp.h5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf
from qkeras import QActivation, QBatchNormalization, QDense, quantized_bits, quantized_relu
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import synthetic_jets


def build() -> tf.keras.Model:
    po2 = quantized_bits(6, 0, alpha="auto_po2")
    b = quantized_bits(8, 3, alpha=1)
    inp = layers.Input((16,), name="features")
    x = QActivation(quantized_bits(10, 0), name="q_in")(inp)
    x = QDense(32, kernel_quantizer=po2, bias_quantizer=b, name="fc1")(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = QDense(6, kernel_quantizer=po2, bias_quantizer=b, name="fc2")(x)
    x = QBatchNormalization(epsilon=0.0, name="bn2")(x)
    x = QActivation(quantized_relu(6, 2), name="relu2")(x)
    x = QDense(5, kernel_quantizer=po2, bias_quantizer=b, name="output")(x)
    out = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, out, name="bn_po2_mlp")


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    d = synthetic_jets()
    model = build()
    model.compile(tf.keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=15, batch_size=128, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name("bn_po2_mlp.h5"))


if __name__ == "__main__":
    main()
