"""The yardstick: the same reconciliation as one DuckDB FULL OUTER JOIN, in a process of its own.

    python -m benchmarks.duckdb_join LEDGER.db PROVIDER.jsonl   -> one JSON object on stdout

Run apart so DuckDB's memory (it holds both sides, columnar) stays out of the reconciling
process's peak. Loading is not timed as the join: the ledger is exported from the same SQLite
database to CSV and read with read_csv (DuckDB reads SQLite only through an extension it would
download), the provider objects are read from the same JSONL with read_json and normalised in
SQL exactly as `finance.lines` does. The timed query is the join plus the classification of
`finance.matching`, written in SQL, materialised as a table (as match() yields every finding).
The counts and discrepancies are read afterwards, untimed, so the caller can check both agree.
"""

import csv
import json
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import duckdb

_LEDGER = """
CREATE TABLE ledger AS
SELECT key, claim_id, provider_ref, amount_cents, upper(currency) AS currency, status, created_at
FROM read_csv(?, header = true, columns = {
    'key': 'VARCHAR', 'claim_id': 'VARCHAR', 'attempt': 'BIGINT', 'provider_ref': 'VARCHAR',
    'amount_cents': 'BIGINT', 'currency': 'VARCHAR', 'status': 'VARCHAR', 'created_at': 'VARCHAR'})
"""

_PROVIDER = """
CREATE TABLE provider AS
SELECT
    CASE WHEN metadata.claim_id <> '' AND regexp_full_match(metadata.attempt, '[0-9]+')
         THEN 'claim-' || metadata.claim_id || '-payout-' || CAST(CAST(metadata.attempt AS HUGEINT) AS VARCHAR)
    END AS key,
    id AS object_id,
    nullif(metadata.claim_id, '') AS claim_id,
    amount AS amount_cents,
    upper(currency) AS currency,
    CASE WHEN object = 'transfer'
         THEN CASE WHEN reversed OR coalesce(amount_reversed, 0) > 0 THEN 'reversed' ELSE 'paid' END
         WHEN status IN ('failed', 'canceled') THEN 'failed'
         ELSE 'paid'
    END AS status,
    created
FROM read_json(?, format = 'newline_delimited', columns = {
    id: 'VARCHAR', object: 'VARCHAR', amount: 'BIGINT', amount_reversed: 'BIGINT', currency: 'VARCHAR',
    created: 'BIGINT', metadata: 'STRUCT(claim_id VARCHAR, attempt VARCHAR)', reversed: 'BOOLEAN',
    status: 'VARCHAR'})
"""

# The rules of finance.matching, row by row: the object counted for a key is the one the ledger
# names, else the first paid, else the first (by created, then id); every other one is a duplicate.
_JOIN = """
CREATE TABLE findings AS
WITH joined AS (
    SELECT l.key AS lkey, l.status AS lstatus, l.amount_cents AS lamount, l.currency AS lcurrency,
           l.provider_ref, p.key AS pkey, p.object_id, p.status AS pstatus, p.amount_cents AS pamount,
           p.currency AS pcurrency,
           row_number() OVER (
               PARTITION BY coalesce(l.key, p.key, p.object_id)
               ORDER BY (p.object_id = l.provider_ref) DESC NULLS LAST, (p.status = 'paid') DESC,
                        p.created, p.object_id
           ) AS rank
    FROM ledger l FULL OUTER JOIN provider p ON l.key = p.key
)
SELECT unnest(CASE
        WHEN object_id IS NULL
            THEN [CASE WHEN lstatus = 'paid' THEN 'missing_at_provider' ELSE 'no_money_moved' END]
        WHEN rank > 1 THEN ['duplicate']
        WHEN lkey IS NULL THEN ['missing_in_ledger']
        WHEN lstatus <> 'paid' AND pstatus = 'failed' THEN ['no_money_moved']
        ELSE coalesce(nullif(list_distinct([  -- list_distinct drops the NULLs: the ways they disagree
            CASE WHEN NOT (lstatus = 'paid' AND pstatus = 'paid') THEN 'status_mismatch' END,
            CASE WHEN lamount <> pamount THEN 'amount_mismatch' END,
            CASE WHEN lcurrency <> pcurrency THEN 'currency_mismatch' END,
            CASE WHEN provider_ref IS DISTINCT FROM object_id AND (lstatus = 'paid' OR provider_ref IS NOT NULL)
                 THEN 'ref_mismatch' END
        ]), []), ['matched'])
    END) AS kind,
    coalesce(lkey, pkey) AS key,
    object_id
FROM joined
"""


def export_ledger(db_path: str, csv_path: str) -> int:
    """The payouts table as CSV, streamed; NULL as an empty field."""
    columns = "idempotency_key, claim_id, attempt, provider_ref, amount_cents, currency, status, created_at"
    rows = 0
    with sqlite3.connect(db_path) as db, open(csv_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["key", "claim_id", "attempt", "provider_ref", "amount_cents", "currency", "status", "created_at"]
        )
        cursor = db.execute(f"SELECT {columns} FROM payouts")
        while batch := cursor.fetchmany(10_000):
            writer.writerows(batch)
            rows += len(batch)
    return rows


def run(db_path: str, jsonl_path: str) -> dict:
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ledger_csv = str(Path(tmp) / "ledger.csv")
        export_ledger(db_path, ledger_csv)
        exported = time.perf_counter()
        con.execute(_LEDGER, [ledger_csv])
        con.execute(_PROVIDER, [jsonl_path])
        loaded = time.perf_counter()
    con.execute(_JOIN)
    joined = time.perf_counter()
    counts = dict(con.execute("SELECT kind, count(*) FROM findings GROUP BY kind").fetchall())
    discrepancies = con.execute(
        "SELECT kind, key, object_id FROM findings WHERE kind NOT IN ('matched', 'no_money_moved')"
    ).fetchall()
    return {
        "threads": threads,
        "export_s": exported - started,
        "load_s": loaded - exported,
        "join_s": joined - loaded,
        "counts": counts,
        "discrepancies": discrepancies,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": duckdb.__version__,
    }


if __name__ == "__main__":
    json.dump(run(sys.argv[1], sys.argv[2]), sys.stdout)
