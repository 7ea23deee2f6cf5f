"""Shared adder graphs of constant matrices (asicflow.rtl.cmvm): exact on random matrices,
fewer adders than per-output sums, the depth bound held, fast on a 64 x 64 layer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from asicflow.rtl.cmvm import solve
from asicflow.rtl.csd import csd


def naive_adders(w: np.ndarray) -> int:
    """Two-input adders of per-output signed-digit sums (nothing shared)."""
    return sum(max(sum(len(csd(int(v))) for v in row) - 1, 0) for row in w)


def random_matrix(rng: np.random.Generator) -> np.ndarray:
    n_out, n_in = int(rng.integers(1, 24)), int(rng.integers(1, 24))
    bits = int(rng.integers(1, 10))
    w = rng.integers(-(1 << (bits - 1)) if bits > 1 else -1, 1 << (bits - 1), (n_out, n_in))
    w[rng.random(w.shape) < rng.random()] = 0  # random sparsity, sometimes whole rows
    return w


def big_matvec(w: np.ndarray, x: list[int]) -> list[int]:
    return [sum(int(a) * b for a, b in zip(row, x, strict=True)) for row in w]


@pytest.mark.parametrize("seed", range(40))
def test_random_matrices_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = random_matrix(rng)
    depth = None if seed % 2 else int(rng.integers(1, 4))
    sol = solve(w.tolist(), w.shape[1], max_depth=depth)
    for _ in range(20):  # wide inputs: products far beyond int64
        x = [int(v) << 60 for v in rng.integers(-(1 << 20), 1 << 20, w.shape[1])]
        assert sol.evaluate(x) == big_matvec(w, x)
    if depth is not None:
        assert max(sol.depth, default=0) <= depth
    assert all(len(o) == 0 for o, row in zip(sol.outputs, w, strict=True) if not row.any())
    assert sol.adders <= naive_adders(w)


def test_shares_adders_on_a_dense_layer() -> None:
    rng = np.random.default_rng(5)
    w = rng.integers(-32, 32, (32, 64))
    sol = solve(w.tolist(), 64)
    x = [int(v) for v in rng.integers(-128, 128, 64)]
    assert sol.evaluate(x) == big_matvec(w, x)
    assert len(sol.ops) > 100
    assert sol.adders < 0.7 * naive_adders(w)


def test_identical_rows_are_one_sum() -> None:
    row = [3, -5, 0, 7, 1]
    sol = solve([row, row, row], 5)
    # the whole row is built once (its terms - 1 adders), each output is one term
    assert all(len(o) == 1 for o in sol.outputs)
    assert len(sol.ops) == sum(len(csd(v)) for v in row) - 1


def test_fast_on_a_64x64_layer() -> None:
    rng = np.random.default_rng(7)
    w = rng.integers(-32, 32, (64, 64))
    start = time.perf_counter()
    sol = solve(w.tolist(), 64)
    assert time.perf_counter() - start < 20  # measured ~3 s on a loaded 2-core machine
    x = [int(v) for v in rng.integers(-128, 128, 64)]
    assert sol.evaluate(x) == big_matvec(w, x)


def test_rows_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="every row must have 3 weights"):
        solve([[1, 2, 3], [1, 2]], 3)
