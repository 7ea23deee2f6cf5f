"""Small IR graphs built without TensorFlow, for backend tests."""

from __future__ import annotations

import numpy as np

from asicflow.fixed import FixedType
from asicflow.ir import (
    Activation,
    Add,
    Concat,
    Conv,
    Dense,
    Graph,
    Input,
    Layer,
    Pool,
    Reshape,
    ScaleShift,
    Steps,
    conv_out_len,
    same_padding,
)
from asicflow.ir_random import random_mlp
from asicflow.precision import infer


def random_inputs(g: Graph, n: int, seed: int = 1) -> np.ndarray:
    t = g.input.out_type
    return np.random.default_rng(seed).integers(t.raw_min, t.raw_max + 1, size=(n, g.input.size))


def example_graphs() -> list[tuple[str, Graph]]:
    """Two differently shaped networks for backend tests: a digits-sized MLP with 8-bit
    weights, and the jet-tagging shape with 6-bit weights, sparse, an unsigned 10-bit input."""
    deep = random_mlp(
        [16, 64, 32, 32, 5],
        seed=3,
        w_bits=6,
        act_bits=8,
        sparsity=0.5,
        in_type=FixedType(10, 4, False, "TRN", "WRAP"),
    )
    return [("digits_mlp", random_mlp([64, 16, 10], seed=0, w_bits=8)), ("deep_mlp", deep)]


# ---------------------------------------------------------------------------------------------
# Model-breadth graphs (conv, pool, reshape, scale/shift, add, concat, steps).


