"""CSV produced while it is read: a header, then rows, in chunks a streaming response can send.

Every export goes through here, so every cell is made safe here: a text cell that a spreadsheet
would read as a formula (one starting with `=`, `+`, `-`, `@`, a tab or a carriage return, as
OWASP's "CSV Injection" page lists them) gets a leading single quote, which spreadsheets show as
text. Plain numbers (`-12.50`) are left as they are, so amounts stay numbers; the csv module
quotes cells holding commas, quotes or line breaks (a lone carriage return too), so the file
stays valid CSV; lines end in "\n".
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator

CHUNK = 64_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(cell: object) -> object:
    """The cell as a spreadsheet may safely read it: text that could start a formula, quoted."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class _Lines:
    """One CSV line at a time. The csv module quotes a cell only for the characters of its line
    terminator, so it writes "\r\n" (quoting cells with "\r" or "\n") and the line gets "\n"."""

    def __init__(self):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def __call__(self, cells: list) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([neutralise(cell) for cell in cells])
        return self._buffer.getvalue()[:-2] + "\n"


def csv_chunks(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    line = _Lines()
    chunk = [line(header)]
    size = 0
    for row in rows:
        text = line(row)
        chunk.append(text)
        size += len(text)
        if size > CHUNK:
            yield "".join(chunk)
            chunk, size = [], 0
    yield "".join(chunk)
