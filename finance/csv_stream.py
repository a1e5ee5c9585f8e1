"""CSV produced while it is read: a header, then rows, in chunks a streaming response can send."""

import csv
import io
from collections.abc import Iterable, Iterator

CHUNK = 64_000


def csv_chunks(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
