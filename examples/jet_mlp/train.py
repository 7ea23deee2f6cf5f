"""Train the jet_mlp example: 16 -> 64 -> 32 -> 32 -> 5 (the hls4ml jet-tagging shape), 6-bit
weights, 10-bit signed inputs, on SYNTHETIC jet-like data (asicflow.datasets.synthetic_jets).

Run from the project root:  .venv/bin/python examples/jet_mlp/train.py
Writes examples/jet_mlp/jet_mlp.h5 (committed, so flows are reproducible).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import synthetic_jets


def build() -> tf.keras.Model:
    w = quantized_bits(6, 0, alpha=1)
    inp = layers.Input((16,), name="features")
    x = QActivation(quantized_bits(10, 0), name="q_in")(inp)
    for i, n in enumerate((64, 32, 32), start=1):
        x = QDense(n, kernel_quantizer=w, bias_quantizer=w, name=f"fc{i}")(x)
        x = QActivation(quantized_relu(6, 2), name=f"relu{i}")(x)
    x = QDense(5, kernel_quantizer=w, bias_quantizer=w, name="output")(x)
    out = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, out, name="jet_mlp")


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    d = synthetic_jets()
    model = build()
    model.compile(tf.keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=25, batch_size=128, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name("jet_mlp.h5"))


if __name__ == "__main__":
    main()
