"""IR graph -> HLS C++ project (ac_fixed), rendered from ``asicflow/templates/hls``.

Project layout (``folder``)::

    firmware/<top>.h, <top>.cpp   top function: void <top>(const input_t x[N_IN], result_t y[N_OUT])
    firmware/types.h              one typedef and size constant per layer
    firmware/weights.h            static const weights and biases, exact literals
    firmware/asicflow/*.h         copy of the kernel library (hls_src/asicflow)
    tb/tb.cpp                     csim testbench (raw integers in and out, optional layer trace)
    project.json                  top, sources, include folders (what a compiler or HLS tool needs)
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from asicflow.convert.names import CXX_KEYWORDS, TOP_RESERVED
from asicflow.errors import AsicflowError, UnsupportedModel
from asicflow.fixed import FixedType, IntArray, for_raw_range
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
    param_arrays,
)

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates" / "hls"
HLS_SRC = PACKAGE.parent / "hls_src"
KERNEL_DIR = "asicflow"  # hls_src/<KERNEL_DIR>/*.h, included as "asicflow/dense.h"
# The header (in KERNEL_DIR) of every kernel the top may call.
KERNEL_HEADERS = {
    "dense": "dense.h",
    "dense_reuse": "dense_reuse.h",
    "dense_sparse": "dense_sparse.h",
    "conv2d": "conv.h",
    "conv2d_reuse": "conv_reuse.h",
    "max_pool": "max_pool.h",
    "avg_pool": "avg_pool.h",
    "activation": "activation.h",
    "copy": "reshape.h",
    "scale_shift": "scale_shift.h",
    "steps": "steps.h",
    "add": "add.h",
    "concat": "concat.h",
}
# The labelled loops of every kernel, nested as in the source: (label, pipelined, inner loops).
# Every loop is unrolled by its pragma except the reuse rounds (pipelined at II 1).
Loop = tuple[str, bool, tuple[Any, ...]]
_PAD: tuple[Loop, ...] = (
    ("PAD_FILL", False, ()),
    ("PAD_ROW", False, (("PAD_COL", False, (("PAD_CH", False, ()),)),)),
)
_CONV_WINDOW: Loop = (
    "CONV_FILTER",
    False,
    (("CONV_KH", False, (("CONV_KW", False, (("CONV_CH", False, ()),)),)),),
)


def _nest(*labels: str) -> Loop:
    inner: tuple[Loop, ...] = ()
    for label in reversed(labels[1:]):
        inner = ((label, False, inner),)
    return (labels[0], False, inner)


def _rounds(prefix: str) -> tuple[Loop, ...]:
    return (
        (f"{prefix}_INIT", False, ()),
        (f"{prefix}_ROUND", True, ((f"{prefix}_MAC", False, ()),)),
        (f"{prefix}_OUT", False, ()),
    )


KERNEL_LOOPS: dict[str, tuple[Loop, ...]] = {
    "dense": (_nest("DENSE_OUT", "DENSE_IN"),),
    "dense_reuse": _rounds("DENSE_R"),
    "dense_sparse": _rounds("DENSE_S"),
    "conv2d": (*_PAD, ("CONV_POS", False, (_CONV_WINDOW,))),
    "conv2d_reuse": (*_PAD, ("CONV_R_ROUND", True, (("CONV_R_POS", False, (_CONV_WINDOW,)),))),
    "max_pool": (*_PAD, _nest("MAXPOOL_POS", "MAXPOOL_CH", "MAXPOOL_PH", "MAXPOOL_PW")),
    "avg_pool": (
        *_PAD,
        (
            "AVGPOOL_POS",
            False,
            (("AVGPOOL_LOG2", False, ()), _nest("AVGPOOL_CH", "AVGPOOL_PH", "AVGPOOL_PW")),
        ),
    ),
    "activation": (_nest("ACT"),),
    "copy": (_nest("COPY"),),
    "scale_shift": (_nest("SCALE"),),
    "steps": (_nest("STEPS", "STEPS_TH"),),
    "add": (_nest("ADD"),),
    "concat": (_nest("CONCAT_POS", "CONCAT_CH"),),
}
# How the Catapult project names a loop's layer (kept from the first, dense-only version).
_LOOP_ROLE = {"DENSE_OUT": " (outputs)", "DENSE_IN": " (inputs)", "ACT": ""}


def loops(graph: Graph, weights: str = "const") -> list[dict[str, Any]]:
    """Every kernel loop of the generated top in source order: ``loop`` = its path below the
    top's main loop as Catapult names it once the kernels are inlined (a label seen before gets
    ``#k``: ``DENSE_OUT``, ``DENSE_OUT#1``, ...), ``layer``, ``pipelined`` (reuse rounds)."""
    seen: dict[str, int] = {}
    out: list[dict[str, Any]] = []

    def walk(items: tuple[Loop, ...], prefix: str, layer: str) -> None:
        for label, pipelined, inner in items:
            k = seen.get(label, 0)
            seen[label] = k + 1
            path = f"{prefix}{label}" if k == 0 else f"{prefix}{label}#{k}"
            role = _LOOP_ROLE.get(label, f" ({label.lower()})")
            out.append({"loop": path, "layer": f"{layer}{role}", "pipelined": pipelined})
            walk(inner, f"{path}/", layer)

    for v in _layer_views(graph, "top_", weights):
        for c in v["calls"]:
            walk(KERNEL_LOOPS[c["kernel"]], "", v["name"])
    return out


