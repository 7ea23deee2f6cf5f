"""Stimulus files: raw integer inputs and golden outputs, in the forms the testbenches read.

``stimuli.npz``  arrays ``x`` (N x inputs), ``y`` (N x outputs) and ``layer.<name>`` for every
                 layer's golden output (for first-divergence reports); raw integers.
``inputs.txt``   one stimulus per line, raw inputs as decimal integers (C++ testbench).
``outputs.txt``  the golden raw outputs, same layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asicflow.fixed import IntArray
from asicflow.golden import run
from asicflow.ir import Graph


def write_text_matrix(path: Path, m: IntArray) -> None:
    np.savetxt(path, np.asarray(m, np.int64), fmt="%d", delimiter=" ")


def read_text_matrix(path: Path, cols: int) -> IntArray:
    m = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if m.size == 0:
        return np.zeros((0, cols), np.int64)
    return m.reshape(-1, cols)


def write_stimuli(graph: Graph, x_raw: IntArray, folder: Path) -> dict[str, IntArray]:
    """Run the golden model on ``x_raw`` and write all stimulus files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    trace = run(graph, x_raw)
    y = trace[graph.output.name]
    arrays = {"x": trace[graph.input.name], "y": y}
    arrays.update({f"layer.{k}": v for k, v in trace.items()})
    with (folder / "stimuli.npz").open("wb") as fh:
        np.savez(fh, **arrays)
    write_text_matrix(folder / "inputs.txt", arrays["x"])
    write_text_matrix(folder / "outputs.txt", y)
    return trace


def load_stimuli(folder: Path) -> dict[str, IntArray]:
    with np.load(folder / "stimuli.npz") as npz:
        return {k: npz[k] for k in npz.files}
