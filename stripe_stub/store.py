"""The stub's persisted state: one JSON file, rewritten atomically after every change.

    {"format": "stripe_stub/1",
     "balance": {"usd": 1000000000},                     available funds per currency
     "transfers": {id: transfer}, "refunds": {...},      Stripe's objects, in creation order
     "charges": {...}, "balance_transactions": {...},
     "idempotency": {key: record}}                       see `idempotency`

All access goes through one lock: `transaction()` for changes (written to a temporary file in
the same folder, fsynced, then renamed over the old one; an exception leaves both the file and
the state in memory as they were), `reading()` for reads.
"""

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "stripe_stub/1"
KINDS = ("transfers", "refunds", "charges", "balance_transactions")
DEFAULT_BALANCE = {"usd": 1_000_000_000}


def empty_state(balance: dict[str, int] | None = None) -> dict:
    return {
        "format": FORMAT,
        "balance": dict(DEFAULT_BALANCE if balance is None else balance),
        **{kind: {} for kind in KINDS},
        "idempotency": {},
    }


class Store:
    def __init__(self, path: str | os.PathLike, *, initial_balance: dict[str, int] | None = None):
        self.path = Path(path)
        self.lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._saved = self.path.read_text()
            try:
                self._data = json.loads(self._saved)
            except ValueError as e:
                raise ValueError(f"{self.path} is not a stripe stub state file: {e}") from e
            if not isinstance(self._data, dict) or self._data.get("format") != FORMAT:
                raise ValueError(f"{self.path} is not a stripe stub state file (format {FORMAT})")
        else:
            self._data = empty_state(initial_balance)
            self._saved = ""
            self._write()

    @contextmanager
    def reading(self) -> Iterator[dict]:
        """The state, under the lock; do not change it (copy what leaves the block)."""
        with self.lock:
            yield self._data

    @contextmanager
    def transaction(self) -> Iterator[dict]:
        """The state to change, under the lock; saved on success, restored on an exception."""
        with self.lock:
            try:
                yield self._data
                self._write()
            except BaseException:
                self._data = json.loads(self._saved) if self._saved else empty_state()
                raise

    def replace(self, state: dict) -> None:
        with self.transaction() as current:
            current.clear()
            current.update(state)

    def _write(self) -> None:
        text = json.dumps(self._data, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        self._saved = text
