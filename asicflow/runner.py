"""The one subprocess helper every tool call goes through.

argv lists only (no shell), stdin from /dev/null, output appended to the step log, a timeout
that kills the process group, the tool's whole process group killed when the flow dies
(even by kill -9: ``asicflow/toolguard.py``), and the exact command recorded in
``commands.sh`` beside the log so a step folder can be replayed by hand.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from asicflow.errors import ToolFailed, ToolMissing

TAIL_LINES = 15


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    log: Path


def which(tool: str, hint: str, path: str | None = None) -> str:
    """Absolute path of ``tool`` or :class:`ToolMissing` carrying ``hint``."""
    found = shutil.which(tool, path=path)
    if found is None:
        raise ToolMissing(tool, hint)
    return found


def _cd_target(cwd: Path, step_dir: Path) -> str:
    """Where commands.sh changes to: relative to the script when inside the step folder, so
    the record stays valid after the folder is moved into place."""
    try:
        rel = Path(cwd).resolve().relative_to(step_dir.resolve())
    except ValueError:
        return shlex.quote(str(cwd))
    return '"$(dirname "$0")"' + ("" if str(rel) == "." else "/" + shlex.quote(str(rel)))


def tail(path: Path, n: int = TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_tool(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    cwd: Path,
    timeout: float = 3600.0,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    tool: str | None = None,
) -> ToolResult:
    """Run one external command, logging into ``log`` and recording it in ``commands.sh``."""
    args = [os.fspath(a) for a in argv]
    name = tool or Path(args[0]).name
    log.parent.mkdir(parents=True, exist_ok=True)
    record = log.parent / "commands.sh"
    new = not record.exists()
    with record.open("a") as fh:
        if new:
            fh.write("#!/bin/sh\n# Commands run by this step, in order (replayable by hand).\n")
        env_part = ""
        if env:
            changed = {k: v for k, v in env.items() if os.environ.get(k) != v}
            env_part = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(changed.items()))
            env_part = f"env {env_part} " if env_part else ""
        fh.write(f"cd {_cd_target(cwd, log.parent)} && {env_part}{shlex.join(args)}\n")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if "/" in args[0]:  # a path: relative to the tool's working folder, as Popen takes it
        exe: str | None = os.path.join(cwd, args[0])
    else:
        exe = shutil.which(args[0], path=full_env.get("PATH"))
    if exe is None or not os.path.exists(exe):
        raise ToolMissing(name, "Install it or put it on PATH.")
    exe = os.path.abspath(exe)
    # Through the guard (asicflow/toolguard.py): the tool and its children die with us.
    guarded = [sys.executable, "-m", "asicflow.toolguard", str(os.getpid()), exe, *args[1:]]
    with log.open("a") as out:
        out.write(f"$ {shlex.join(args)}\n")
        out.flush()
        try:
            proc = subprocess.Popen(
                guarded,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ToolMissing(name, "Install it or put it on PATH.") from exc
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ToolFailed(name, f"timed out after {timeout:.0f} s", log, tail(log)) from None
    if check and rc != 0:
        why = f"exit code {rc}"
        if 128 < rc < 160:  # the guard's code for a tool killed by a signal
            sig = rc - 128
            why += f" (killed by signal {sig}" + (": out of memory?)" if sig == 9 else ")")
        raise ToolFailed(name, why, log, tail(log))
    return ToolResult(rc, log)
