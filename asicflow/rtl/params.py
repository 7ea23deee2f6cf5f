"""The ``params_in`` port of a weights-as-inputs design: layout and packing.

``weights="ports"`` designs read every parameter array (``asicflow.ir.param_arrays`` order:
layers in graph order; Dense/Conv "weights" then "bias", ScaleShift "scale" then "bias"; each
flattened in C order) from one input bus: element ``k`` of an array at bits
``[offset + k*width +: width]``, two's complement when signed. :func:`param_layout` is that
layout (``rtl.json`` ``params``); :func:`pack_params` builds the bus value from arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from asicflow.ir import Graph, param_arrays

PARAMS_PORT = "params_in"


def param_layout(graph: Graph) -> list[dict[str, Any]]:
    """Each parameter array's place in ``params_in`` (the ``rtl.json`` ``params`` list)."""
    out = []
    offset = 0
    for pa in param_arrays(graph):
        t = pa.type
        out.append(
            {
                "layer": pa.layer,
                "name": pa.name,
                "shape": list(pa.shape),
                "width": t.width,
                "signed": t.signed,
                "type": t.ac(),
                "offset": offset,
                "count": pa.count,
            }
        )
        offset += pa.count * t.width
    return out


def pack_params(layout: list[dict[str, Any]], arrays: Mapping[str, np.ndarray]) -> int:
    """The ``params_in`` value holding ``arrays`` (keys ``<layer>.<name>``, raw integers, as in
    ``weights.npz``); ValueError when an array is missing, mis-sized or out of its type."""
    value = 0
    for p in layout:
        key = f"{p['layer']}.{p['name']}"
        if key not in arrays:
            raise ValueError(f"parameter array '{key}' is missing")
        a = np.asarray(arrays[key], np.int64).reshape(-1)
        if a.size != p["count"]:
            raise ValueError(f"parameter array '{key}' has {a.size} values, not {p['count']}")
        w = int(p["width"])
        lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if p["signed"] else (0, (1 << w) - 1)
        if a.size and (int(a.min()) < lo or int(a.max()) > hi):
            raise ValueError(f"parameter array '{key}' has values outside {p['type']}")
        mask = (1 << w) - 1
        for k, v in enumerate(a.tolist()):
            value |= (int(v) & mask) << (int(p["offset"]) + k * w)
    return value
