"""Provider lines kept in bounded memory, as Parquet files on disk that DuckDB joins or sorts by key.

Stripe lists objects newest first, not by key, and a million of them do not belong in Python's
memory. So lines go to disk in batches, Parquet files written from Arrow columns, and DuckDB
reads them back: `finance.pairs` joins the ledger against them, `sorted()` orders them. DuckDB
works within `memory_limit`, spilling to the spool's folder beyond it. The rows are split into
`parts` by the key's hash, so a join can take one part at a time and stay within the limit.

Chosen by measurement on the 2-core benchmark machine, a million lines: to Parquet through Arrow
1.3 s; into a DuckDB table through Arrow 3.8 s, through a CSV file 3.2 s, Polars frames 4.6 s,
DuckDB's own parameter lists 6 s; the SQLite spool this replaces took 7-8 s to fill and read
back, and its rows then had to be merged in Python, one at a time.

Order of `sorted()`: key ascending in byte order, which is Python's string order, so `match`
agrees with it; keyless lines (NULL) first; within a key, by created, then object id.
"""

import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finance.lines import ProviderLine

_TYPES = (pa.string(), pa.string(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.int64())
_SCHEMA = pa.schema(zip(ProviderLine._fields, _TYPES, strict=True))
# Dictionary-encoded in the files: the other columns hold a value a row, and encoding them too made
# writing the files take twice as long, for nothing.
_FEW_VALUES = ["currency", "status"]
_SELECT = f"SELECT {', '.join(ProviderLine._fields)} FROM provider ORDER BY key NULLS FIRST, created, object_id"


class ProviderSpool:
    """Collect provider lines in any order with `add`/`extend`, then read them back with `sorted()`.

        with ProviderSpool() as spool:
            spool.extend(transfer_line(obj) for obj in page["data"])
            for finding in match(ledger_lines, spool.sorted()): ...

    `db` is a DuckDB connection where the view `provider` reads every file; `write` adds files
    beside it (the ledger's, in `finance.pairs`). The folder is deleted when the spool is closed.
    """

    def __init__(self, batch_size: int = 10_000, memory_limit: str = "64MB", parts: int = 8):
        self._folder = tempfile.TemporaryDirectory(prefix="guarantee-spool-")
        self.folder = Path(self._folder.name)
        self.db = duckdb.connect(
            config={
                "memory_limit": memory_limit,
                "temp_directory": str(self.folder / "spill"),
                "preserve_insertion_order": False,
            }
        )
        self._batch_size = batch_size
        self.parts = parts
        self._pending: list[ProviderLine] = []
        self._parted: dict[tuple[str, int], list[pa.Table]] = {}
        self._count = 0
        self._files = 0
        self._written: set[str] = set()
        self.view("provider", _SCHEMA)

    def add(self, line: ProviderLine) -> None:
        self._pending.append(line)
        if len(self._pending) >= self._batch_size:
            self._insert_pending()

    def extend(self, lines: Iterable[ProviderLine]) -> None:
        self._insert_pending()
        lines = iter(lines)
        while batch := list(islice(lines, self._batch_size)):
            self._insert(batch)

    def __len__(self) -> int:
        return self._count + len(self._pending)

    def sorted(self) -> Iterator[ProviderLine]:
        """Every line added so far, by key; the sort itself happens when the first line is asked for."""
        self.flush()
        yield from read(self.db.cursor(), _SELECT, ProviderLine._make)

    def flush(self) -> None:
        """Write out every row still held, so the views read all of them."""
        self._insert_pending()
        for name, part in list(self._parted):
            self._write_part(name, part)

    def _insert_pending(self) -> None:
        if self._pending:
            self._insert(self._pending)
            self._pending.clear()

    def _insert(self, batch: list[ProviderLine]) -> None:
        self.write("provider", columns(batch, _SCHEMA))
        self._count += len(batch)

    def view(self, name: str, schema: pa.Schema) -> None:
        """A view `name` over the files `write` adds under it, and one `name_<part>` over each part's.

        Each reads an empty file until its first, so it reads even with none. The empty file is then
        left out: DuckDB estimates a glob's rows from its first file, and an empty one made it think
        a million rows were none and build its hash joins on the large side.
        """
        pq.write_table(schema.empty_table(), self.folder / f"{name}.parquet")
        for view in [name] + [f"{name}_{part}" for part in range(self.parts)]:
            self._point(view, f"{name}.parquet")

    def write(self, name: str, table: pa.Table) -> None:
        """Rows (with a `key` column) under `name`, split into `parts` by the key's hash.

        A part's rows are written once a batch of them is held (or at `flush`), a file each. So
        `finance.pairs` can join the sides one part at a time, a hash table of a part's keys at a
        time: a million payouts' did not fit in the memory limit, and DuckDB spilled it to disk.
        """
        parts = pa.table(self.db.from_arrow(table).project(f"hash(key) % {self.parts}").arrow()).column(0)
        order = pc.sort_indices(parts)  # one take and a slice per part: a third of the time of a filter per part
        table, counts = table.take(order), pc.value_counts(parts)
        sizes = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
        start = 0
        for part in range(self.parts):
            held = self._parted.setdefault((name, part), [])
            held.append(table.slice(start, sizes.get(part, 0)))
            start += sizes.get(part, 0)
            if sum(len(rows) for rows in held) >= self._batch_size:
                self._write_part(name, part)

    def _write_part(self, name: str, part: int) -> None:
        rows = pa.concat_tables(self._parted.pop((name, part))).combine_chunks()
        if not len(rows):
            return
        self._files += 1
        pq.write_table(rows, self.folder / f"{name}-{part}-{self._files:06d}.parquet", use_dictionary=_FEW_VALUES)
        for view, files in ((name, f"{name}-*.parquet"), (f"{name}_{part}", f"{name}-{part}-*.parquet")):
            if view not in self._written:
                self._written.add(view)
                self._point(view, files)

    def _point(self, view: str, files: str) -> None:
        self.db.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{self.folder}/{files}')")

    def close(self) -> None:
        self.db.close()
        self._folder.cleanup()

    def __enter__(self) -> "ProviderSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def columns(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Rows (tuples in the schema's order) as Arrow columns. Arrow reads them as one struct array, in
    C++: three times as fast as transposing them in Python and building a column from each."""
    return pa.Table.from_struct_array(pa.array(rows, pa.struct(schema)))


def read(cursor: duckdb.DuckDBPyConnection, query: str, make, parameters=()) -> Iterator:
    """`make(row)` for each row of `query`, fetched a few thousand at a time; the cursor is closed at the end."""
    try:
        cursor.execute(query, parameters)
        while rows := cursor.fetchmany(4096):
            yield from map(make, rows)
    finally:
        cursor.close()


def sorted_by_key(lines: Iterable[ProviderLine], **options) -> Iterator[ProviderLine]:
    """`lines` sorted by key through a spool that is closed when the iteration ends."""
    with ProviderSpool(**options) as spool:
        spool.extend(lines)
        yield from spool.sorted()
