"""Finance commands' parts: waiting for a reconciliation to finish, and writing the API's CSV out."""

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from cli.http import Api, CliError
from cli.show import clean

FIRST_PAUSE_S = 0.2  # the first look comes quickly: a day with few payouts is done in a moment
LONGEST_PAUSE_S = 2.0


def report_path(run_id: str) -> str:
    return f"/reconciliations/{quote(run_id, safe='')}"


def wait_until_done(
    client: Api,
    run_id: str,
    wait_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """The run once it is done (without its findings); a CliError when `wait_seconds` pass first.

    It looks often at first, then every LONGEST_PAUSE_S. Ctrl-C stops only the waiting: the
    reconciliation goes on in the worker, and the message says how to read it later.
    """
    later = f"read it later with `guarantee finance report {run_id}`"
    deadline = clock() + wait_seconds
    pause = FIRST_PAUSE_S
    try:
        while True:
            view = client.get(report_path(run_id), limit=0)
            if view["status"] == "done":
                return view
            if view["status"] != "running":
                why = f": {view['failure']}" if view.get("failure") else ""
                raise CliError(f"reconciliation {run_id} ended {view['status']}{why}; {later}")
            left = deadline - clock()
            if left <= 0:
                raise CliError(f"reconciliation {run_id} is still running after {wait_seconds:g} s; {later}")
            sleep(min(pause, left))
            pause = min(pause * 1.5, LONGEST_PAUSE_S)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted; reconciliation {run_id} goes on: {later}") from None


def to_stdout(chunks: Iterable[str]) -> None:
    """CSV to standard output as it arrives; a reader that stops early (`| head`) is no error.

    What reaches the terminal is cleaned (`cli.show.clean`): no escape sequence or control character
    but the tab, carriage return and line feed a CSV may hold. `--csv FILE` writes the API's bytes."""
    out = sys.stdout
    try:
        for chunk in chunks:
            out.write(clean(chunk, keep="\t\r\n"))
        out.flush()
    except BrokenPipeError:
        # Python would complain again flushing stdout at exit: point it at nothing instead.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


class CsvFile:
    """FILE, written whole or not at all: a hidden file beside it, renamed over it on `save`.

    Made before the work starts, so a path that cannot be written fails in a moment instead of
    after a long reconciliation. Like the export it holds, the file is readable by its owner only
    (a file it replaces keeps its own permissions).
    """

    def __init__(self, target: Path):
        self.target = target
        if target.is_dir():
            raise CliError(f"cannot write {target}: it is a directory")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        except OSError as err:
            raise CliError(f"cannot write {target}: {err.strerror or err}") from None
        self._partial = Path(name)
        self._out: TextIO = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def save(self, chunks: Iterable[str]) -> None:
        try:
            for chunk in chunks:
                self._out.write(chunk)
            self._out.close()
            with contextlib.suppress(OSError):
                os.chmod(self._partial, self.target.stat().st_mode & 0o777)
            os.replace(self._partial, self.target)
        except OSError as err:
            raise CliError(f"cannot write {self.target}: {err.strerror or err}") from None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()
        self._partial.unlink(missing_ok=True)


@contextlib.contextmanager
def csv_file(target: Path | None) -> Iterator[CsvFile | None]:
    """A CsvFile for `target` (None: none), removed again unless it was saved."""
    if target is None:
        yield None
        return
    out = CsvFile(target)
    try:
        yield out
    finally:
        out.discard()