# Doubles hold raw * 2**-frac exactly up to this many bits.
MAX_LITERAL_WIDTH = 53

_C_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = TOP_RESERVED
WEIGHTS_MODES = ("const", "ports")
PARAMS_FILE = "tb/params.txt"
_CXX_KEYWORDS = CXX_KEYWORDS


@dataclass(frozen=True)
class Project:
    """What :func:`write_project` wrote (paths relative to the project folder)."""

    top: str
    sources: tuple[str, ...]
    testbench: str
    include: tuple[str, ...]
    files: tuple[str, ...]
    weights: int
    nonzero_weights: int
    weights_mode: str = "const"
    params_file: str | None = None
    ii: int = 1


def kernel_headers() -> list[Path]:
    """The kernel library headers every generated project copies."""
    folder = HLS_SRC / KERNEL_DIR
    headers = sorted(folder.glob("*.h"))
    if not headers:
        raise AsicflowError(f"HLS kernel library not found in {folder} (incomplete checkout?)")
    return headers


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.j2"))


def literal(raw: int, t: FixedType) -> str:
    """The exact decimal value of raw integer ``raw`` of type ``t`` as a C++ literal."""
    if t.width > MAX_LITERAL_WIDTH:
        raise UnsupportedModel(f"constant type {t.short()} is wider than {MAX_LITERAL_WIDTH} bits")
    if t.frac <= 0:  # an integer, written as a double literal (exact: <= 53 bits * 2**k)
        return f"{raw << -t.frac}.0"
    with localcontext() as ctx:
        ctx.prec = MAX_LITERAL_WIDTH + t.frac + 2  # enough digits for an exact quotient
        text = format(Decimal(raw) / (Decimal(2) ** t.frac), "f")
    return text if "." in text else text + ".0"


def _row(values: IntArray, t: FixedType) -> str:
    return ", ".join(literal(int(v), t) for v in values)


def check_top_name(name: str) -> None:
    if not _C_IDENT.match(name) or name in _CXX_KEYWORDS or name in _RESERVED:
        raise AsicflowError(
            f"flow name {name!r} is not usable as a C++ function name; name the "
            "flow like 'digits_mlp' (letters, digits, '_', no keyword)"
        )


