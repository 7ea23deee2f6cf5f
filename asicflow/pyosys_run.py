"""Run one Yosys script with pyosys in a child process: ``python -m asicflow.pyosys_run x.ys``.

A Yosys ERROR ends the whole Python process that hosts pyosys (no exception is raised), so
the flow never imports pyosys itself: steps run this module through ``StepContext.run``, the
Yosys log lands in the step log, and an ERROR simply makes this child exit non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asicflow.errors import AsicflowError


def quote(path: Path | str) -> str:
    """``path`` as one argument of a Yosys command: in double quotes (spaces and non-ASCII
    characters are fine, Yosys drops the quotes); a path holding a quote or a line break cannot
    be written at all."""
    text = str(path)
    if '"' in text or "\n" in text or "\r" in text:
        raise AsicflowError(
            f"Yosys cannot take the path {text!r} (it holds a quote or a line break): "
            "move the files, or the build folder (ASICFLOW_BUILD), to a plainer path"
        )
    return f'"{text}"'


def main(argv: list[str]) -> int:
    # Yosys's command line keeps quotes as part of a file name, so none can be quoted.
    if len(argv) != 1 or not argv[0] or any(c.isspace() or c == '"' for c in argv[0]):
        sys.stderr.write(
            "usage: python -m asicflow.pyosys_run SCRIPT.ys " "(a path without spaces or quotes)\n"
        )
        return 2
    from pyosys import libyosys as ys

    ys.run_pass(f"script {argv[0]}", ys.Design())
    return 0


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
