"""Reconciliation at scale: planted discrepancies found, memory flat, time against DuckDB.

    python -m benchmarks.reconcile                      # 100,000 then 1,000,000 payouts
    python -m benchmarks.reconcile --payouts 1000000    # one size (several may follow --payouts)

Each size runs in a process of its own, so each peak RSS is that size's. Per size: generate both
sides (`benchmarks.plant`), then reconcile as `finance.reconcile` does: list the provider objects
into the DuckDB spool through `provider_line` (plain JSON, as the real run reads Stripe's list
pages; the benchmark says how many pages of 100 that is), load the ledger rows from SQLite beside
them, then the matching step: the plain pairs counted by a DuckDB join (`finance.pairs`), the
rest judged by `match`, every finding tallied; then the discrepancies stored. Then the same two
data sets through the yardstick, one DuckDB FULL OUTER JOIN classifying every finding
(`benchmarks.duckdb_join`, its own process), timed in the same run. Peaks are the kernel's RSS
high-water mark, reset at the start of each phase (`benchmarks.memory`).

Exits non-zero if a planted discrepancy is missed, a false one appears, the matched and
no-money-moved counts are off, DuckDB classifies differently, or (over several sizes) the
matching step's peak grows by more than a quarter.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy import create_engine, insert

from activities.reconciliation import finding_row
from benchmarks.memory import Meter
from benchmarks.plant import generate
from finance.ledger import ledger_batches
from finance.lines import provider_line
from finance.matching import DISCREPANCIES, Kind, match
from finance.pairs import load_ledger, settle
from finance.reconcile import PAGE
from finance.spool import ProviderSpool
from schema import tables

ROOT = Path(__file__).resolve().parent.parent
FLAT_TOLERANCE = 1.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reconcile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--payouts", type=int, nargs="+", default=[100_000, 1_000_000], metavar="N")
    parser.add_argument("--per-kind", type=int, default=100, help="discrepancies planted of each kind (100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temporary folder)")
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)  # set for the per-size child
    args = parser.parse_args(argv)
    if args.result is not None:
        return _one_size(args)
    return _every_size(args)


def _every_size(args) -> int:
    results, failed = [], False
    for n in args.payouts:
        with tempfile.TemporaryDirectory() as tmp:
            result_path = Path(tmp) / "result.json"
            command = [sys.executable, "-m", "benchmarks.reconcile", "--payouts", str(n), "--result", str(result_path)]
            command += ["--per-kind", str(args.per_kind), "--seed", str(args.seed)]
            if args.workdir:
                command += ["--workdir", str(args.workdir / str(n))]
            code = subprocess.run(command, cwd=ROOT).returncode
            if code != 0 or not result_path.exists():
                print(f"{n:,} payouts: the run failed (exit {code})")
                failed = True
                continue
            results.append(json.loads(result_path.read_text()))
    if len(results) > 1:
        failed |= not _print_summary(results)
    return 1 if failed else 0


def _print_summary(results: list[dict]) -> bool:
    print("\n== summary ==")
    header = [("payouts", 10), ("reconcile", 10), ("peak RSS", 9), ("match", 8), ("match peak", 11)]
    header += [("DuckDB join", 12), ("ratio", 6), ("list pages", 11)]
    print(" ".join(f"{name:>{width}}" for name, width in header))
    for r in results:
        print(
            f"{r['payouts']:>10,} {r['reconcile_s']:>9.1f}s {r['peak_mib']:>6.0f} MB {r['match_s']:>7.2f}s "
            f"{r['match_peak_mib']:>8.0f} MB {r['duckdb']['join_s']:>11.3f}s {r['ratio']:>5.2f}x {r['pages']:>11,}"
        )
    small, large = results[0], results[-1]
    growth = large["match_peak_mib"] / small["match_peak_mib"]
    whole = large["peak_mib"] / small["peak_mib"]
    flat = growth <= FLAT_TOLERANCE
    print(
        f"memory from {small['payouts']:,} to {large['payouts']:,} payouts: matching step peak x{growth:.2f}, "
        f"whole run peak x{whole:.2f} -> {'flat' if flat else 'NOT FLAT'} (tolerance x{FLAT_TOLERANCE})"
    )
    return flat


def _one_size(args) -> int:
    n = args.payouts[0]
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return _measure(n, args.workdir, args)
    with tempfile.TemporaryDirectory() as tmp:
        return _measure(n, Path(tmp), args)


def _measure(n: int, workdir: Path, args) -> int:
    meter = Meter()
    db_path, jsonl_path = workdir / "ledger.db", workdir / "provider.jsonl"
    for path in (db_path, jsonl_path):
        path.unlink(missing_ok=True)
    print(f"\n== {n:,} payouts (seed {args.seed}, {args.per_kind} planted of each kind) ==")
    print("peak RSS: the kernel's high-water mark for this process, reset at the start of each phase", flush=True)

    with meter.phase("generate") as generating:
        manifest = generate(n, db_path, jsonl_path, per_kind=args.per_kind, seed=args.seed)
    _phase_line(generating, f"{n:,} ledger rows into SQLite, {manifest.provider_objects:,} Stripe objects to JSONL")

    engine = create_engine(f"sqlite:///{db_path}")
    start, end = manifest.period
    objects: Counter = Counter()
    with ProviderSpool() as spool:
        with meter.phase("list+spool") as listing:
            spool.extend(provider_line(obj) for obj in _listed(jsonl_path, objects))
        _phase_line(listing, "provider objects read, provider_line() built, spooled to Parquet through Arrow")

        with meter.phase("ledger") as loading, engine.connect() as conn:
            load_ledger(spool, ledger_batches(conn, start, end))
        _phase_line(loading, "ledger rows read from SQLite, spooled to Parquet through Arrow")

        with meter.phase("match") as matching:
            rest = settle(spool, manifest.period)
            counts: Counter = Counter({Kind.matched: rest.plain})
            found, rows = set(), []
            for finding in match(rest.ledger, rest.provider, period=manifest.period):
                counts[finding.kind] += 1
                if finding.kind in DISCREPANCIES:
                    found.add((finding.kind.value, finding.key, finding.provider and finding.provider.object_id))
                    rows.append(finding_row("benchmark", finding))
        judged = sum(counts.values()) - rest.plain
        _phase_line(matching, f"plain pairs counted by a DuckDB join, the other {judged:,} findings by match()")

    with meter.phase("store") as storing, engine.begin() as conn:
        conn.execute(insert(tables.ReconciliationFinding), rows)
    _phase_line(storing, f"{len(rows):,} discrepancies stored")
    engine.dispose()
    reconcile_s = sum(phase.seconds for phase in (listing, loading, matching, storing))
    pages = sum(-(-count // PAGE) for count in objects.values())
    print(
        f"{'reconcile':<12} {reconcile_s:8.2f} s   list+spool, ledger, match, store (goal: at most 15 s); a real "
        f"Stripe account lists these {sum(objects.values()):,} objects in {pages:,} pages of {PAGE} "
        f"({', '.join(f'{count:,} {kind}s' for kind, count in sorted(objects.items()))})"
    )
    total_s, peak_mib = meter.elapsed(), meter.process_peak_mib()
    print(f"{'whole run':<12} {total_s:8.2f} s   peak RSS {peak_mib:6.0f} MB   (generate, then the reconciliation)")

    duck = _duckdb(db_path, jsonl_path)
    ratio = matching.seconds / duck["join_s"]
    print(
        f"{'DuckDB':<12} {duck['join_s']:8.3f} s   FULL OUTER JOIN + classification, materialised "
        f"({duck['threads']} threads, DuckDB {duck['version']}; load {duck['load_s']:.1f} s after a "
        f"{duck['export_s']:.1f} s CSV export of the ledger; its process peak {duck['peak_rss_mib']:.0f} MB)"
    )
    print(f"{'ratio':<12} {ratio:8.2f} x   matching step time / DuckDB join time (goal: at most 1.0x)")

    ok = _report(manifest, counts, found, duck)
    result = {
        "payouts": n,
        "total_s": total_s,
        "reconcile_s": reconcile_s,
        "pages": pages,
        "peak_mib": peak_mib,
        "match_s": matching.seconds,
        "match_peak_mib": matching.peak_mib,
        "duckdb": {k: v for k, v in duck.items() if k != "discrepancies"},
        "ratio": ratio,
        "ok": ok,
        "phases": [vars(phase) for phase in meter.phases],
    }
    args.result.write_text(json.dumps(result, default=str))
    return 0 if ok else 1


def _listed(jsonl_path: Path, objects: Counter) -> Iterator[dict]:
    """The provider objects as a listing hands them over, counted by kind: `raw_request` parses each
    list page's body, `PAGE` objects, as one JSON document, so they are parsed here a page at a time."""
    with open(jsonl_path) as rows:
        while page := list(islice(rows, PAGE)):
            for obj in json.loads(f'{{"object":"list","data":[{",".join(page)}],"has_more":true}}')["data"]:
                objects[obj["object"]] += 1
                yield obj


