"""Datasets for stimuli and accuracy: scikit-learn's bundled digits, synthetic jet-like and
sensor-like sets, or a user's ``.npz``. Each gives float inputs, labels (or None) and a
boolean test mask."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from asicflow.errors import AsicflowError

TEST_FRACTION = 0.3


@dataclass(frozen=True)
class Dataset:
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64] | None
    test: npt.NDArray[np.bool_]
    description: str


def _split(n: int, seed: int) -> npt.NDArray[np.bool_]:
    order = np.random.default_rng(seed).permutation(n)
    test = np.zeros(n, bool)
    test[order[: int(round(n * TEST_FRACTION))]] = True
    return test


def sklearn_digits() -> Dataset:
    """8x8 handwritten digits (1,797 images shipped inside scikit-learn), pixels in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return Dataset(
        x,
        d.target.astype(np.int64),
        _split(len(x), 0),
        "scikit-learn digits (8x8, 10 classes), pixels / 16",
    )


def synthetic_jets(n: int = 20000, seed: int = 0) -> Dataset:
    """SYNTHETIC 5-class, 16-feature data shaped like jet-substructure features.

    Each class has its own mean vector and correlated Gaussian spread, so a small MLP reaches
    a meaningful but imperfect accuracy. It is generated, not measured: say so in reports.
    """
    rng = np.random.default_rng(1234)  # fixed: the class geometry must not change with `seed`
    means = rng.normal(0.0, 0.5, size=(5, 16))
    mix = rng.normal(0.0, 0.35, size=(5, 16, 16))
    r = np.random.default_rng(seed)
    y = r.integers(0, 5, size=n)
    z = r.normal(size=(n, 16))
    x = means[y] + np.einsum("nij,nj->ni", mix[y], z) + 0.4 * r.normal(size=(n, 16))
    x = np.tanh(x / 2.0)  # bounded, like normalised detector features
    return Dataset(
        x.astype(np.float32),
        y.astype(np.int64),
        _split(n, seed),
        f"SYNTHETIC jet-like data (16 features, 5 classes, seed {seed})",
    )


def synthetic_sensor(n: int = 20000, seed: int = 0) -> Dataset:
    """SYNTHETIC 8x8 sensor-like energy maps (an ECON-T-like detector module), 4 classes.

    Each map holds Gaussian-shaped deposits on a non-negative noisy pedestal: class 0 noise
    only, 1 one narrow deposit, 2 one wide deposit, 3 two deposits. Values are bounded in
    [0, 4). Flattened in (row, column) order (8x8x1, channels last). Generated, not measured:
    say so in reports.
    """
    r = np.random.default_rng(seed)
    y = r.integers(0, 4, size=n)
    rows, cols = np.mgrid[0:8, 0:8]
    x = np.abs(r.normal(0.0, 0.08, size=(n, 8, 8)))

    def deposit(mask: npt.NDArray[np.bool_], width: npt.NDArray[np.float64]) -> None:
        k = int(mask.sum())
        cy, cx = r.uniform(0.5, 6.5, k), r.uniform(0.5, 6.5, k)
        e = r.gamma(3.0, 0.6, k)
        d2 = (rows[None] - cy[:, None, None]) ** 2 + (cols[None] - cx[:, None, None]) ** 2
        x[mask] += e[:, None, None] * np.exp(-d2 / (2 * width[:, None, None] ** 2))

    narrow, wide = r.uniform(0.5, 0.9, n), r.uniform(1.3, 2.0, n)
    deposit(y == 1, narrow[y == 1])
    deposit(y == 2, wide[y == 2])
    deposit(y == 3, narrow[y == 3])
    deposit(y == 3, wide[y == 3] * 0.7)
    x = np.minimum(x, 3.96875)
    return Dataset(
        x.reshape(n, 64).astype(np.float32),
        y.astype(np.int64),
        _split(n, seed),
        f"SYNTHETIC 8x8 sensor energy maps (4 deposit classes, seed {seed})",
    )


def from_npz(path: Path) -> Dataset:
    try:
        with np.load(path) as f:
            if "x" not in f.files:
                raise AsicflowError(f"{path}: no array 'x' (found: {', '.join(f.files)})")
            x = np.asarray(f["x"], np.float32)
            y = np.asarray(f["y"], np.int64) if "y" in f.files else None
            test = np.asarray(f["test"], bool) if "test" in f.files else np.ones(len(x), bool)
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise AsicflowError(f"cannot read stimuli file {path}: {exc}") from None
    if x.ndim < 2 or len(x) == 0:
        raise AsicflowError(f"{path}: 'x' must hold one row per sample, got shape {x.shape}")
    x = x.reshape(len(x), -1)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise AsicflowError(
            f"{path}: 'x' holds {int(bad.sum())} values that are NaN or infinite (as float32; "
            f"the first in sample {row}): replace or drop those samples"
        )
    for name, a in (("y", y), ("test", test)):
        if a is not None and a.shape != (len(x),):
            raise AsicflowError(
                f"{path}: '{name}' has shape {a.shape}, expected ({len(x)},): one per sample"
            )
    return Dataset(x, y, test, f"inputs from {path.name}")


def load(source: str, npz: Path | None = None, seed: int = 0) -> Dataset:
    if source == "sklearn_digits":
        return sklearn_digits()
    if source == "synthetic_jets":
        return synthetic_jets(seed=seed)
    if source == "synthetic_sensor":
        return synthetic_sensor(seed=seed)
    if source == "npz" and npz is not None:
        return from_npz(npz)
    raise AsicflowError(f"unknown data source {source!r}")
