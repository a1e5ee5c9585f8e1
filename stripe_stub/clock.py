"""The stub's clock for `created` timestamps: real time, unless a test froze or moved it."""

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen_at: int | None = None
        self._offset = 0

    def now(self) -> int:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return int(time.time()) + self._offset

    def set(self, *, frozen_at: int | None = None, advance: int = 0, unfreeze: bool = False) -> dict:
        """Freeze at a Unix time, unfreeze (back to real time), and/or move the clock forward."""
        with self._lock:
            if unfreeze:
                self._frozen_at = None
                self._offset = 0
            if frozen_at is not None:
                self._frozen_at = int(frozen_at)
            if advance:
                if self._frozen_at is not None:
                    self._frozen_at += int(advance)
                else:
                    self._offset += int(advance)
            frozen = self._frozen_at is not None
        return {"now": self.now(), "frozen": frozen}
