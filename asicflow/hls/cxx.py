"""Compiling and reading back the C simulation: ac_types location, compiler argv, traces."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asicflow.errors import AsicflowError, ToolMissing
from asicflow.fixed import IntArray
from asicflow.ir import Graph

HLS4ML_AC_TYPES = ("templates", "catapult", "ac_types", "include")
AC_HINT = (
    "Install the pinned hls4ml wheel (it ships the Apache-2.0 ac_types headers: "
    "pip install hls4ml==1.3.0) or set 'hls.ac_include' in the flow YAML to a folder "
    "holding ac_fixed.h, e.g. a Catapult install's $MGC_HOME/shared/include."
)
CXX_HINT = (
    "Install a C++17 compiler (Debian: apt-get install g++) or set 'hls.cxx' in the flow "
    "YAML to the compiler to use."
)
# Always passed: Catapult pragmas and loop labels mean nothing to g++ and clang.
BASE_FLAGS = ("-Wno-unknown-pragmas", "-Wno-unused-label")


def ac_include_dir(override: Path | None = None) -> Path:
    """The folder holding ``ac_fixed.h``: ``hls.ac_include`` if set, else hls4ml's copy."""
    if override is not None:
        if (override / "ac_fixed.h").is_file():
            return override
        raise AsicflowError(
            f"hls.ac_include = {override} holds no ac_fixed.h; set it to the "
            "folder with the ac_types headers (e.g. $MGC_HOME/shared/include)"
        )
    spec = importlib.util.find_spec("hls4ml")  # locates the package without importing it
    for loc in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(loc).joinpath(*HLS4ML_AC_TYPES)
        if (folder / "ac_fixed.h").is_file():
            return folder
    raise ToolMissing("ac_types headers (ac_fixed.h)", AC_HINT)


def ac_version(include: Path) -> str:
    """``major.minor`` from ``ac_int.h`` (``?`` when the defines are absent)."""
    try:
        text = (include / "ac_int.h").read_text(errors="replace")
    except OSError:
        return "?"
    found = dict(re.findall(r"#define\s+(AC_VERSION(?:_MINOR)?)\s+(\d+)", text))
    return f"{found.get('AC_VERSION', '?')}.{found.get('AC_VERSION_MINOR', '?')}"


def compile_argv(
    cxx: str,
    flags: Sequence[str],
    includes: Sequence[str | Path],
    sources: Sequence[str | Path],
    output: str | Path,
    defines: Sequence[str] = (),
) -> list[str]:
    """The argv compiling ``sources`` into the executable ``output``."""
    return [
        cxx,
        *BASE_FLAGS,
        *flags,
        *(f"-D{d}" for d in defines),
        *(f"-I{inc}" for inc in includes),
        *(str(s) for s in sources),
        "-o",
        str(output),
    ]


def read_trace(path: Path, graph: Graph, first: int, end: int) -> dict[str, IntArray]:
    """Per-layer raw outputs of stimuli ``first..end-1`` from a trace file, indexed from 0."""
    sizes = {lay.name: lay.size for lay in graph.layers}
    out = {name: np.zeros((end - first, size), np.int64) for name, size in sizes.items()}
    seen = {name: np.zeros(end - first, bool) for name in sizes}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[1] not in sizes:
            raise AsicflowError(f"{path}: unexpected trace line {line[:80]!r}")
        s, name = int(fields[0]) - first, fields[1]
        values = [int(v) for v in fields[2:]]
        if not 0 <= s < end - first or len(values) != sizes[name]:
            raise AsicflowError(f"{path}: unexpected trace line {line[:80]!r}")
        out[name][s] = values
        seen[name][s] = True
    return {name: arr for name, arr in out.items() if seen[name].all()}
