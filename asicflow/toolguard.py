"""``python -m asicflow.toolguard PARENT_PID TOOL ARGS...``: run one tool so that it dies
with the flow that started it.

:func:`asicflow.runner.run_tool` starts every tool through this guard in a new session, so
the guard leads a process group holding the tool and everything the tool starts (make,
cc1plus, yosys-abc...). The guard asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``), even by kill -9, and then kills its whole group. A timeout in
``run_tool`` kills the same group. Exit status: the tool's (128 + N for a signal N), 127 when
the tool cannot be started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1


def _kill_group(signum: int, frame: FrameType | None) -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _die_with_parent(parent: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _kill_group)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        _kill_group(signal.SIGTERM, None)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.stderr.write("usage: python -m asicflow.toolguard PARENT_PID TOOL [ARGS...]\n")
        return 2
    _die_with_parent(int(argv[0]))
    try:
        proc = subprocess.Popen(argv[1:])
    except OSError as exc:
        sys.stderr.write(f"asicflow: cannot start {argv[1]}: {exc.strerror}\n")
        return 127
    rc = proc.wait()
    return 128 - rc if rc < 0 else rc


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
