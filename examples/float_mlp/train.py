"""Train the float_mlp example: a plain float Keras model (no QKeras) on scikit-learn's digits.

8x8x1 pixels -> Conv2D 4 filters 3x3 stride 2 'same' -> BatchNormalization -> ReLU -> Flatten
-> Dense 16 ReLU -> Dense 10 softmax. asicflow quantizes it after training (``ptq`` in
``flows/float_mlp.yaml``): the batch norm is folded into the convolution, weights are rounded
to the flow's types and each layer's output range is calibrated on the training images.

Run from the project root:  .venv/bin/python examples/float_mlp/train.py
Writes examples/float_mlp/float_mlp.h5 (committed, so flows are reproducible).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tensorflow as tf
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import sklearn_digits


def build() -> tf.keras.Model:
    inp = layers.Input((64,), name="pixels")
    x = layers.Reshape((8, 8, 1), name="image")(inp)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("relu", name="relu_conv")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(16, activation="relu", name="fc1")(x)
    out = layers.Dense(10, activation="softmax", name="fc2")(x)
    return tf.keras.Model(inp, out, name="float_mlp")


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    d = sklearn_digits()
    model = build()
    model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(d.x[~d.test], d.y[~d.test], epochs=60, batch_size=32, verbose=0)
    _, acc = model.evaluate(d.x[d.test], d.y[d.test], verbose=0)
    print(f"float test accuracy {acc:.4f}")
    model.save(Path(__file__).with_name("float_mlp.h5"))


if __name__ == "__main__":
    main()
