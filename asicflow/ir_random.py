"""Random quantized networks as IR graphs (no TensorFlow): the pipeliner's calibration times
them, and the backend tests use them."""

from __future__ import annotations

import itertools

import numpy as np

from asicflow.fixed import FixedType
from asicflow.ir import Activation, Dense, Graph, Input, Layer
from asicflow.precision import infer


def random_mlp(
    sizes: list[int],
    seed: int = 0,
    in_type: FixedType | None = None,
    w_bits: int = 6,
    act_bits: int = 6,
    sparsity: float = 0.2,
    name: str = "mlp",
) -> Graph:
    """An MLP with random quantized weights: dense -> quantized ReLU ... -> dense (logits)."""
    rng = np.random.default_rng(seed)
    in_type = in_type or FixedType(8, 1, True, "RND_CONV", "SAT")
    w_type = FixedType(w_bits, 1, True)
    layers: list[Layer] = [Input("input", "input", sizes[0], in_type)]
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = rng.integers(w_type.raw_min, w_type.raw_max + 1, size=(n_in, n_out))
        w[rng.random((n_in, n_out)) < sparsity] = 0
        b = rng.integers(w_type.raw_min, w_type.raw_max + 1, size=n_out)
        layers.append(
            Dense(
                f"dense{k}",
                f"dense{k}",
                n_out,
                FixedType(1, 1),
                n_in=n_in,
                weight_type=w_type,
                bias_type=w_type,
                weights=w.astype(np.int64),
                bias=b.astype(np.int64),
            )
        )
        if k < len(sizes) - 2:
            layers.append(
                Activation(
                    f"relu{k}",
                    f"relu{k}",
                    n_out,
                    FixedType(act_bits, 2, False, "RND_CONV", "SAT"),
                    relu=True,
                )
            )
    g = Graph(name, layers)
    infer(g)
    return g