def pads(
    in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], padding: str
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) for Keras 'valid' / 'same' (TensorFlow's rule)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    t, b = same_padding(in_hw[0], kernel[0], stride[0])
    le, r = same_padding(in_hw[1], kernel[1], stride[1])
    return (t, b, le, r)


class Builder:
    """Appends layers with shapes and sizes filled in; ``build()`` runs precision inference."""

    def __init__(
        self, name: str, in_shape: tuple[int, ...], in_type: FixedType | None = None, seed: int = 0
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.name = name
        t = in_type or FixedType(8, 3, True, "RND_CONV", "SAT")
        self.layers: list[Layer] = [
            Input("input", "input", int(np.prod(in_shape)), t, shape=tuple(in_shape))
        ]

    @property
    def last(self) -> Layer:
        return self.layers[-1]

    def _add(self, lay: Layer, inputs: list[str] | None) -> str:
        if inputs is not None:
            lay.inputs = list(inputs)
        self.layers.append(lay)
        return lay.name

    def _src(self, inputs: list[str] | None) -> Layer:
        return (
            self.layers[-1] if not inputs else next(x for x in self.layers if x.name == inputs[0])
        )

    def _w(self, shape: tuple[int, ...], t: FixedType, sparsity: float = 0.2) -> np.ndarray:
        w = self.rng.integers(t.raw_min, t.raw_max + 1, size=shape).astype(np.int64)
        w[self.rng.random(shape) < sparsity] = 0
        return w

    def conv(
        self,
        name: str,
        filters: int,
        kernel: tuple[int, int],
        stride: tuple[int, int] = (1, 1),
        padding: str = "valid",
        depthwise: bool = False,
        w_bits: int = 6,
        inputs: list[str] | None = None,
    ) -> str:
        src = self._src(inputs)
        h, w, c = src.dims if len(src.dims) == 3 else (1, *src.dims)  # 1-D: (L, C)
        pad = pads((h, w), kernel, stride, padding)
        f = c if depthwise else filters
        ho = conv_out_len(h, kernel[0], stride[0], pad[0], pad[1])
        wo = conv_out_len(w, kernel[1], stride[1], pad[2], pad[3])
        wt = FixedType(w_bits, 1, True)
        lay = Conv(
            name,
            name,
            ho * wo * f,
            FixedType(1, 1),
            shape=(ho, wo, f),
            in_shape=(h, w, c),
            kernel=kernel,
            stride=stride,
            pad=pad,
            depthwise=depthwise,
            filters=f,
            weight_type=wt,
            bias_type=wt,
            weights=self._w((*kernel, c, 1 if depthwise else f), wt),
            bias=self._w((f,), wt, 0.0),
        )
        return self._add(lay, inputs)

    def pool(
        self,
        name: str,
        op: str,
        pool: tuple[int, int],
        stride: tuple[int, int] | None = None,
        padding: str = "valid",
        inputs: list[str] | None = None,
    ) -> str:
        src = self._src(inputs)
        h, w, c = src.dims if len(src.dims) == 3 else (1, *src.dims)
        stride = stride or pool
        pad = pads((h, w), pool, stride, padding)
        ho = conv_out_len(h, pool[0], stride[0], pad[0], pad[1])
        wo = conv_out_len(w, pool[1], stride[1], pad[2], pad[3])
        lay = Pool(
            name,
            name,
            ho * wo * c,
            FixedType(1, 1),
            shape=(ho, wo, c),
            op=op,
            in_shape=(h, w, c),
            pool=pool,
            stride=stride,
            pad=pad,
        )
        return self._add(lay, inputs)

    def reshape(
        self, name: str, shape: tuple[int, ...] = (), inputs: list[str] | None = None
    ) -> str:
        src = self._src(inputs)
        return self._add(Reshape(name, name, src.size, src.out_type, shape=shape), inputs)

    def dense(self, name: str, n: int, w_bits: int = 6, inputs: list[str] | None = None) -> str:
        src = self._src(inputs)
        wt = FixedType(w_bits, 1, True)
        lay = Dense(
            name,
            name,
            n,
            FixedType(1, 1),
            n_in=src.size,
            weight_type=wt,
            bias_type=wt,
            weights=self._w((src.size, n), wt),
            bias=self._w((n,), wt, 0.0),
        )
        return self._add(lay, inputs)

    def act(
        self,
        name: str,
        t: FixedType | None = None,
        relu: bool = True,
        inputs: list[str] | None = None,
    ) -> str:
        src = self._src(inputs)
        t = t or FixedType(6, 2, not relu, "RND_CONV", "SAT")
        return self._add(Activation(name, name, src.size, t, shape=src.shape, relu=relu), inputs)

    def scale(self, name: str, bits: int = 6, inputs: list[str] | None = None) -> str:
        src = self._src(inputs)
        c = src.channels
        st, bt = FixedType(bits, 2, True), FixedType(bits, 2, True)
        lay = ScaleShift(
            name,
            name,
            src.size,
            FixedType(1, 1),
            shape=src.shape,
            scale_type=st,
            bias_type=bt,
            scale=self._w((c,), st, 0.0),
            bias=self._w((c,), bt, 0.0),
        )
        return self._add(lay, inputs)

    def add(self, name: str, inputs: list[str]) -> str:
        src = self._src(inputs)
        return self._add(Add(name, name, src.size, FixedType(1, 1), shape=src.shape), inputs)

    def concat(self, name: str, inputs: list[str]) -> str:
        srcs = [next(x for x in self.layers if x.name == n) for n in inputs]
        c = sum(s.channels for s in srcs)
        shape = (*srcs[0].dims[:-1], c)
        size = int(np.prod(shape))
        return self._add(
            Concat(name, name, size, FixedType(1, 1), shape=shape if len(shape) > 1 else ()),
            inputs,
        )

    def steps(
        self,
        name: str,
        thresholds: list[float],
        levels: list[float],
        out_type: FixedType,
        inputs: list[str] | None = None,
    ) -> str:
        """A staircase with real-valued thresholds (rounded up onto the input grid later)."""
        src = self._src(inputs)
        lay = Steps(
            name,
            name,
            src.size,
            out_type,
            shape=src.shape,
            thresholds=np.array(thresholds, np.float64),
            levels=np.array([round(v * 2**out_type.frac) for v in levels], np.int64),
        )
        assert ((lay.levels >= out_type.raw_min) & (lay.levels <= out_type.raw_max)).all()
        return self._add(lay, inputs)

    def build(self, reprogrammable: bool = False) -> Graph:
        g = Graph(self.name, self.layers)
        # Steps thresholds are real values until the input type is known: resolve in order.
        for lay in g.layers:
            if isinstance(lay, Steps) and lay.thresholds.dtype != np.int64:
                infer(Graph(self.name, g.layers[: g.layers.index(lay)]), None, reprogrammable)
                f = g.producers(lay)[0].out_type.frac
                lay.thresholds = np.ceil(lay.thresholds * 2.0**f).astype(np.int64)
        infer(g, None, reprogrammable)
        return g


def random_conv_graph(
    in_shape: tuple[int, int, int] = (7, 9, 3),
    filters: int = 4,
    kernel: tuple[int, int] = (3, 3),
    stride: tuple[int, int] = (2, 2),
    padding: str = "same",
    depthwise: bool = False,
    dense: int | None = 5,
    seed: int = 0,
    w_bits: int = 6,
    name: str = "conv",
) -> Graph:
    """Input (H, W, C) -> Conv -> quantized ReLU [-> Flatten -> Dense(dense)]."""
    b = Builder(name, in_shape, seed=seed)
    b.conv("conv0", filters, kernel, stride, padding, depthwise, w_bits)
    b.act("relu0")
    if dense:
        b.reshape("flatten")
        b.dense("dense0", dense, w_bits)
    return b.build()


def layer_zoo() -> list[tuple[str, Graph]]:
    """One small graph per layer kind / edge case (random weights, precision inferred)."""
    zoo: list[tuple[str, Graph]] = []
    # Conv 2-D: stride 2, 'same' on odd sizes (padding on every border), and 'valid'.
    zoo.append(("conv2d_same_s2", random_conv_graph((7, 9, 2), 3, (3, 3), (2, 2), "same", seed=1)))
    zoo.append(("conv2d_same_s1", random_conv_graph((5, 6, 2), 3, (3, 3), (1, 1), "same", seed=2)))
    zoo.append(("conv2d_valid", random_conv_graph((6, 7, 3), 2, (3, 2), (2, 1), "valid", seed=3)))
    zoo.append(
        ("conv2d_even_same", random_conv_graph((8, 8, 1), 4, (3, 3), (2, 2), "same", seed=4))
    )
    zoo.append(("depthwise", random_conv_graph((6, 5, 3), 0, (3, 3), (1, 2), "same", True, seed=5)))
    zoo.append(("conv1d_same_s2", random_conv_graph((1, 11, 2), 3, (1, 4), (1, 2), "same", seed=6)))
    zoo.append(("conv1d_valid", random_conv_graph((1, 9, 3), 2, (1, 3), (1, 1), "valid", seed=7)))
    # Pooling: max/avg, 1-D/2-D, 'same' padding on every border, stride != pool.
    for op in ("max", "avg"):
        b = Builder(f"{op}pool2d", (5, 7, 2), seed=8)
        b.pool("pool0", op, (2, 2), (2, 2), "same")
        b.reshape("flatten")
        b.dense("dense0", 4)
        zoo.append((f"{op}pool2d_same", b.build()))
        b = Builder(f"{op}pool1d", (1, 9, 3), seed=9)
        b.pool("pool0", op, (1, 2), (1, 2), "valid")
        zoo.append((f"{op}pool1d_valid", b.build()))
    b = Builder("maxpool3", (5, 6, 2), seed=10)
    b.pool("pool0", "max", (3, 3), (1, 1), "same")
    zoo.append(("maxpool2d_3x3_same", b.build()))
    b = Builder("conv_pool", (6, 6, 1), seed=11)
    b.conv("conv0", 3, (3, 3), (1, 1), "same")
    b.act("relu0")
    b.pool("pool0", "avg", (2, 2))
    b.reshape("flatten")
    b.dense("dense0", 3)
    zoo.append(("conv_avgpool_dense", b.build()))
    # Reshape (not just flatten): a flat input read as an image.
    b = Builder("reshape", (24,), seed=12)
    b.reshape("image", (4, 3, 2))
    b.conv("conv0", 2, (2, 2), (1, 1), "valid")
    zoo.append(("reshape_conv", b.build()))
    # Scale/shift (unfolded batch norm) after a dense and after a conv.
    b = Builder("scale_dense", (10,), seed=13)
    b.dense("dense0", 6)
    b.scale("bn0")
    b.act("relu0")
    zoo.append(("scale_dense", b.build()))
    b = Builder("scale_conv", (5, 5, 2), seed=14)
    b.conv("conv0", 3, (3, 3), (2, 2), "same")
    b.scale("bn0")
    b.act("q0", FixedType(7, 3, True, "RND_CONV", "SAT"), relu=False)
    zoo.append(("scale_conv", b.build()))
    # Skip connections: add (different input types) and concat along channels.
    b = Builder("add_skip", (8,), seed=15)
    b.dense("dense0", 8)
    b.act("relu0")
    b.dense("dense1", 8)
    b.add("add0", ["relu0", "dense1"])
    b.dense("dense2", 3)
    zoo.append(("add_skip", b.build()))
    b = Builder("concat_skip", (4, 5, 2), seed=16)
    b.conv("conv0", 3, (3, 3), (1, 1), "same")
    b.act("relu0")
    b.concat("cat0", ["input", "relu0"])
    b.conv("conv1", 2, (2, 2), (2, 2), "valid")
    zoo.append(("concat_conv", b.build()))
    b = Builder("concat_flat", (6,), seed=17)
    b.dense("a", 4)
    b.dense("b", 3, inputs=["input"])
    b.concat("cat0", ["a", "b"])
    zoo.append(("concat_dense", b.build()))
    # Steps: binary (sign), ternary and a po2-like staircase.
    b = Builder("steps", (12,), seed=18)
    b.dense("dense0", 8)
    b.steps("bin0", [0.0], [-1.0, 1.0], FixedType(2, 2, True))
    b.dense("dense1", 6)
    b.steps("tern0", [-0.5, 0.5], [-1.0, 0.0, 1.0], FixedType(2, 2, True))
    b.dense("dense2", 4)
    b.steps(
        "po2",
        [-3.0, -1.5, -0.75, 0.0, 0.75, 1.5, 3.0],
        [-4, -2, -1, -0.5, 0.5, 1, 2, 4],
        FixedType(5, 4, True),
    )
    zoo.append(("steps", b.build()))
    return zoo


def zoo_inputs(g: Graph, n: int, seed: int = 1) -> np.ndarray:
    """Random raw inputs over the input type's whole range (corners included)."""
    x = random_inputs(g, n, seed)
    t = g.input.out_type
    x[0], x[1] = t.raw_min, t.raw_max
    return x