def _ctype(k: int, last: int, name: str) -> str:
    return "input_t" if k == 0 else "result_t" if k == last else f"{name}_t"


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _rows(values: IntArray, t: FixedType, per_row: int) -> list[str]:
    """Exact literals of the flat ``values``, ``per_row`` to a line."""
    flat = [literal(int(v), t) for v in np.asarray(values).reshape(-1)]
    per_row = max(per_row, 1)
    return [", ".join(flat[i : i + per_row]) for i in range(0, len(flat), per_row)]


def _int_rows(values: list[int], per_row: int = 16) -> list[str]:
    return [
        ", ".join(str(v) for v in values[i : i + per_row]) for i in range(0, len(values), per_row)
    ]


class _View:
    """What the templates need of one layer: typedefs, constant arrays, local arrays and
    kernel calls (``asicflow::<kernel><targs>(args)``), all named after the layer."""

    def __init__(self, lay: Layer, k: int, last: int, ins: list[_View]) -> None:
        self.lay = lay
        self.name = lay.name
        self.source = lay.source
        self.kind = lay.kind
        self.size = lay.size
        self.n = f"N_{lay.name.upper()}"
        self.t = _ctype(k, last, lay.name)
        self.out = "x" if k == 0 else "y" if k == last else f"{lay.name}_out"
        self.ac = lay.out_type.ac()
        self.ins = ins
        self.typedefs: list[tuple[str, str]] = []  # (C name, ac type) besides self.t
        self.consts: list[dict[str, Any]] = []  # constant arrays (weights.h)
        self.params: list[dict[str, Any]] = []  # parameter arrays (constants or top inputs)
        self.locals: list[tuple[str, str, str]] = []  # (type, name, size) scratch arrays
        self.calls: list[dict[str, Any]] = []
        self.reuse = 1
        self.idents: set[str] = {self.n, self.t, self.out}
        self.about = ""

    def typedef(self, suffix: str, t: FixedType) -> str:
        name = f"{self.name}_{suffix}"
        self.typedefs.append((name, t.ac()))
        self.idents.add(name)
        return name

    def const(self, suffix: str, ctype: str, rows: list[str], count: int, what: str) -> str:
        name = f"{self.name}_{suffix}"
        self.consts.append({"name": name, "t": ctype, "count": count, "rows": rows, "what": what})
        self.idents.add(name)
        return name

    def param(self, array: str, suffix: str, t: FixedType, values: IntArray, per_row: int) -> str:
        ctype = self.typedef(f"{suffix}_t", t)
        name = f"{self.name}_{suffix}"
        self.params.append(
            {
                "layer": self.name,
                "array": array,
                "name": name,
                "t": ctype,
                "type": t,
                "values": np.asarray(values, np.int64).reshape(-1),
                "count": int(np.asarray(values).size),
                "shape": list(np.asarray(values).shape),
                "rows": _rows(values, t, per_row),
                "what": f"{self.name}.{array} {tuple(np.asarray(values).shape)}",
            }
        )
        self.idents.add(name)
        return name

    def call(self, kernel: str, targs: Sequence[object], args: list[str]) -> None:
        self.calls.append(
            {"kernel": kernel, "targs": ", ".join(str(a) for a in targs), "args": ", ".join(args)}
        )

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "size": self.size,
            "n": self.n,
            "t": self.t,
            "out": self.out,
            "ac": self.ac,
            "about": self.about,
            "typedefs": self.typedefs,
            "consts": self.consts,
            "params": self.params,
            "locals": self.locals,
            "calls": self.calls,
            "reuse": self.reuse,
        }


def _single(v: _View) -> _View:
    if len(v.ins) != 1:
        raise UnsupportedModel(
            f"layer '{v.name}' ({v.kind}) reads {len(v.ins)} layers; it takes exactly one"
        )
    return v.ins[0]


