"""Train the binary_mlp example: 16 -> QDense 32 (ternary weights) -> binary activation
(+-1) -> QDense 32 (binary weights, alpha='auto_po2') -> ternary activation -> QDense 5
(6-bit), on SYNTHETIC jet-like data. The binary/ternary activations become staircase layers.

Run from the project root:  .venv/bin/python examples/binary_mlp/train.py
Writes examples/binary_mlp/binary_mlp.h5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf
from qkeras import QActivation, QDense, binary, quantized_bits, ternary
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import synthetic_jets


def build() -> tf.keras.Model:
    b = quantized_bits(6, 2, alpha=1)
    inp = layers.Input((16,), name="features")
    x = QActivation(quantized_bits(8, 0), name="q_in")(inp)
    x = QDense(32, kernel_quantizer=ternary(), bias_quantizer=b, name="fc1")(x)
    x = QActivation(binary(alpha=1), name="bin1")(x)
    x = QDense(32, kernel_quantizer=binary(alpha="auto_po2"), bias_quantizer=b, name="fc2")(x)
    x = QActivation(ternary(alpha=1, threshold=0.5), name="tern2")(x)
    x = QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=b, name="output")(
        x
    )
    out = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, out, name="binary_mlp")


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    d = synthetic_jets()
    model = build()
    model.compile(tf.keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=15, batch_size=128, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name("binary_mlp.h5"))


if __name__ == "__main__":
    main()
