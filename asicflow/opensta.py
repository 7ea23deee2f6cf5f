"""Judging an OpenSTA log. The Debian OpenSTA exits 0 even after Tcl errors, so every script
asicflow runs ends by printing a marker, and the log is checked for errors and the marker."""

from __future__ import annotations

import re

from asicflow.errors import AsicflowError

ERROR = re.compile(r"^(?:Error\b.*|.*Creating black box.*)$", re.MULTILINE)


def check_log(text: str, done: str) -> None:
    """Raise with the first errors when the run failed or stopped before printing ``done``."""
    errors = ERROR.findall(text)
    if errors:
        raise AsicflowError("; ".join(e.strip() for e in errors[:5]))
    if done not in text:
        raise AsicflowError("the Tcl script stopped before its end")
