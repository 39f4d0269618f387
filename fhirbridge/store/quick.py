"""Short SQLite reads run in the calling thread, within a time budget.

The service runs store calls in worker threads so that a long query does not hold up its event loop. For a search
SQLite answers in a millisecond, that hop to a worker thread and back was most of what a client waited (two
thread wake-ups, each waiting for a CPU on a busy machine). A quick read runs where it is asked, on a connection
of the calling thread's own, and SQLite's progress handler interrupts it once it has used ``budget`` seconds of
CPU; it is then given up (it only read) and the caller runs it in a worker thread as before. The event loop is
held up by the work of at most about the budget, no longer than a thread holding Python's lock would hold it
anyway (5 ms). The budget counts the CPU time of the thread, not the time on the clock: on a busy machine a
read is often descheduled for longer than it works, and giving it up then would only add a second run.

The connection does not wait for a lock (``busy_timeout`` 0): a read that would wait is given up too.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
#: SQLite virtual machine instructions between two looks at the clock (a look costs about 1-3 µs).
_CHECK_EVERY = 10_000


class QuickReads:
    """Reads of at most ``budget`` seconds on SQLite, run in the calling thread (``run``)."""

    def __init__(self, engine: Engine, budget: float) -> None:
        self.engine = engine
        self.budget = budget
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._lock = threading.Lock()

    def run(self, read: Callable[[Connection], T]) -> T | None:
        """What ``read`` returns, or None when it did not finish within the budget (or would have waited for a
        lock): nothing is kept of it then, and the caller runs it elsewhere."""
        if self.engine.dialect.name != "sqlite" or self.budget <= 0:
            return None
        conn, deadline = self._connection()
        deadline[0] = time.thread_time() + self.budget
        try:
            return read(conn)
        except DBAPIError:  # interrupted by the budget, or SQLITE_BUSY: the worker thread's connection waits
            return None
        finally:
            deadline[0] = math.inf
            conn.rollback()  # the read transaction ends: a snapshot kept open would hold back WAL checkpoints

    def _connection(self) -> tuple[Connection, list[float]]:
        found = getattr(self._local, "conn", None)
        if found is None:
            conn = self.engine.connect()
            deadline = [math.inf]
            raw: Any = conn.connection.driver_connection
            raw.execute("PRAGMA busy_timeout=0")
            raw.set_progress_handler(lambda: time.thread_time() > deadline[0], _CHECK_EVERY)
            found = self._local.conn = (conn, deadline)
            with self._lock:
                self._opened.append(conn)
        return found

    def close(self) -> None:
        """Close the connections of every thread (when the store closes)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):  # a connection of a thread that is gone: nothing to release
                conn.close()
