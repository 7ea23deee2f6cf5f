"""Train the digits_mlp example: 64 -> 16 -> 10 QKeras MLP on scikit-learn's digits.

Run from the project root:  .venv/bin/python examples/digits_mlp/train.py
Writes examples/digits_mlp/digits_mlp.h5 (committed, so flows are reproducible).
``--seed 1 --out digits_mlp_run2.h5`` is a second training run of the same architecture
(the weights the I2C flow ``digits_mlp_hardened`` reprograms its running design with).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import sklearn_digits


def build() -> tf.keras.Model:
    w = quantized_bits(6, 0, alpha=1)
    inp = layers.Input((64,), name="pixels")
    x = QActivation(quantized_bits(6, 0, keep_negative=False), name="q_in")(inp)
    x = QDense(16, kernel_quantizer=w, bias_quantizer=w, name="fc1")(x)
    x = QActivation(quantized_relu(6, 2), name="relu1")(x)
    x = QDense(10, kernel_quantizer=w, bias_quantizer=w, name="fc2")(x)
    out = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, out, name="digits_mlp")


def main() -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="digits_mlp.h5", help="file name beside this script")
    args = p.parse_args()
    tf.keras.utils.set_random_seed(args.seed)
    d = sklearn_digits()
    model = build()
    model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=60, batch_size=32, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name(args.out))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
