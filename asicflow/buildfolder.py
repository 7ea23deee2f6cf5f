"""The build folder: checked usable before anything runs, one folder per flow inside it, and a
lock per flow folder so two runs of one flow never work in it at once.

The lock is ``build/<flow>/.lock`` (``fcntl.flock``, released by the kernel when its holder
exits, however it exits). ``asicflow run`` holds it for the whole run; every step holds it
while it runs (``steps.base.execute``), so a plain ``doit`` is covered step by step. A second
run is refused with the holder's pid and command line. Within one run the lock is shared: by
the threads of a process, and by doit's worker processes (``doit -n N``), which carry the
run's token (:data:`RUN_ENV`, set where the tasks are created).
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asicflow.errors import AsicflowError

LOCK_NAME = ".lock"
RUN_ENV = "ASICFLOW_RUN_TOKEN"
_mutex = threading.Lock()
_held: dict[str, tuple[int, int]] = {}  # flow folder -> (fd or -1 when a sibling holds it, depth)


class BuildLocked(AsicflowError):
    """Another run is working in the same flow build folder."""


def new_run_token() -> str:
    """Mark this process (and the doit workers it forks) as one run."""
    token = uuid.uuid4().hex
    os.environ[RUN_ENV] = token
    return token


def check_build_root(build: Path) -> None:
    """``build`` is a folder we can write (created if missing), or one clear error."""
    hint = "set ASICFLOW_BUILD to a writable folder (default: ./build)"
    if build.exists() and not build.is_dir():
        raise AsicflowError(f"the build folder {build} is not a folder (it is a file): {hint}")
    try:
        build.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AsicflowError(
            f"cannot create the build folder {build}: {exc.strerror}; {hint}"
        ) from None
    _check_writable(build, hint)


def _check_writable(folder: Path, hint: str) -> None:
    """Try it: permission bits say nothing for root, an immutable or read-only mount does."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".asicflow-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AsicflowError(
            f"the build folder {folder} is not writable ({exc.strerror}): {hint}"
        ) from None


def flow_folder(build: Path, name: str) -> Path:
    """``build/<name>``, refusing any name that would lead elsewhere."""
    root = build.resolve()
    folder = (root / name).resolve()
    if folder.parent != root or name in ("", ".", ".."):
        raise AsicflowError(
            f"flow name {name!r} would write outside the build folder {root}: a flow name is a "
            "plain identifier like 'digits_mlp'"
        )
    return folder


def _holder(path: Path) -> tuple[int | None, str, str]:
    """(pid, run token, command line) recorded by the lock's holder."""
    try:
        pid_s, token, *rest = [*path.read_text().split("\n", 2), "", ""]
        pid = int(pid_s)
    except (OSError, ValueError):
        return None, "", ""
    cmd = rest[0].strip() if rest else ""
    return pid, token, cmd


def _command_line() -> str:
    try:
        raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)[:300]


def _acquire(folder: Path) -> int:
    """The lock's fd, or -1 when another process of this same run holds it."""
    hint = "set ASICFLOW_BUILD to a writable folder (default: ./build)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AsicflowError(f"cannot create {folder} ({exc.strerror}): {hint}") from None
    _check_writable(folder, hint)
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AsicflowError(
            f"cannot lock the flow build folder {folder} ({exc.strerror}): {hint}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise AsicflowError(f"cannot lock {folder / LOCK_NAME}: {exc.strerror}") from None
        pid, token, cmd = _holder(folder / LOCK_NAME)
        mine = os.environ.get(RUN_ENV, "")
        if mine and token == mine:
            return -1
        alive = pid is not None and Path(f"/proc/{pid}").exists()  # else: written before
        who = f"pid {pid}" + (f": {cmd}" if cmd else "") if alive else "another process"
        raise BuildLocked(
            f"the flow build folder {folder} is in use by another run ({who}): wait for it "
            "to finish, or run this one with another ASICFLOW_BUILD"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n{os.environ.get(RUN_ENV, '')}\n{_command_line()}\n".encode())
    return fd


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the block (re-entrant within a process)."""
    key = str(folder.resolve())
    with _mutex:
        fd, depth = _held.get(key, (None, 0))
        if fd is None:
            fd = _acquire(folder)
        _held[key] = (fd, depth + 1)
    try:
        yield
    finally:
        with _mutex:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                if fd >= 0:
                    os.close(fd)
