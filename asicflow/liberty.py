"""Liberty files: a plain-text copy of a ``.lib.gz`` and the names of sequential cells.

OpenSTA (the 2019 Debian snapshot) cannot read gzipped Liberty, and Yosys would decompress
the same file once per pass, so both read one decompressed copy kept in a cache folder of the
build tree (``build/.cache/liberty/``), keyed by the source file's path, size and mtime.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import zlib
from pathlib import Path

from asicflow.errors import AsicflowError

_CELL = re.compile(r'^\s*cell\s*\(\s*"?([^"\s)]+)"?\s*\)', re.MULTILINE)
_SEQUENTIAL = re.compile(r"^\s*(?:ff|latch|ff_bank|latch_bank|statetable)\s*\(", re.MULTILINE)


def liberty_cache(flow_dir: Path) -> Path:
    """The cache folder shared by every flow of one build tree."""
    return flow_dir.parent / ".cache" / "liberty"


def plain_liberty(src: Path, cache: Path) -> Path:
    """``src`` itself if it is plain text, else its decompressed copy in ``cache``."""
    if src.suffix != ".gz":
        return src
    st = src.stat()
    tag = hashlib.sha1(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    dst = cache / tag[:12] / src.name[: -len(".gz")]
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    try:
        with gzip.open(src, "rb") as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.replace(tmp, dst)
    except (OSError, EOFError, zlib.error) as exc:
        tmp.unlink(missing_ok=True)
        raise AsicflowError(f"cannot decompress Liberty file {src}: {exc}") from exc
    return dst


@functools.lru_cache(maxsize=8)
def sequential_cells(lib: Path) -> frozenset[str]:
    """Names of the cells whose Liberty description holds a flip-flop, latch or state table."""
    text = lib.read_text(errors="replace")
    starts = list(_CELL.finditer(text))
    out = set()
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        if _SEQUENTIAL.search(text, m.end(), end):
            out.add(m.group(1))
    return frozenset(out)
