"""The one internal graph every backend reads: layers, fixed-point types, raw integer weights.

The golden model, the HLS C++ and the Verilog are all produced from a :class:`Graph`, so they
cannot drift apart. A graph is saved as ``graph.json`` (structure and types) plus
``weights.npz`` (raw integer arrays), and loads without TensorFlow.

Tensors are flat everywhere: a layer's ``shape`` (channels last, no batch axis; ``()`` means
``(size,)``) only says how its ``size`` values are arranged, element index = C order of the
shape. ``inputs`` names the producer layers (empty: the layer just before it in
``graph.layers``, which is in topological order). The semantics of every kind are defined
by its rule in :mod:`asicflow.golden` (the contract the C++ and the Verilog are checked against).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asicflow.fixed import FixedType, IntArray

Shape = tuple[int, ...]
Pad = tuple[int, int, int, int]


def _i64(rows: int = 0, *more: int) -> IntArray:
    return np.zeros((rows, *more), np.int64)


@dataclass
class Layer:
    """A node: ``name`` is a C/Verilog-safe identifier, ``source`` the Keras layer it came from."""

    kind: ClassVar[str] = "layer"
    # Parameter arrays (in this order) and the field holding each one's element type.
    param_types: ClassVar[dict[str, str]] = {}
    name: str
    source: str
    size: int
    out_type: FixedType
    # Raw-integer range of the output values (for exact sizing downstream).
    out_range: tuple[int, int] = (0, 0)
    shape: Shape = ()
    inputs: list[str] = field(default_factory=list)

    @property
    def dims(self) -> Shape:
        """The output shape, ``(size,)`` for flat layers."""
        return self.shape or (self.size,)

    @property
    def channels(self) -> int:
        return self.dims[-1]

    def params(self) -> dict[str, Any]:
        return {}

    def arrays(self) -> dict[str, IntArray]:
        """The parameter arrays (weights-as-inputs order), keyed by name."""
        return {k: getattr(self, k) for k in self.param_types}

    def array_type(self, name: str) -> FixedType:
        t: FixedType = getattr(self, self.param_types[name])
        return t


@dataclass
class Input(Layer):
    kind: ClassVar[str] = "input"


@dataclass
class Dense(Layer):
    """y = cast(sum_i cast(x_i * w_ij, accum) + cast(b_j, accum), out_type)."""

    kind: ClassVar[str] = "dense"
    param_types: ClassVar[dict[str, str]] = {"weights": "weight_type", "bias": "bias_type"}
    n_in: int = 0
    weight_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    bias_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))
    weights: IntArray = field(default_factory=lambda: _i64(0, 0))  # (n_in, n)
    bias: IntArray = field(default_factory=lambda: _i64(0))
    reuse: int = 1

    def params(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "weight_type": self.weight_type.to_dict(),
            "bias_type": self.bias_type.to_dict(),
            "accum": self.accum.to_dict(),
            "reuse": self.reuse,
        }

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


def conv_out_len(n: int, k: int, s: int, pad_lo: int, pad_hi: int) -> int:
    return (n + pad_lo + pad_hi - k) // s + 1


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after); the odd pixel goes after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def window_taps(
    in_shape: Shape, kernel: tuple[int, int], stride: tuple[int, int], pad: Pad
) -> IntArray:
    """(HO*WO, KH*KW) flat spatial index ``h*W + w`` of every window tap, -1 where padded."""
    h, w = in_shape[0], in_shape[1]
    kh, kw = kernel
    sh, sw = stride
    ho = conv_out_len(h, kh, sh, pad[0], pad[1])
    wo = conv_out_len(w, kw, sw, pad[2], pad[3])
    rows = np.arange(ho)[:, None] * sh - pad[0] + np.arange(kh)[None, :]  # (HO, KH)
    cols = np.arange(wo)[:, None] * sw - pad[2] + np.arange(kw)[None, :]  # (WO, KW)
    r = rows[:, None, :, None]
    c = cols[None, :, None, :]
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    idx = np.where(ok, r * w + c, -1)
    return idx.reshape(ho * wo, kh * kw).astype(np.int64)


@dataclass
class Conv(Layer):
    """2-D convolution (1-D as H = 1): each output (ho, wo, f) is a Dense output over the
    in-bounds inputs of its window (padding contributes nothing)."""

    kind: ClassVar[str] = "conv"
    param_types: ClassVar[dict[str, str]] = {"weights": "weight_type", "bias": "bias_type"}
    in_shape: Shape = (1, 1, 1)  # (H, W, C)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: Pad = (0, 0, 0, 0)  # top, bottom, left, right
    depthwise: bool = False
    filters: int = 1
    weight_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    bias_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))
    weights: IntArray = field(default_factory=lambda: _i64(1, 1, 1, 1))  # (KH, KW, C, F|1)
    bias: IntArray = field(default_factory=lambda: _i64(1))
    reuse: int = 1

    def params(self) -> dict[str, Any]:
        return {
            "in_shape": list(self.in_shape),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "pad": list(self.pad),
            "depthwise": self.depthwise,
            "filters": self.filters,
            "weight_type": self.weight_type.to_dict(),
            "bias_type": self.bias_type.to_dict(),
            "accum": self.accum.to_dict(),
            "reuse": self.reuse,
        }

    @property
    def out_hw(self) -> tuple[int, int]:
        return (
            conv_out_len(self.in_shape[0], self.kernel[0], self.stride[0], *self.pad[:2]),
            conv_out_len(self.in_shape[1], self.kernel[1], self.stride[1], *self.pad[2:]),
        )

    def taps(self) -> IntArray:
        """(HO*WO, KH*KW) spatial input index per window tap, -1 where padded."""
        return window_taps(self.in_shape, self.kernel, self.stride, self.pad)

    @property
    def nonzero_weights(self) -> int:
        return int(np.count_nonzero(self.weights))


@dataclass
class Pool(Layer):
    """max: cast(max over the in-bounds window, in_type.frac, out_type); avg: the exact
    in-bounds sum cast from in_type.frac + log2(count) (count always a power of two)."""

    kind: ClassVar[str] = "pool"
    op: str = "max"
    in_shape: Shape = (1, 1, 1)
    pool: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: Pad = (0, 0, 0, 0)
    in_type: FixedType = field(default_factory=lambda: FixedType(8, 1))

    def params(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "in_shape": list(self.in_shape),
            "pool": list(self.pool),
            "stride": list(self.stride),
            "pad": list(self.pad),
            "in_type": self.in_type.to_dict(),
        }

    @property
    def out_hw(self) -> tuple[int, int]:
        return (
            conv_out_len(self.in_shape[0], self.pool[0], self.stride[0], *self.pad[:2]),
            conv_out_len(self.in_shape[1], self.pool[1], self.stride[1], *self.pad[2:]),
        )

    def taps(self) -> IntArray:
        return window_taps(self.in_shape, self.pool, self.stride, self.pad)

    def counts(self) -> IntArray:
        """In-bounds elements per output position (HO*WO,)."""
        return (self.taps() >= 0).sum(axis=1).astype(np.int64)

    def count_shifts(self) -> IntArray:
        """log2 of :meth:`counts` (avg pooling); ValueError when a count is no power of two."""
        n = self.counts()
        if np.any(n & (n - 1)):
            raise ValueError(f"pool '{self.name}': window counts {sorted(set(n.tolist()))}")
        return np.array([int(v).bit_length() - 1 for v in n], np.int64)


@dataclass
class Reshape(Layer):
    """Identity on the flat data (Flatten, Reshape): only ``shape`` changes."""

    kind: ClassVar[str] = "reshape"


@dataclass
class ScaleShift(Layer):
    """Per channel c (last axis): y = cast(x * scale[c] + bias[c], out_type), exact in accum."""

    kind: ClassVar[str] = "scale"
    param_types: ClassVar[dict[str, str]] = {"scale": "scale_type", "bias": "bias_type"}
    scale_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    bias_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))
    scale: IntArray = field(default_factory=lambda: _i64(0))
    bias: IntArray = field(default_factory=lambda: _i64(0))

    def params(self) -> dict[str, Any]:
        return {
            "scale_type": self.scale_type.to_dict(),
            "bias_type": self.bias_type.to_dict(),
            "accum": self.accum.to_dict(),
        }


@dataclass
class Add(Layer):
    """y = cast(sum_k x_k (aligned to accum.frac), accum.frac, out_type); accum exact."""

    kind: ClassVar[str] = "add"
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))
    in_types: list[FixedType] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        return {"accum": self.accum.to_dict(), "in_types": [t.to_dict() for t in self.in_types]}


@dataclass
class Concat(Layer):
    """Concatenation along the last axis; every input cast to out_type first."""

    kind: ClassVar[str] = "concat"
    in_types: list[FixedType] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        return {"in_types": [t.to_dict() for t in self.in_types]}


@dataclass
class Steps(Layer):
    """Elementwise staircase on raw integers: y = levels[count(x >= thresholds)]."""

    kind: ClassVar[str] = "steps"
    in_type: FixedType = field(default_factory=lambda: FixedType(8, 1))
    thresholds: IntArray = field(default_factory=lambda: _i64(0))  # raw at in_type, increasing
    levels: IntArray = field(default_factory=lambda: _i64(1))  # raw at out_type

    def params(self) -> dict[str, Any]:
        return {
            "in_type": self.in_type.to_dict(),
            "thresholds": [int(v) for v in self.thresholds],
            "levels": [int(v) for v in self.levels],
        }


LAYER_KINDS: dict[str, type[Layer]] = {
    c.kind: c
    for c in (Input, Dense, Activation, Conv, Pool, Reshape, ScaleShift, Add, Concat, Steps)
}
_TYPE_PARAMS = ("weight_type", "bias_type", "scale_type", "accum", "in_type")
_TUPLE_PARAMS = ("in_shape", "kernel", "stride", "pad", "pool")


@dataclass(frozen=True)
class ParamArray:
    """One parameter array in the weights-as-inputs order (values flattened in C order)."""

    layer: str
    name: str
    shape: Shape
    type: FixedType
    values: IntArray

    @property
    def count(self) -> int:
        return int(math.prod(self.shape))


def param_arrays(graph: Graph) -> list[ParamArray]:
    """Every parameter array: layers in graph order, each layer's arrays in its order."""
    out = []
    for lay in graph.layers:
        for name, arr in lay.arrays().items():
            a = np.asarray(arr, np.int64)
            out.append(ParamArray(lay.name, name, a.shape, lay.array_type(name), a.reshape(-1)))
    return out


