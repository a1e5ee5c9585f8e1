"""`GET /claims?awaiting=me` and the specialist's queue among 10,000 claims and among 1,000,000, in PostgreSQL.

    python -m benchmarks.queues                       # 10,000 claims and 1,000,000
    python -m benchmarks.queues --sizes 2000 50000    # smaller, for a quick look

A database per size (`queuebench_<random>_<size>`) is created on the PostgreSQL server at GUARANTEE_BENCH_PG
(default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`, trust auth) and dropped at the end
(`--keep` keeps them; `--database URL...` fills empty databases given instead, one per size, and leaves them).
Each is brought to the newest schema with the project's `migrate` and filled by COPY.

The open claims are what a team of 50 specialists carries, the same at every size: 40 each (a fifth of the
smallest size if that is fewer), of 100: 55 in casework (evidence, review, mediation), 30 waiting on an approval
tier (one in 8 opened by the lead, who may not approve them; one in 5 sent back once; half of those at
director-and-finance approved by the director already), 15 approved, paying or with a refused payout. The rest
is history, older and final (paid, denied, withdrawn...), each decided claim with its decision and approval.

After VACUUM ANALYZE, the median of `--repeat` runs (default 100), taken in rounds over the sizes, of: the
lead's and a specialist's `awaiting=me` (the first page, newest first, with its total) through the service
(`service.queries.list_claims`) and over HTTP (`GET /claims?awaiting=me` to the site `up` serves, started in
this process, with a token); and the specialist's home queue (`service.queues.casework`). Every answer is
checked against the backlog as planted. Prints each median, the ratio of the largest size to the smallest, and
whether each is within 20 ms and 1.5x; exits 1 if an answer is wrong (the speed is reported, not enforced).
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import uvloop
from sqlalchemy import create_engine, make_url, text

from rules.states import CASEWORK_STATES
from schema.database import make_engine, make_sessions, migrate
from schema.enums import Role
from schema.policy import load_policy
from service import queries, queues
from service.context import Context
from service.evidence import EvidenceStore
from service.users import add_user
from stack.ports import bind
from up import serve_site

SERVER = os.environ.get("GUARANTEE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SPECIALISTS = 50
BACKLOG_EACH = 40
BUDGET_MS = 20.0
RATIO = 1.5
PAGE = 50
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = ("lead", "manager", "director", "director_and_finance")
TIER_ROLE = {"lead": "lead", "manager": "manager", "director": "director", "director_and_finance": "director"}
# Of 100 open claims; and of 100 in the history.
OPEN = {"evidence_collection": 30, "specialist_review": 20, "mediation": 5, "pending_approval": 30}
OPEN |= {"approved": 5, "paying": 5, "payout_failed": 5}
FINAL = {"paid": 60, "denied": 15, "withdrawn": 10, "closed_no_evidence": 10}
FINAL |= {"resolved_by_mediation": 3, "payout_cancelled": 2}
DECIDED = {"pending_approval", "approved", "paying", "payout_failed", "paid", "denied", "payout_cancelled"}
CLAIM_COLUMNS = (
    "id, customer_id, pro_id, project_id, type, status, amount_cents, currency, approved_amount_cents, "
    "incident_date, channel, description, opened_by, opened_at, updated_at, assignee, required_tier, decided_by, "
    "decision_requested_at, policy_version, risk_flags, eligibility_issues, sla_breaches"
)
DECISION_COLUMNS = "claim_id, event_key, round, outcome, amount_cents, reason_code, decided_by, decided_at, rationale"
APPROVAL_COLUMNS = "claim_id, event_key, round, verdict, note, approver_id, approver_role, at"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000], help="claims, increasing")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the databases (their URLs are printed)")
    parser.add_argument("--database", nargs="+", help="empty databases to fill, one per size, instead of new ones")
    args = parser.parse_args(argv)
    if args.sizes != sorted(set(args.sizes)):
        parser.error("--sizes must increase")
    if args.database:
        if len(args.database) != len(args.sizes):
            parser.error("--database needs one database per size")
        return run(args.database, args)
    names = [f"queuebench_{uuid.uuid4().hex[:10]}_{size}" for size in args.sizes]
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [make_url(SERVER).set(database=name).render_as_string(hide_password=False) for name in names]
    try:
        return run(urls, args)
    finally:
        if args.keep:
            print(f"kept: {' '.join(urls)}")
        else:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Team:
    """One database: its people, their tokens, and the claims the benchmark expects in each queue."""

    def __init__(self, url: str):
        migrate(url)
        self.engine = make_engine(url)
        self.sessions = sessions = make_sessions(self.engine)
        self.specialists = [add_user(sessions, f"bench-specialist-{i}", Role.specialist) for i in range(SPECIALISTS)]
        self.lead, self.lead_token = add_user(sessions, "bench-lead", Role.lead)
        self.approvers = {role: add_user(sessions, f"bench-{role}", Role(role))[0] for role in ("manager", "director")}
        self.approvers["lead"] = self.lead
        self.specialist, self.specialist_token = self.specialists[0]
        self.expected: dict[str, list[str]] = {}


def run(urls: list[str], args) -> int:
    """A database per size, the same backlog in each; every way in is then timed in rounds over the sizes, so
    that the machine's load falls on each size alike."""
    teams = []
    try:
        for url, size in zip(urls, args.sizes, strict=True):
            started = time.perf_counter()
            teams.append(team := Team(url))
            backlog = plant_backlog(team, min(SPECIALISTS * BACKLOG_EACH, args.sizes[0] // 5))
            plant_history(team, backlog, size)
            with team.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            print(f"{size:,} claims planted in {time.perf_counter() - started:.1f} s", flush=True)
        # On uvloop, as `up` serves the API.
        report(dict(zip(args.sizes, uvloop.run(measure(teams, args.repeat)), strict=True)))
        return 0
    except WrongAnswer as err:
        print(f"WRONG: {err}")
        return 1
    finally:
        for team in teams:
            team.engine.dispose()


def plant_backlog(team: Team, n: int) -> int:
    """The open claims, newest of all; notes which of them each queue must show."""
    rnd = random.Random(14)
    claims, decisions, approvals = [], [], []
    lead_queue, specialist_queue = [], []
    for i in range(n):
        claim_id, status = f"q{i:07d}", rnd.choices(list(OPEN), list(OPEN.values()))[0]
        by = team.specialists[i % SPECIALISTS][0].user_id
        opened_by = team.lead.user_id if status == "pending_approval" and rnd.randrange(8) == 0 else by
        tier = rnd.choice(TIERS) if status in DECIDED else None
        opened = NOW - timedelta(minutes=10 * i)
        decided = opened + timedelta(hours=2)
        claims.append(_claim(claim_id, i, status, opened_by, by, opened, tier, decided))
        rounds = 2 if status in DECIDED and rnd.randrange(5) == 0 else 1
        if status in DECIDED:
            decisions += [_decision(claim_id, r, by, decided, status) for r in range(1, rounds + 1)]
        if rounds == 2:  # sent back once by the tier's approver
            approvals.append(_approval(claim_id, 1, "send_back", team.approvers[TIER_ROLE[tier]], decided))
        if status == "pending_approval" and tier == "director_and_finance" and rnd.randrange(2) == 0:
            approvals.append(_approval(claim_id, rounds, "approve", team.approvers["director"], decided))
        if status != "pending_approval" and status in DECIDED:
            approvals.append(_approval(claim_id, rounds, "approve", team.approvers[TIER_ROLE[tier]], decided))
        if status == "pending_approval" and tier == "lead" and opened_by != team.lead.user_id:
            lead_queue.append(claim_id)
        if status in CASEWORK_STATES and by == team.specialist.user_id:
            specialist_queue.append(claim_id)
    team.expected = {"lead": lead_queue, "specialist": specialist_queue}  # newest first, as planted
    _copy_all(team.engine, claims, decisions, approvals)
    print(f"{n:,} open claims: {len(lead_queue)} await the lead, {len(specialist_queue)} the specialist")
    return n


def plant_history(team: Team, start: int, stop: int) -> None:
    """Final claims `start`..`stop`, each older than the last: what grows while the backlog stays."""
    statuses = [status for status, weight in FINAL.items() for _ in range(weight)]
    oldest = NOW - timedelta(minutes=10 * SPECIALISTS * BACKLOG_EACH)

    def claims() -> Iterator[tuple]:
        for j in range(start, stop):
            status, by = statuses[j * 37 % 100], team.specialists[j % SPECIALISTS][0].user_id
            opened = oldest - timedelta(minutes=j)
            tier = TIERS[j // SPECIALISTS % 4] if status in DECIDED else None
            yield _claim(f"h{j:08d}", j, status, by, by, opened, tier, opened + timedelta(hours=30))

    def decided() -> Iterator[tuple[str, str, datetime, str, str]]:
        for j in range(start, stop):
            if (status := statuses[j * 37 % 100]) in DECIDED:
                at = oldest - timedelta(minutes=j) + timedelta(hours=30)
                by = team.specialists[j % SPECIALISTS][0].user_id
                yield f"h{j:08d}", status, at, TIERS[j // SPECIALISTS % 4], by

    decisions = (_decision(c, 1, by, at, status) for c, status, at, _, by in decided())
    approver = team.approvers
    approvals = (_approval(c, 1, "approve", approver[TIER_ROLE[tier]], at) for c, _, at, tier, _ in decided())
    _copy_all(team.engine, claims(), decisions, approvals)


def _claim(claim_id, i, status, opened_by, by, opened, tier, decided) -> tuple:
    amount = 5_000 + i * 7919 % 1_500_000
    approved = amount if status in ("approved", "paying", "payout_failed", "paid") else None
    return (
        (claim_id, f"cus_{i}", f"pro_{i % 997}", f"prj_{i}", "property_damage", status, amount, "USD", approved)
        + (opened.date(), "web", "planted", opened_by, opened, decided, by, tier, by if tier else None)
        + (decided if tier else None, "v2", "[]", "[]", "[]")
    )


def _decision(claim_id: str, round: int, by: str, at: datetime, status: str) -> tuple:
    if status == "denied":
        return (claim_id, f"{claim_id}:d{round}", round, "deny", None, "excluded_peril", by, at, "planted")
    return (claim_id, f"{claim_id}:d{round}", round, "approve", 10_000, None, by, at, "planted")


def _approval(claim_id: str, round: int, verdict: str, approver, at: datetime) -> tuple:
    key = f"{claim_id}:a{round}:{approver.role.value}"
    return (claim_id, key, round, verdict, "planted", approver.user_id, approver.role.value, at)


def _copy_all(engine, claims, decisions, approvals) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for target, rows in (
                (f"claims ({CLAIM_COLUMNS})", claims),
                (f"decisions ({DECISION_COLUMNS})", decisions),
                (f"approvals ({APPROVAL_COLUMNS})", approvals),
            ):
                with cur.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


async def measure(teams: list[Team], repeat: int) -> list[dict[str, float]]:
    """The median of each way in at each size, in ms; each answer is checked against the backlog."""
    async with AsyncExitStack() as stack:
        ways = [_ways(team, await stack.enter_async_context(_site(team.sessions))) for team in teams]
        times = [{name: [] for name in named} for named in ways]
        for _ in range(repeat):
            for named, found in zip(ways, times, strict=True):
                for name, (call, want) in named.items():
                    t = time.perf_counter()
                    got = await call()
                    found[name].append(time.perf_counter() - t)
                    _check(name, got, want)
    return [{name: statistics.median(t) * 1000 for name, t in found.items()} for found in times]


def _ways(team: Team, client: httpx.AsyncClient) -> dict[str, tuple[Callable[[], Awaitable], object]]:
    """Each way in, by name: a call, and the answer it must give (the total and the first page, or the queue)."""
    lead, specialist, expected = team.lead, team.specialist, team.expected

    def page(ids: list[str]) -> tuple[int, list[str]]:
        return len(ids), ids[:PAGE]

    async def listed(actor) -> tuple[int, list[str]]:
        found = queries.list_claims(team.sessions, actor=actor, awaiting_me=True, limit=PAGE)
        return found.total, [c.id for c in found.items]

    async def casework() -> list[str]:
        return sorted(w.claim.id for w in queues.casework(team.sessions, specialist))

    async def over_http(token: str) -> tuple[int, list[str]]:
        r = await client.get(
            "/claims", params={"awaiting": "me", "limit": PAGE}, headers={"Authorization": f"Bearer {token}"}
        )
        body = r.json()
        return body["total"], [c["id"] for c in body["items"]]

    return {
        "lead awaiting=me (service)": (lambda: listed(lead), page(expected["lead"])),
        "specialist awaiting=me (service)": (lambda: listed(specialist), page(expected["specialist"])),
        "specialist casework (service)": (casework, sorted(expected["specialist"][: queues.LIMIT])),
        "lead GET /claims?awaiting=me": (lambda: over_http(team.lead_token), page(expected["lead"])),
        "specialist GET /claims?awaiting=me": (lambda: over_http(team.specialist_token), page(expected["specialist"])),
    }


@asynccontextmanager
async def _site(sessions) -> AsyncIterator[httpx.AsyncClient]:
    """The site `up` serves, on a port of its own in this event loop, and a client for it."""
    sock = bind(0)
    with TemporaryDirectory() as tmp:
        ctx = Context(None, sessions, load_policy(), EvidenceStore(sessions, Path(tmp)), b"bench")
        server, serving = await serve_site(ctx, sock)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=60) as client:
                yield client
        finally:
            server.should_exit = True
            await serving
            sock.close()


class WrongAnswer(Exception):
    pass


def _check(name: str, got, want) -> None:
    if got != want:
        raise WrongAnswer(f"{name}: got {str(got)[:300]}, expected {str(want)[:300]}")


def report(results: dict[int, dict[str, float]]) -> None:
    first, last = min(results), max(results)
    print(f"{'median of each, ms':<36}" + "".join(f"{size:>12,}" for size in results) + f"{'ratio':>8}  target")
    for name in results[first]:
        times = [results[size][name] for size in results]
        ratio = results[last][name] / results[first][name]
        ok = results[last][name] <= BUDGET_MS and ratio <= RATIO
        print(f"{name:<36}" + "".join(f"{t:>12.2f}" for t in times) + f"{ratio:>8.2f}  {'yes' if ok else 'NO'}")
    print(f"target: at most {BUDGET_MS:g} ms at {last:,} claims and at most {RATIO:g}x the time at {first:,}")


if __name__ == "__main__":
    sys.exit(main())
