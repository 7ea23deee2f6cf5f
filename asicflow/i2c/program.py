"""Reprogramming a chip: a trained model's quantized weights -> the I2C write transactions.

``asicflow i2c-writes FLOW.yaml MODEL.h5 --out DIR`` (or the ``i2c`` step, for
``i2c.reload_model``) converts ``MODEL`` with the flow's converter, checks that every
parameter array matches the flow's register map (same order, shape and fixed-point type,
values in range) and writes ``DIR/params.npz`` (raw arrays keyed ``<layer>.<array>``),
``DIR/writes.json`` and ``DIR/writes.txt`` (one line per transaction). TensorFlow runs in
this process: the ``i2c`` step starts it as a child (``python -m asicflow.i2c.program``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from asicflow.config import FlowConfig, load_flow
from asicflow.errors import AsicflowError
from asicflow.fixed import IntArray
from asicflow.i2c.regmap import RegisterMap, transactions, writes_json, writes_text
from asicflow.ir import Graph, param_arrays


def matched_params(regmap: RegisterMap, graph: Graph, model: str) -> dict[str, IntArray]:
    """``graph``'s parameter arrays keyed by the register map's names (matched by position:
    layer names of another training run may differ); every mismatch reported at once."""
    arrays = param_arrays(graph)
    problems = []
    if len(arrays) != len(regmap.fields):
        problems.append(
            f"{model} has {len(arrays)} parameter arrays, the register map "
            f"{len(regmap.fields)}: not the same architecture"
        )
    out: dict[str, IntArray] = {}
    for f, pa in zip(regmap.fields, arrays, strict=False):
        where = f"{model} layer '{pa.layer}' {pa.name} (register map {f.key})"
        if tuple(pa.shape) != tuple(f.shape):
            problems.append(f"{where}: shape {tuple(pa.shape)}, the map holds {tuple(f.shape)}")
        elif pa.type.ac() != f.type:
            problems.append(
                f"{where}: type {pa.type.ac()}, the map holds {f.type} (retrain with the same "
                "quantizers, or regenerate the chip's register map)"
            )
        else:
            out[f.key] = np.asarray(pa.values, np.int64).reshape(f.shape)
    if problems:
        raise AsicflowError(
            "the model does not fit the I2C register map:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return out


def write_program(regmap: RegisterMap, arrays: dict[str, IntArray], chunk: int, out: Path) -> int:
    """Write params.npz, writes.json and writes.txt for ``arrays``; the transaction count."""
    out.mkdir(parents=True, exist_ok=True)
    writes = transactions(regmap.pack(arrays), chunk)
    with (out / "params.npz").open("wb") as fh:
        np.savez(fh, **arrays)
    (out / "writes.json").write_text(json.dumps(writes_json(regmap, writes), indent=1) + "\n")
    (out / "writes.txt").write_text(writes_text(regmap, writes))
    return len(writes)


def model_graph(flow: FlowConfig, model_path: Path) -> Graph:
    """``model_path`` converted as the flow converts its own model (imports TensorFlow)."""
    return _convert(flow, model_path)[1].graph


def _convert(flow: FlowConfig, model_path: Path) -> tuple[Any, Any]:
    from asicflow.convert import qkeras_model as qk

    model = qk.load_model(model_path)
    return model, qk.convert(model, flow.name, flow.input_type)


def program(
    flow: FlowConfig,
    model_path: Path,
    regmap: RegisterMap,
    out: Path,
    reference: Path | None = None,
) -> int:
    """Write ``out/params.npz``, ``writes.json``, ``writes.txt``; with ``reference`` (the
    flow's ``convert/reference.npz``) also ``out/reference.npz``: QKeras's own outputs of
    this model, every tapped layer, on the flow's hardware stimuli ``x``, so the second
    weight set is held to QKeras as the first one is."""
    model, conv = _convert(flow, model_path)
    arrays = matched_params(regmap, conv.graph, str(model_path))
    n = write_program(regmap, arrays, flow.i2c.write_chunk, out)
    if reference is not None:
        from asicflow.convert import qkeras_model as qk

        with np.load(reference) as ref:
            x_raw = ref["x"]
        x = (x_raw * 2.0**-conv.graph.input.out_type.frac).astype(np.float32)
        refs = qk.reference_outputs(model, conv, x)
        with (out / "reference.npz").open("wb") as fh:
            np.savez(fh, x=x_raw, **{f"qkeras.{k}": v for k, v in refs.items()})
    return n


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m asicflow.i2c.program")
    p.add_argument("flow", type=Path)
    p.add_argument("model", type=Path)
    p.add_argument("regmap", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--reference", type=Path, help="the flow's convert/reference.npz")
    args = p.parse_args(argv)
    regmap = RegisterMap.load(args.regmap)
    n = program(load_flow(args.flow), args.model, regmap, args.out, args.reference)
    print(f"{n} I2C write transactions in {args.out / 'writes.txt'}")
    return 0


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
