"""Group commit: on SQLite, writes that arrive together share one transaction, and so one commit.

SQLite has one writer at a time, and a commit waits for the disk. Under load a worker's claim events
queued for that one lock: each write held it about 9 ms for 1 ms of work, and waited over 50 ms for it.
Here a thread of the group's own applies every write queued by the time it is free, in order, in one
transaction. A batch is as large as the load makes it: nobody waits for a timer, and a write that finds
the thread idle is applied at once.

A batch is all or nothing, like one write. If a write in it fails, or the commit does, the batch is
rolled back and each of its writes is applied again alone, in a transaction of its own, so each gets
its own outcome. So only writes that may run twice belong here: the claim events (keyed) may.

On PostgreSQL each write keeps a transaction of its own: its writers do not queue for one lock, and a
batch would hold the row locks of claims that have nothing to do with each other.
"""

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
IDLE_S = 60.0  # the thread ends after this long without a write, and starts again with the next


class _Write:
    def __init__(self, apply: Callable[[Session], Any]):
        self.apply = apply
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, sessions: sessionmaker):
        self._sessions = sessions
        self._grouped = sessions.kw["bind"].dialect.name == "sqlite"
        self._queue: queue.SimpleQueue[_Write] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, apply: Callable[[Session], T]) -> T:
        """`apply` in a transaction, with whatever other writes are queued; its result, or its error raised."""
        if not self._grouped:
            with self._sessions.begin() as db:
                return apply(db)
        write = _Write(apply)
        self._queue.put(write)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._commits, name="group-commit", daemon=True)
                self._thread.start()
        write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result

    def _commits(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=IDLE_S)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._apply(batch)

    def _apply(self, batch: list[_Write]) -> None:
        try:
            with self._sessions.begin() as db:
                for write in batch:
                    write.result = write.apply(db)
        except Exception as err:
            if len(batch) == 1:
                batch[0].error = err
            else:
                for write in batch:
                    self._alone(write)
        except BaseException as err:  # not a write's failure: the thread is ending, the writes it held are not done
            for write in batch:
                write.error = err
            with self._lock:
                self._thread = None  # the next write starts another
            raise
        finally:
            for write in batch:
                write.done.set()

    def _alone(self, write: _Write) -> None:
        try:
            with self._sessions.begin() as db:
                write.result = write.apply(db)
        except Exception as err:
            write.error = err
