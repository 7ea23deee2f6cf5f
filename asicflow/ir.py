"""The one internal graph every backend reads: layers, fixed-point types, raw integer weights.

The golden model, the HLS C++ and the Verilog are all produced from a :class:`Graph`, so they
cannot drift apart. A graph is saved as ``graph.json`` (structure and types) plus
``weights.npz`` (raw integer weights), and loads without TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asicflow.fixed import FixedType, IntArray


@dataclass
class Layer:
    """A node: ``name`` is a C/Verilog-safe identifier, ``source`` the Keras layer it came from."""

    kind: ClassVar[str] = "layer"
    name: str
    source: str
    size: int
    out_type: FixedType
    # Raw-integer range of the output values (for exact sizing downstream).
    out_range: tuple[int, int] = (0, 0)

    def params(self) -> dict[str, Any]:
        return {}

    def arrays(self) -> dict[str, IntArray]:
        return {}


@dataclass
class Input(Layer):
    kind: ClassVar[str] = "input"


@dataclass
class Dense(Layer):
    """y = cast(sum_i cast(x_i * w_ij, accum) + cast(b_j, accum), out_type)."""

    kind: ClassVar[str] = "dense"
    n_in: int = 0
    weight_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    bias_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))
    weights: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # (n_in, n)
    bias: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def params(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "weight_type": self.weight_type.to_dict(),
            "bias_type": self.bias_type.to_dict(),
            "accum": self.accum.to_dict(),
        }

    def arrays(self) -> dict[str, IntArray]:
        return {"weights": self.weights, "bias": self.bias}

    @property
    def nonzero_weights(self) -> int:
        return int(np.count_nonzero(self.weights))


@dataclass
class Activation(Layer):
    """y = cast(relu(x) if relu else x, out_type): quantizers and ReLU."""

    kind: ClassVar[str] = "activation"
    relu: bool = False
    in_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    # True when no quantizer fixes the output type (float ReLU): precision inference sizes it.
    derived: bool = False

    def params(self) -> dict[str, Any]:
        return {"relu": self.relu, "in_type": self.in_type.to_dict(), "derived": self.derived}


LAYER_KINDS: dict[str, type[Layer]] = {c.kind: c for c in (Input, Dense, Activation)}
_TYPE_PARAMS = ("weight_type", "bias_type", "accum", "in_type")


@dataclass
class Graph:
    """A feed-forward chain of layers (``layers[0]`` is the input)."""

    name: str
    layers: list[Layer]
    notes: list[str] = field(default_factory=list)

    @property
    def input(self) -> Layer:
        return self.layers[0]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "notes": self.notes,
            "layers": [
                {
                    "kind": lay.kind,
                    "name": lay.name,
                    "source": lay.source,
                    "size": lay.size,
                    "out_type": lay.out_type.to_dict(),
                    "out_range": list(lay.out_range),
                    **lay.params(),
                }
                for lay in self.layers
            ],
        }

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "graph.json").write_text(json.dumps(self.to_json(), indent=1) + "\n")
        arrays = {f"{lay.name}.{k}": v for lay in self.layers for k, v in lay.arrays().items()}
        with (folder / "weights.npz").open("wb") as fh:
            np.savez(fh, **arrays)

    @staticmethod
    def load(folder: Path) -> Graph:
        data = json.loads((folder / "graph.json").read_text())
        with np.load(folder / "weights.npz") as npz:
            arrays = {k: npz[k].astype(np.int64) for k in npz.files}
        layers: list[Layer] = []
        for d in data["layers"]:
            cls = LAYER_KINDS[d.pop("kind")]
            d["out_type"] = FixedType.from_dict(d["out_type"])
            d["out_range"] = tuple(d["out_range"])
            for key in _TYPE_PARAMS:
                if key in d:
                    d[key] = FixedType.from_dict(d[key])
            for key in ("weights", "bias"):
                if f"{d['name']}.{key}" in arrays:
                    d[key] = arrays[f"{d['name']}.{key}"]
            layers.append(cls(**d))
        return Graph(data["name"], layers, data.get("notes", []))

    def summary(self) -> str:
        rows = [f"{'layer':<16}{'kind':<12}{'size':>6}  type"]
        for lay in self.layers:
            extra = f"  accum {lay.accum.short()}" if isinstance(lay, Dense) else ""
            rows.append(f"{lay.name:<16}{lay.kind:<12}{lay.size:>6}  {lay.out_type.short()}{extra}")
        return "\n".join(rows)
