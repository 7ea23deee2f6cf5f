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

import json
import re
import shutil
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import jinja2

from asicflow.errors import AsicflowError, UnsupportedModel
from asicflow.fixed import FixedType, IntArray
from asicflow.ir import Activation, Dense, Graph, Input

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates" / "hls"
HLS_SRC = PACKAGE.parent / "hls_src"
KERNEL_DIR = "asicflow"  # hls_src/<KERNEL_DIR>/*.h, included as "asicflow/dense.h"
# Doubles hold raw * 2**-frac exactly up to this many bits.
MAX_LITERAL_WIDTH = 53

_C_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset({"main", "N_IN", "N_OUT", "asicflow"})
_IDENT_KEYS = ("n", "t", "out", "w_t", "b_t", "acc_t", "w", "b")
_CXX_KEYWORDS = frozenset(
    "alignas alignof and asm auto bool break case catch char class const constexpr continue "
    "default delete do double else enum explicit export extern false float for friend goto if "
    "inline int long mutable namespace new noexcept not nullptr operator or private protected "
    "public register return short signed sizeof static struct switch template this throw true "
    "try typedef typeid typename union unsigned using virtual void volatile while".split()
)


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


def _layer_views(graph: Graph, top: str) -> list[dict[str, Any]]:
    """Per-layer names and values the templates use."""
    if len(graph.layers) < 2 or not isinstance(graph.input, Input):
        raise UnsupportedModel("the graph needs an input layer followed by at least one layer")
    views: list[dict[str, Any]] = []
    last = len(graph.layers) - 1
    for k, lay in enumerate(graph.layers):
        v: dict[str, Any] = {
            "name": lay.name,
            "source": lay.source,
            "kind": lay.kind,
            "size": lay.size,
            "n": f"N_{lay.name.upper()}",
            "ac": lay.out_type.ac(),
            "t": "input_t" if k == 0 else "result_t" if k == last else f"{lay.name}_t",
            "out": "x" if k == 0 else "y" if k == last else f"{lay.name}_out",
        }
        if k > 0:
            prev = views[-1]
            v.update(prev_t=prev["t"], prev_out=prev["out"], n_prev=prev["n"])
        if isinstance(lay, Dense):
            v.update(
                n_in=lay.n_in,
                nonzero=lay.nonzero_weights,
                w_ac=lay.weight_type.ac(),
                b_ac=lay.bias_type.ac(),
                acc_ac=lay.accum.ac(),
                w_t=f"{lay.name}_w_t",
                b_t=f"{lay.name}_b_t",
                acc_t=f"{lay.name}_acc_t",
                w=f"{lay.name}_w",
                b=f"{lay.name}_b",
                w_rows=[_row(r, lay.weight_type) for r in lay.weights],
                b_row=_row(lay.bias, lay.bias_type),
            )
            if lay.weights.shape != (lay.n_in, lay.size) or lay.n_in != graph.layers[k - 1].size:
                raise AsicflowError(
                    f"layer '{lay.name}': weights {lay.weights.shape} do not "
                    f"match {graph.layers[k - 1].size} inputs x {lay.size}"
                )
        elif isinstance(lay, Activation):
            v["relu"] = lay.relu
        elif k > 0:
            raise UnsupportedModel(f"no HLS kernel for layer '{lay.name}' of kind {lay.kind!r}")
        views.append(v)
    _check_unique(views, top)
    return views


def _check_unique(views: list[dict[str, Any]], top: str) -> None:
    """Generated identifiers must not collide (e.g. a layer named 'in' makes N_IN twice)."""
    owner = dict.fromkeys(_RESERVED, "the generated code")
    owner[top] = "the top function"
    for v in views:
        for ident in sorted({v[k] for k in _IDENT_KEYS if k in v}):
            other = owner.setdefault(ident, f"layer '{v['name']}'")
            if other != f"layer '{v['name']}'":
                raise AsicflowError(
                    f"layer '{v['name']}' maps to the C++ name {ident}, already "
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


def write_project(graph: Graph, top: str, folder: Path) -> Project:
    """Write the C++ project for ``graph`` with top function ``top`` into ``folder``."""
    check_top_name(top)
    layers = _layer_views(graph, top)
    dense = [v for v in layers if v["kind"] == "dense"]
    context = {
        "top": top,
        "guard": top.upper(),
        "layers": layers,
        "dense": dense,
        "input": layers[0],
        "output": layers[-1],
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
    kernel = folder / "firmware" / KERNEL_DIR
    kernel.mkdir(parents=True, exist_ok=True)
    for header in kernel_headers():
        shutil.copyfile(header, kernel / header.name)
        files.append(f"firmware/{KERNEL_DIR}/{header.name}")
    denses = [lay for lay in graph.layers if isinstance(lay, Dense)]
    project = Project(
        top=top,
        sources=(f"firmware/{top}.cpp",),
        testbench="tb/tb.cpp",
        include=("firmware",),
        files=(*files, "project.json"),
        weights=sum(lay.weights.size for lay in denses),
        nonzero_weights=sum(lay.nonzero_weights for lay in denses),
    )
    (folder / "project.json").write_text(
        json.dumps(
            {
                "top": top,
                "sources": project.sources,
                "testbench": project.testbench,
                "include": project.include,
                "files": project.files,
                "needs": "ac_types headers (ac_fixed.h) on the include path",
            },
            indent=1,
        )
        + "\n"
    )
    return project


def read_project(folder: Path) -> dict[str, Any]:
    """The ``project.json`` of a written project."""
    data: dict[str, Any] = json.loads((folder / "project.json").read_text())
    return data
