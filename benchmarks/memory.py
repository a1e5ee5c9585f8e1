"""Peak resident memory per phase of one process.

Linux keeps one high-water mark per process (VmHWM, also what getrusage's ru_maxrss reads) and
lets the process reset it to the current RSS (`5` into /proc/self/clear_refs). So each phase gets
its own peak, measured by the kernel and covering everything (Python objects, SQLite's caches and
sorter, allocator slack), at no cost while the phase runs, unlike tracemalloc, which slows every
allocation and sees only Python's. The reset also drops earlier peaks from ru_maxrss, so the
process peak is kept here as the maximum over the phases. Elsewhere (no /proc) a phase's peak is
the process peak so far, and says so.
"""

import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(name: str) -> int | None:
    try:
        for row in _STATUS.read_text().splitlines():
            if row.startswith(name + ":"):
                return int(row.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    peak_mib: float = 0.0
    start_mib: float = 0.0
    own_peak: bool = True  # False: the process peak so far (high-water mark not resettable)


@dataclass
class Meter:
    phases: list[Phase] = field(default_factory=list)
    _process_peak_kib: int = 0
    _started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def phase(self, name: str):
        """Time the block and take its own peak RSS."""
        self._fold(self._hwm_kib())
        own = _reset_peak()
        current = _status_kib("VmRSS") or 0
        phase = Phase(name, start_mib=current / 1024, own_peak=own)
        started = time.perf_counter()
        try:
            yield phase
        finally:
            phase.seconds = time.perf_counter() - started
            peak = self._hwm_kib()
            phase.peak_mib = peak / 1024
            self._fold(peak)
            self.phases.append(phase)

    def process_peak_mib(self) -> float:
        self._fold(self._hwm_kib())
        return self._process_peak_kib / 1024

    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def _fold(self, kib: int) -> None:
        self._process_peak_kib = max(self._process_peak_kib, kib)

    @staticmethod
    def _hwm_kib() -> int:
        return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