@dataclass
class Graph:
    """A feed-forward DAG of layers in topological order (``layers[0]`` is the input,
    ``layers[-1]`` the output)."""

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

    def producers(self, lay: Layer) -> list[Layer]:
        """The layers whose outputs ``lay`` reads (the previous layer when ``inputs`` is empty)."""
        if lay.inputs:
            return [self.layer(n) for n in lay.inputs]
        k = next(i for i, other in enumerate(self.layers) if other is lay)
        return [self.layers[k - 1]] if k > 0 else []

    def producer(self, lay: Layer) -> Layer:
        """The single producer of a one-input layer."""
        (p,) = self.producers(lay)
        return p

    def consumers(self, lay: Layer) -> list[Layer]:
        return [c for c in self.layers if any(p is lay for p in self.producers(c))]

    def is_chain(self) -> bool:
        """True when every layer reads exactly the one before it."""
        return all(
            self.producers(lay) == [self.layers[k - 1]] for k, lay in enumerate(self.layers[1:], 1)
        ) and all(len(self.consumers(lay)) == 1 for lay in self.layers[:-1])

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
                    "shape": list(lay.shape),
                    "inputs": list(lay.inputs),
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
        return Graph.from_json(data, arrays)

    @staticmethod
    def from_json(data: dict[str, Any], arrays: dict[str, IntArray]) -> Graph:
        layers: list[Layer] = []
        for d in data["layers"]:
            d = dict(d)
            cls = LAYER_KINDS[d.pop("kind")]
            d["out_type"] = FixedType.from_dict(d["out_type"])
            d["out_range"] = tuple(d["out_range"])
            d["shape"] = tuple(d.get("shape", ()))
            d["inputs"] = list(d.get("inputs", []))
            for key in _TYPE_PARAMS:
                if key in d:
                    d[key] = FixedType.from_dict(d[key])
            for key in _TUPLE_PARAMS:
                if key in d:
                    d[key] = tuple(int(v) for v in d[key])
            if "in_types" in d:
                d["in_types"] = [FixedType.from_dict(t) for t in d["in_types"]]
            for key in ("thresholds", "levels"):
                if key in d:
                    d[key] = np.array(d[key], np.int64)
            for key in cls.param_types:
                if f"{d['name']}.{key}" in arrays:
                    d[key] = arrays[f"{d['name']}.{key}"]
            layers.append(cls(**d))
        return Graph(data["name"], layers, data.get("notes", []))

    def with_params(self, arrays: dict[str, IntArray]) -> Graph:
        """A copy whose parameter arrays are ``arrays`` (keys ``<layer>.<array>``, any shape
        with the same element count): another weight set of the same network."""
        g = copy.deepcopy(self)
        for lay in g.layers:
            for name, old in lay.arrays().items():
                new = np.asarray(arrays[f"{lay.name}.{name}"], np.int64)
                setattr(lay, name, new.reshape(old.shape))
        return g

    def summary(self) -> str:
        rows = [f"{'layer':<16}{'kind':<12}{'shape':>14}  type"]
        for lay in self.layers:
            extra = f"  accum {lay.accum.short()}" if isinstance(lay, Dense | Conv) else ""
            src = f"  <- {', '.join(lay.inputs)}" if lay.inputs else ""
            shape = "x".join(str(d) for d in lay.dims)
            rows.append(
                f"{lay.name:<16}{lay.kind:<12}{shape:>14}  {lay.out_type.short()}{extra}{src}"
            )
        return "\n".join(rows)
