"""Judging an OpenSTA log. The Debian OpenSTA exits 0 even after Tcl errors, so every script
asicflow runs ends by printing a marker, and the log is checked for errors and the marker."""

from __future__ import annotations

import os
import re
from pathlib import Path

from asicflow.errors import AsicflowError

# What OpenSTA 2019 can open by name: it fails with "cannot read file" on a name holding a
# space (quoted or not) or a non-ASCII character, and Tcl would split on its specials.
_PLAIN = re.compile(r"[A-Za-z0-9_./+-]+")


def readable_path(path: Path, folder: Path, name: str) -> str:
    """How an OpenSTA script in ``folder`` (its working directory) names ``path``: as is when
    plain, else through a symlink ``name`` in ``folder`` (a plain relative name that OpenSTA
    opens wherever the folder is)."""
    text = str(path)
    if _PLAIN.fullmatch(text):
        return text
    if not _PLAIN.fullmatch(name):
        raise AsicflowError(f"internal: {name!r} is not a plain file name")
    link = folder / name
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.abspath(path), link)
    return name


ERROR = re.compile(r"^(?:Error\b.*|.*Creating black box.*)$", re.MULTILINE)


def check_log(text: str, done: str) -> None:
    """Raise with the first errors when the run failed or stopped before printing ``done``."""
    errors = ERROR.findall(text)
    if errors:
        raise AsicflowError("; ".join(e.strip() for e in errors[:5]))
    if done not in text:
        raise AsicflowError("the Tcl script stopped before its end")
