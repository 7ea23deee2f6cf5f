"""doit's record of finished tasks, kept durable while a run goes on.

doit writes its state (``build/.doit.db``, sqlite) only when the whole run ends, so a run
killed in its tenth step would redo the nine that had finished. asicflow's reporter commits
that state after every task that succeeds (doit calls it right after recording the task), so
finished steps stay finished after a kill -9. Chosen over ``--check_file_uptodate`` or a
record of our own because doit's own record then stays the one truth of what is up to date.
"""

from __future__ import annotations

from typing import Any

from doit.dependency import SqliteDB
from doit.globals import Globals
from doit.reporter import ConsoleReporter


def commit_state() -> None:
    """Write doit's pending task records and commit them (the connection stays open)."""
    backend = getattr(Globals.dep_manager, "backend", None)
    if not isinstance(backend, SqliteDB):
        return
    for task_id in backend._dirty:
        backend._conn.execute(
            "insert or replace into doit values (?,?)",
            (task_id, backend.codec.encode(backend._cache[task_id])),
        )
    backend._conn.commit()
    backend._dirty = set()


class DurableReporter(ConsoleReporter):
    """doit's console output, plus :func:`commit_state` after each successful task."""

    def add_success(self, task: Any) -> None:
        super().add_success(task)
        commit_state()
