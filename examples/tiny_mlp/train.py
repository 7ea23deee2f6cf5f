"""Train the tiny_mlp example: 16 -> 8 -> 5, 4-bit weights, 6-bit inputs, on SYNTHETIC jet-like
data (asicflow.datasets.synthetic_jets).

The smallest network that still has every part of a real one (an input quantizer, two QDense
layers, a quantized ReLU, a dropped softmax): the hardening checks of the test suite (TMR proof,
I2C load and read-back, fault campaigns, gate level) run on it in seconds. The heavy runs of
the same checks on digits_mlp and econ_encoder are in the nightly regression
(``regress/nightly.yaml``).

Run from the project root:  .venv/bin/python examples/tiny_mlp/train.py
Writes examples/tiny_mlp/tiny_mlp.h5 (committed, so flows are reproducible).
``--seed 1 --out tiny_mlp_run2.h5`` is a second training run of the same architecture (the
weights the I2C flow ``tiny_mlp_hardened`` reprograms its running design with).
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
    w = quantized_bits(4, 0, alpha=1)
    inp = layers.Input((16,), name="features")
    x = QActivation(quantized_bits(6, 2), name="q_in")(inp)
    x = QDense(8, kernel_quantizer=w, bias_quantizer=w, name="fc1")(x)
    x = QActivation(quantized_relu(4, 2), name="relu1")(x)
    x = QDense(5, kernel_quantizer=w, bias_quantizer=w, name="fc2")(x)
    out = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, out, name="tiny_mlp")


def main() -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="tiny_mlp.h5", help="file name beside this script")
    args = p.parse_args()
    tf.keras.utils.set_random_seed(args.seed)
    d = synthetic_jets()
    model = build()
    model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=8, batch_size=128, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name(args.out))


if __name__ == "__main__":
    main()