def _phase_line(phase, what: str) -> None:
    own = "" if phase.own_peak else " (process peak so far)"
    print(
        f"{phase.name:<12} {phase.seconds:8.2f} s   peak RSS {phase.peak_mib:6.0f} MB{own}"
        f" (+{phase.peak_mib - phase.start_mib:.0f} over its start)   {what}",
        flush=True,
    )


def _duckdb(db_path: Path, jsonl_path: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.duckdb_join", str(db_path), str(jsonl_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks.duckdb_join failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def _report(manifest, counts: Counter, found: set, duck: dict) -> bool:
    expected = manifest.expected
    planted = manifest.planted_per_kind()
    found_per_kind = Counter(kind for kind, _key, _oid in found)
    missed, false = expected - found, found - expected
    duck_found = {tuple(row) for row in duck["discrepancies"]}
    print(f"\n{'kind':<22}{'planted':>9}{'found':>9}{'missed':>8}{'false':>7}{'DuckDB':>9}")
    for kind in sorted(DISCREPANCIES):
        print(
            f"{kind.value:<22}{planted[kind.value]:>9,}{found_per_kind[kind.value]:>9,}"
            f"{sum(k == kind for k, _, _ in missed):>8}{sum(k == kind for k, _, _ in false):>7}"
            f"{duck['counts'].get(kind.value, 0):>9,}"
        )
    for kind, want in (
        (Kind.matched, manifest.expected_matched),
        (Kind.no_money_moved, manifest.expected_no_money_moved),
    ):
        print(f"{kind.value:<22}{want:>9,}{counts[kind]:>9,}{'':>15}{duck['counts'].get(kind.value, 0):>9,}")
    ours = {kind.value: count for kind, count in counts.items()}
    checks = {
        "every planted discrepancy found": not missed,
        "no false discrepancy": not false,
        "matched and no_money_moved as expected": counts[Kind.matched] == manifest.expected_matched
        and counts[Kind.no_money_moved] == manifest.expected_no_money_moved,
        "DuckDB classifies the same": duck["counts"] == ours and duck_found == found,
    }
    for what, passed in checks.items():
        print(f"{'ok  ' if passed else 'FAIL'} {what}")
    for kind, key, oid in sorted(missed, key=str)[:10]:
        print(f"     missed {kind} {key} {oid}")
    for kind, key, oid in sorted(false, key=str)[:10]:
        print(f"     false  {kind} {key} {oid}")
    return all(checks.values())


if __name__ == "__main__":
    sys.exit(main())
