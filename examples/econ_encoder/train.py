"""Train the econ_encoder example: an ECON-T-like encoder, 8x8x1 sensor map -> QConv2D
(8 filters 3x3, stride 2, 'same') -> flatten -> QDense 16 (the latent sent off-detector),
6-bit weights, on SYNTHETIC sensor-like data (asicflow.datasets.synthetic_sensor).

The target is autoencoder-like: a float decoder (Dense 64, trained here, not in hardware)
reconstructs the map from the 16 latent values; only the encoder is saved.

Run from the project root:  .venv/bin/python examples/econ_encoder/train.py
Writes examples/econ_encoder/econ_encoder.h5 and sensor_data.npz (stimuli: array 'x' and
the 'test' mask, no labels: the encoder's outputs are latents, not class scores).
``--seed 1 --out econ_encoder_run2.h5`` is a second training run of the same architecture on
the same data (the weights flows/econ_encoder_hardened.yaml reloads over I2C); it writes only
the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
from tensorflow.keras import layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from asicflow.datasets import synthetic_sensor

HERE = Path(__file__).resolve().parent


def build() -> tf.keras.Model:
    w = quantized_bits(6, 0, alpha=1)
    inp = layers.Input((8, 8, 1), name="sensor")
    x = QActivation(quantized_bits(8, 2, keep_negative=False), name="q_in")(inp)
    x = QConv2D(
        8, (3, 3), strides=2, padding="same", kernel_quantizer=w, bias_quantizer=w, name="conv"
    )(x)
    x = QActivation(quantized_relu(4, 2), name="relu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = QDense(16, kernel_quantizer=w, bias_quantizer=w, name="latent")(x)
    return tf.keras.Model(inp, x, name="econ_encoder")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0, help="training seed (the data stay seed 0)")
    p.add_argument("--out", default="econ_encoder.h5", help="file name beside this script")
    args = p.parse_args()
    tf.keras.utils.set_random_seed(args.seed)
    d = synthetic_sensor(20000, seed=0)
    encoder = build()
    recon = layers.Reshape((8, 8, 1))(layers.Dense(64, name="decoder")(encoder.output))
    auto = tf.keras.Model(encoder.input, recon)
    auto.compile(tf.keras.optimizers.Adam(2e-3), "mse")
    x = d.x.reshape(-1, 8, 8, 1)
    auto.fit(x[~d.test], x[~d.test], epochs=15, batch_size=128, verbose=0)
    mse = auto.evaluate(x[d.test], x[d.test], verbose=0)
    print(f"test reconstruction MSE {mse:.5f} (input variance {float(np.var(d.x)):.5f})")
    encoder.save(HERE / args.out)
    if args.out == "econ_encoder.h5":
        np.savez(HERE / "sensor_data.npz", x=d.x[:4000], test=d.test[:4000])


if __name__ == "__main__":
    main()