def _check_in_size(v: _View, src: _View, expected: int, what: str) -> None:
    if src.size != expected:
        raise AsicflowError(
            f"layer '{v.name}': its input '{src.name}' has {src.size} values, "
            f"{what} needs {expected}"
        )


def _reuse(lay: Layer) -> int:
    r = int(getattr(lay, "reuse", 1))
    if r < 1:
        raise UnsupportedModel(f"layer '{lay.name}': reuse factor {r} < 1")
    return r


def _dense(v: _View, lay: Dense, weights: str) -> None:
    src = _single(v)
    _check_in_size(v, src, lay.n_in, "its weights")
    if lay.weights.shape != (lay.n_in, lay.size):
        raise AsicflowError(
            f"layer '{lay.name}': weights {lay.weights.shape} do not "
            f"match {lay.n_in} inputs x {lay.size}"
        )
    v.about = f"{lay.n_in} x {lay.size}, {lay.nonzero_weights} nonzero weights"
    w_t = f"{lay.name}_w_t"
    w = v.param("weights", "w", lay.weight_type, lay.weights, lay.size)
    b = v.param("bias", "b", lay.bias_type, lay.bias, 16)
    b_t = f"{lay.name}_b_t"
    acc_t = v.typedef("acc_t", lay.accum)
    r = v.reuse = _reuse(lay)
    types = [src.t, w_t, b_t, acc_t, v.t, src.n, v.n]
    if r == 1:
        v.call("dense", types, [src.out, v.out, w, b])
    elif weights == "ports":
        v.about += f", reuse {r}"
        v.call("dense_reuse", [*types, r, -(-lay.weights.size // r)], [src.out, v.out, w, b])
    else:  # constant weights: only the nonzero ones are multiplied
        rows, cols = np.nonzero(lay.weights)
        nnz = -(-max(len(rows), 1) // r) * r
        pad = nnz - len(rows)
        vals = [*(int(x) for x in lay.weights[rows, cols]), *[0] * pad]
        rows_l = [*(int(i) for i in rows), *[0] * pad]
        cols_l = [*(int(j) for j in cols), *[0] * pad]
        v.about += f", reuse {r}: {nnz} products ({pad} padding) in {r} rounds"
        nz_w = v.const(
            "nz_w",
            w_t,
            _rows(np.array(vals, np.int64), lay.weight_type, 16),
            nnz,
            "nonzero weights (zero-padded to a multiple of the reuse factor)",
        )
        nz_i = v.const("nz_i", "int", _int_rows(rows_l), nnz, "input of each nonzero weight")
        nz_j = v.const("nz_j", "int", _int_rows(cols_l), nnz, "output of each nonzero weight")
        v.call("dense_sparse", [*types, nnz, r, nnz // r], [src.out, v.out, nz_w, nz_i, nz_j, b])


def _conv(v: _View, lay: Conv) -> None:
    src = _single(v)
    h, w, c = lay.in_shape
    kh, kw = lay.kernel
    sh, sw = lay.stride
    pt, pb, pl, pr = lay.pad
    ho, wo = lay.out_hw
    f = lay.filters
    _check_in_size(v, src, h * w * c, f"its input shape {lay.in_shape}")
    want = (kh, kw, c, 1 if lay.depthwise else f)
    if lay.weights.shape != want or lay.bias.shape != (f,) or (lay.depthwise and f != c):
        raise AsicflowError(
            f"layer '{lay.name}': weights {lay.weights.shape} / bias {lay.bias.shape} do not "
            f"match a {'depthwise ' if lay.depthwise else ''}{kh}x{kw} kernel over {c} "
            f"channels with {f} filters"
        )
    if lay.size != ho * wo * f or min(pt, pb, pl, pr) < 0 or min(sh, sw) < 1:
        raise AsicflowError(f"layer '{lay.name}': output size {lay.size} is not {ho}x{wo}x{f}")
    v.about = (
        f"{'depthwise ' if lay.depthwise else ''}conv {h}x{w}x{c} -> {ho}x{wo}x{f}, kernel "
        f"{kh}x{kw}, stride {sh}x{sw}, pad t{pt} b{pb} l{pl} r{pr}, "
        f"{lay.nonzero_weights} nonzero weights"
    )
    wname = v.param("weights", "w", lay.weight_type, lay.weights, want[3])
    b = v.param("bias", "b", lay.bias_type, lay.bias, 16)
    acc_t = v.typedef("acc_t", lay.accum)
    r = v.reuse = _reuse(lay)
    targs: list[object] = [
        src.t,
        f"{lay.name}_w_t",
        f"{lay.name}_b_t",
        acc_t,
        v.t,
        h,
        w,
        c,
        f,
        kh,
        kw,
        sh,
        sw,
        pt,
        pl,
        ho,
        wo,
        *_frame(lay.in_shape, lay.kernel, lay.stride, lay.pad, (ho, wo)),
        _bool(lay.depthwise),
    ]
    if r == 1:
        v.call("conv2d", targs, [src.out, v.out, wname, b])
    else:
        v.about += f", reuse {r}"
        v.call("conv2d_reuse", [*targs, r, -(-(ho * wo) // r)], [src.out, v.out, wname, b])


def _frame(
    in_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int, int, int],
    out_hw: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(HP, WP, HC, WC) of asicflow/window.h: the padded frame the windows read, and the input
    rows/columns copied into it."""
    hp = (out_hw[0] - 1) * stride[0] + kernel[0]
    wp = (out_hw[1] - 1) * stride[1] + kernel[1]
    return hp, wp, min(in_shape[0], hp - pad[0]), min(in_shape[1], wp - pad[2])


def _same_type(v: _View, lay: Layer, src: Layer, t: FixedType) -> None:
    if t != src.out_type:
        raise UnsupportedModel(
            f"layer '{lay.name}': in_type {t.short()} differs from the type of its input "
            f"'{src.name}' ({src.out_type.short()}); run precision inference"
        )


def _pool(v: _View, lay: Pool, src_lay: Layer) -> None:
    src = _single(v)
    h, w, c = lay.in_shape
    ph, pw = lay.pool
    sh, sw = lay.stride
    pt, _, pl, _ = lay.pad
    ho, wo = lay.out_hw
    _check_in_size(v, src, h * w * c, f"its input shape {lay.in_shape}")
    _same_type(v, lay, src_lay, lay.in_type)
    if lay.size != ho * wo * c:
        raise AsicflowError(f"layer '{lay.name}': output size {lay.size} is not {ho}x{wo}x{c}")
    if lay.op == "avg":
        try:
            lay.count_shifts()
        except ValueError as exc:
            raise UnsupportedModel(f"average pooling over {exc}: not a power of two") from exc
    elif lay.op != "max":
        raise UnsupportedModel(f"layer '{lay.name}': unknown pooling op {lay.op!r}")
    v.about = f"{lay.op} pool {h}x{w}x{c} -> {ho}x{wo}x{c}, pool {ph}x{pw}, stride {sh}x{sw}"
    targs: list[object] = [
        src.t,
        v.t,
        h,
        w,
        c,
        ph,
        pw,
        sh,
        sw,
        pt,
        pl,
        ho,
        wo,
        *_frame(lay.in_shape, lay.pool, lay.stride, lay.pad, (ho, wo)),
    ]
    if lay.op == "avg":
        targs.append((ph * pw - 1).bit_length())  # G = ceil(log2(PH * PW))
    v.call(f"{lay.op}_pool", targs, [src.out, v.out])


def _steps(v: _View, lay: Steps, src_lay: Layer) -> None:
    src = _single(v)
    _same_type(v, lay, src_lay, lay.in_type)
    th = [int(t) for t in lay.thresholds]
    lv = [int(x) for x in lay.levels]
    if len(lv) != len(th) + 1 or any(b <= a for a, b in itertools.pairwise(th)):
        raise AsicflowError(
            f"layer '{lay.name}': {len(th)} thresholds (increasing) need {len(th) + 1} levels"
        )
    if not th:  # one level: a threshold nothing reaches keeps the arrays non-empty
        th, lv = [lay.in_type.raw_max + 1], [lv[0], lv[0]]
    frac = lay.in_type.frac
    th_type = for_raw_range(min(th), max(th), frac)
    th_t = v.typedef("th_t", th_type)
    v.about = f"staircase, {len(th)} thresholds"
    tname = v.const("th", th_t, _rows(np.array(th), th_type, 16), len(th), "thresholds")
    lname = v.const("lv", v.t, _rows(np.array(lv), lay.out_type, 16), len(lv), "levels")
    v.call("steps", [src.t, th_t, v.t, v.n, len(th)], [src.out, v.out, tname, lname])


def _scale(v: _View, lay: ScaleShift) -> None:
    src = _single(v)
    c = lay.channels
    _check_in_size(v, src, lay.size, "its output")
    if lay.scale.shape != (c,) or lay.bias.shape != (c,):
        raise AsicflowError(
            f"layer '{lay.name}': scale {lay.scale.shape} / bias {lay.bias.shape} are not "
            f"one per channel ({c})"
        )
    v.about = f"scale/shift over {c} channels"
    s = v.param("scale", "s", lay.scale_type, lay.scale, 16)
    b = v.param("bias", "b", lay.bias_type, lay.bias, 16)
    v.call(
        "scale_shift",
        [src.t, f"{lay.name}_s_t", f"{lay.name}_b_t", v.t, v.n, c],
        [src.out, v.out, s, b],
    )


def _add(v: _View, lay: Add, srcs: list[Layer]) -> None:
    if len(v.ins) < 2:
        raise UnsupportedModel(f"layer '{lay.name}' (add) needs at least two inputs")
    for s in v.ins:
        _check_in_size(v, s, lay.size, "its output")
    v.about = f"sum of {', '.join(s.name for s in v.ins)}"
    frac = max(s.out_type.frac for s in srcs)
    lo = hi = 0
    prev_t, prev = v.ins[0].t, v.ins[0].out
    for k, (s, sl) in enumerate(zip(v.ins[1:], srcs[1:], strict=True), 1):
        if k == 1:
            lo = srcs[0].out_type.raw_min << (frac - srcs[0].out_type.frac)
            hi = srcs[0].out_type.raw_max << (frac - srcs[0].out_type.frac)
        lo += sl.out_type.raw_min << (frac - sl.out_type.frac)
        hi += sl.out_type.raw_max << (frac - sl.out_type.frac)
        if k == len(v.ins) - 1:
            v.call("add", [prev_t, s.t, v.t, v.n], [prev, s.out, v.out])
        else:  # exact partial sum over the full ranges of the types
            part_t = v.typedef(f"sum{k}_t", for_raw_range(lo, hi, frac))
            part = f"{lay.name}_sum{k}"
            v.locals.append((part_t, part, v.n))
            v.idents.add(part)
            v.call("add", [prev_t, s.t, part_t, v.n], [prev, s.out, part])
            prev_t, prev = part_t, part


def _concat(v: _View, lay: Concat, srcs: list[Layer]) -> None:
    if len(v.ins) < 2:
        raise UnsupportedModel(f"layer '{lay.name}' (concat) needs at least two inputs")
    co = lay.channels
    positions = lay.size // co
    offset = 0
    for s, sl in zip(v.ins, srcs, strict=True):
        ci = sl.channels
        if ci * positions != s.size:
            raise AsicflowError(
                f"layer '{lay.name}': input '{s.name}' ({s.size} values) is not {positions} "
                f"positions of its {ci} channels"
            )
        v.call("concat", [s.t, v.t, positions, ci, co, offset], [s.out, v.out])
        offset += ci
    if offset != co or positions * co != lay.size:
        raise AsicflowError(
            f"layer '{lay.name}': inputs have {offset} channels in all, its shape {lay.dims}"
        )
    v.about = f"concatenation of {', '.join(s.name for s in v.ins)} along channels"


def _layer_views(graph: Graph, top: str, weights: str = "const") -> list[dict[str, Any]]:
    """Per-layer names and values the templates use, in topological order."""
    if len(graph.layers) < 2 or not isinstance(graph.input, Input):
        raise UnsupportedModel("the graph needs an input layer followed by at least one layer")
    views: dict[str, _View] = {}
    last = len(graph.layers) - 1
    for k, lay in enumerate(graph.layers):
        if k > 0 and isinstance(lay, Input):
            raise UnsupportedModel(f"layer '{lay.name}': only one input layer is supported")
        srcs = graph.producers(lay)
        missing = [s.name for s in srcs if s.name not in views]
        if missing:
            raise AsicflowError(f"layer '{lay.name}' reads {missing}, which do not come before it")
        v = _View(lay, k, last, [views[s.name] for s in srcs])
        if isinstance(lay, Input):
            v.about = "input"
        elif isinstance(lay, Dense):
            _dense(v, lay, weights)
        elif isinstance(lay, Conv):
            _conv(v, lay)
        elif isinstance(lay, Activation):
            src = _single(v)
            _check_in_size(v, src, lay.size, "its output")
            v.about = "quantized ReLU" if lay.relu else "quantizer"
            v.call("activation", [src.t, v.t, v.n, _bool(lay.relu)], [src.out, v.out])
        elif isinstance(lay, Pool):
            _pool(v, lay, srcs[0])
        elif isinstance(lay, Reshape):
            src = _single(v)
            _check_in_size(v, src, lay.size, "its output")
            v.about = f"reshape to {lay.dims}"
            v.call("copy", [src.t, v.t, v.n], [src.out, v.out])
        elif isinstance(lay, ScaleShift):
            _scale(v, lay)
        elif isinstance(lay, Add):
            _add(v, lay, srcs)
        elif isinstance(lay, Concat):
            _concat(v, lay, srcs)
        elif isinstance(lay, Steps):
            _steps(v, lay, srcs[0])
        else:
            raise UnsupportedModel(f"no HLS kernel for layer '{lay.name}' of kind {lay.kind!r}")
        views[lay.name] = v
    ordered = [views[lay.name] for lay in graph.layers]
    _check_unique(ordered, top)
    return [v.view() for v in ordered]


def _check_unique(views: list[_View], top: str) -> None:
    """Generated identifiers must not collide (e.g. a layer named 'in' makes N_IN twice)."""
    owner = dict.fromkeys(_RESERVED, "the generated code")
    owner[top] = "the top function"
    for v in views:
        for ident in sorted(v.idents - {"x", "y", "input_t", "result_t"}):
            other = owner.setdefault(ident, f"layer '{v.name}'")
            if other != f"layer '{v.name}'":
                raise AsicflowError(
                    f"layer '{v.name}' maps to the C++ name {ident}, already "
                    f"used by {other}; rename the layer"
                )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def write_project(graph: Graph, top: str, folder: Path, weights: str = "const") -> Project:
    """Write the C++ project for ``graph`` with top function ``top`` into ``folder``.

    ``weights="const"``: weights and biases are constants in ``firmware/weights.h``.
    ``weights="ports"``: every parameter array (:func:`asicflow.ir.param_arrays` order) is a
    flat ``const`` array argument of the top after ``x`` and ``y``; the testbench reads them
    from a file (``tb/params.txt`` holds this graph's, :func:`write_params` writes others).
    """
    check_top_name(top)
    if weights not in WEIGHTS_MODES:
        raise AsicflowError(f"weights={weights!r}: choose one of {', '.join(WEIGHTS_MODES)}")
    layers = _layer_views(graph, top, weights)
    params = [p for v in layers for p in v["params"]]
    _check_param_order(graph, params)
    kinds = {c["kernel"] for v in layers for c in v["calls"]}
    context = {
        "top": top,
        "guard": top.upper(),
        "layers": layers,
        "input": layers[0],
        "output": layers[-1],
        "ports": weights == "ports",
        "params": params,
        "ii": max(v["reuse"] for v in layers),
        "kernels": sorted({KERNEL_HEADERS[k] for k in kinds}),
    }
    env = _environment()
    rendered = {
        f"firmware/{top}.h": "top.h.j2",
        f"firmware/{top}.cpp": "top.cpp.j2",
        "firmware/types.h": "types.h.j2",
        "firmware/weights.h": "weights.h.j2",
        "tb/tb.cpp": "tb.cpp.j2",
    }
    files: list[str] = []
    for rel, template in rendered.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(context))
        files.append(rel)
    if weights == "ports":
        write_params(graph, folder / PARAMS_FILE)
        files.append(PARAMS_FILE)
    kernel = folder / "firmware" / KERNEL_DIR
    kernel.mkdir(parents=True, exist_ok=True)
    for header in kernel_headers():
        shutil.copyfile(header, kernel / header.name)
        files.append(f"firmware/{KERNEL_DIR}/{header.name}")
    macs = [lay for lay in graph.layers if isinstance(lay, Dense | Conv)]
    project = Project(
        top=top,
        sources=(f"firmware/{top}.cpp",),
        testbench="tb/tb.cpp",
        include=("firmware",),
        files=(*files, "project.json"),
        weights=sum(lay.weights.size for lay in macs),
        nonzero_weights=sum(lay.nonzero_weights for lay in macs),
        weights_mode=weights,
        params_file=PARAMS_FILE if weights == "ports" else None,
        ii=context["ii"],
    )
    (folder / "project.json").write_text(
        json.dumps(
            {
                "top": top,
                "sources": project.sources,
                "testbench": project.testbench,
                "include": project.include,
                "files": project.files,
                "weights": weights,
                "params_file": project.params_file,
                "params": [
                    {
                        "layer": p["layer"],
                        "name": p["array"],
                        "arg": p["name"],
                        "shape": p["shape"],
                        "count": p["count"],
                        "type": p["type"].ac(),
                    }
                    for p in params
                ]
                if weights == "ports"
                else [],
                "ii": project.ii,
                "needs": "ac_types headers (ac_fixed.h) on the include path",
            },
            indent=1,
        )
        + "\n"
    )
    return project


def _check_param_order(graph: Graph, params: list[dict[str, Any]]) -> None:
    """The top's parameter arguments follow :func:`asicflow.ir.param_arrays` exactly."""
    mine = [(p["layer"], p["array"]) for p in params]
    contract = [(a.layer, a.name) for a in param_arrays(graph)]
    if mine != contract:
        raise AsicflowError(f"HLS parameter order {mine} differs from the IR's {contract}")


def write_params(graph: Graph, path: Path) -> None:
    """The csim testbench's parameter file for ``graph``'s arrays: one array per line, raw
    integers in C order, in :func:`asicflow.ir.param_arrays` order (a project written with
    ``weights="ports"`` runs any graph of the same structure and types from such a file)."""
    lines = []
    for a in param_arrays(graph):
        v = np.asarray(a.values, np.int64).reshape(-1)
        if v.size and (v.min() < a.type.raw_min or v.max() > a.type.raw_max):
            raise AsicflowError(f"layer '{a.layer}' {a.name}: raw values outside {a.type.short()}")
        lines.append(" ".join(str(int(x)) for x in v))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def read_project(folder: Path) -> dict[str, Any]:
    """The ``project.json`` of a written project."""
    data: dict[str, Any] = json.loads((folder / "project.json").read_text())
    return data
