"""Pay many claims while everything fails: prove each is paid exactly once and nothing is lost.

What runs where. The drill's own process opens, decides and approves every claim through the
service layer (its Temporal client, the database) and checks the outcome. Three processes of
their own do the rest, each started from this checkout:
- the Temporal dev server, SIGKILLed midway (once, or `--temporal-kills` times, each when its share
  of the claims is approved) and started again on the same database file;
- the worker (`python -m worker`), SIGKILLed at seeded moments, and on purpose while a payout
  waits inside the provider call, then started again;
- the Stripe-compatible stub (`python -m stripe_stub`), answering a seeded share of requests
  (`--fault-rate`, 25%) with 500 or 429, and following a plan drawn from the seed: numbered
  transfers and refunds have their connection cut after the money moved, two are answered only
  10 s after it moved: the worker is SIGKILLed in that wait.
With `--private-postgres` the database is a PostgreSQL cluster of the drill's own (initdb, pg_ctl),
shut down fast and started again once while claims are being approved and paid: the service
calls and the activities in flight meet a dead database and must get through by retrying.
Half the claims are paid by transfer, half by refund of a charge made on the stub first. When
none is left moving, the ledger is checked against the provider's own records, to the cent.

    python -m drills.payout_faults --claims 200        # the full drill (./run drill)
    python -m drills.payout_faults --claims 50 --database-url postgresql+psycopg://postgres@127.0.0.1/db
    python -m drills.payout_faults --claims 1000 --private-postgres --temporal-kills 2 --fault-rate 0.30
"""

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import stripe
from sqlalchemy import exc as db_errors
from sqlalchemy import make_url, select
from temporalio.client import Client

from drills.private_postgres import PrivatePostgres
from rules.errors import DomainError
from schema import tables
from schema.claims import ApprovalRequest, ClaimOpen, DecisionRequest, EvidenceAdd, PayoutDetails
from schema.database import make_engine, make_sessions, migrate
from schema.enums import ClaimStatus, PayoutMethod, Role
from schema.policy import load_policy
from service import claims
from service.context import OUTAGES, Context
from service.evidence import EvidenceStore
from service.users import add_user
from stack import search_attributes as sa
from stack.codec import data_converter, load_keys
from stack.config import STUB_API_KEY
from stack.ports import free_port
from stack.secrets import secret
from stack.temporal import DEV_SERVER
from stripe_stub.control import StubControl

ROOT = Path(__file__).resolve().parents[1]  # the worker and the stub import this checkout
FAULT_RATE = 0.25  # the seeded share of all stub requests that fail: four in five a 500, one in five a 429
HOLD_SECONDS = 10.0  # time to see it and SIGKILL, even on a busy machine; under the provider's 20 s timeout
# How long the private PostgreSQL stays down: several of the drivers' and the activities' retries long.
POSTGRES_DOWN_SECONDS = 5.0
DB_OUTAGES = (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError)


@dataclass
class Report:
    claims: int = 0
    database: str = ""
    transfers_paid: int = 0
    refunds_paid: int = 0
    stuck: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unknown_at_provider: list[str] = field(default_factory=list)
    paid_without_provider_object: list[str] = field(default_factory=list)
    marked_stuck: list[str] = field(default_factory=list)
    ledger_cents: int = 0
    provider_cents: int = 0
    worker_kills: int = 0
    kills_during_payout: int = 0
    server_restarts: int = 0
    temporal_kills_planned: int = 1
    postgres_restarts: int = 0
    postgres_restarts_planned: int = 0
    # Claims not yet paid at each Temporal kill and PostgreSQL restart: none would mean it hit an idle system.
    unpaid_at_disruptions: list[int] = field(default_factory=list)
    database_retries: int = 0  # attempts of the drill's service calls that met the database down (then tried again)
    activity_database_failures: int = 0  # activity attempts the worker logged as failed on the database
    drops_after_money_moved: int = 0
    fault_rate: float = FAULT_RATE
    faults: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def paid_once(self) -> int:
        return self.transfers_paid + self.refunds_paid

    @property
    def ok(self) -> bool:
        failures = [
            self.stuck,
            self.paid_twice,
            self.mismatched,
            self.unknown_at_provider,
            self.paid_without_provider_object,
            self.marked_stuck,
        ]
        return self.paid_once == self.claims and not any(failures) and self.ledger_cents == self.provider_cents

    @property
    def exercised(self) -> bool:
        """Whether the faults the drill exists for happened, as observed; without them a pass proves little."""
        planned = (
            self.server_restarts == self.temporal_kills_planned
            and self.postgres_restarts == self.postgres_restarts_planned
            and all(self.unpaid_at_disruptions)
            and (self.postgres_restarts_planned == 0 or self.activity_database_failures >= 1)
        )
        return planned and self.drops_after_money_moved >= 1 and self.kills_during_payout >= 1

    def lines(self) -> list[str]:
        if not self.ok:
            result = "FAILED"
        elif not self.exercised:
            result = "INCONCLUSIVE: paid, but the planned faults did not all happen"
        else:
            result = "every approved claim paid exactly once"
        return [
            f"database               {self.database}",
            f"claims approved        {self.claims}",
            f"paid exactly once      {self.paid_once} ({self.transfers_paid} transfers, {self.refunds_paid} refunds)",
            f"paid more than once    {len(self.paid_twice)} {self.paid_twice[:5]}",
            f"stuck (not paid)       {len(self.stuck)} {self.stuck[:5]}",
            f"ledger/provider differ {len(self.mismatched)} {self.mismatched[:5]}",
            f"unknown at provider    {len(self.unknown_at_provider)} {self.unknown_at_provider[:5]}",
            f"paid, no such object   {len(self.paid_without_provider_object)} {self.paid_without_provider_object[:5]}",
            f"still marked stuck     {len(self.marked_stuck)} {self.marked_stuck[:5]}",
            f"ledger total           {self.ledger_cents} cents",
            f"provider total         {self.provider_cents} cents",
            f"worker SIGKILLs        {self.worker_kills}, {self.kills_during_payout} inside a provider call",
            f"Temporal SIGKILLs      {self.server_restarts} of {self.temporal_kills_planned} (then started again)",
            f"PostgreSQL restarts    {self.postgres_restarts} of {self.postgres_restarts_planned} (fast shutdown, "
            f"{POSTGRES_DOWN_SECONDS:.0f} s down)",
            f"met the database down  {self.activity_database_failures} activity attempts, "
            f"{self.database_retries} service-call attempts (each tried again)",
            f"claims unpaid then     {self.unpaid_at_disruptions} (at each Temporal kill and PostgreSQL restart)",
            f"dropped after paying   {self.drops_after_money_moved} connections cut after the money moved",
            f"provider faults        {sum(self.faults.values())} at a {self.fault_rate:.0%} rate: {self.faults}",
            f"took                   {self.seconds:.1f} s",
            f"RESULT                 {result}",
        ]


def _spawn(args: list[str], log: Path, stdout=None, **popen) -> subprocess.Popen:
    """A process writing to `log` (its stdout too, unless piped)."""
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out if stdout is None else stdout, stderr=out, **popen)


def _stop(proc: subprocess.Popen | None) -> None:
    """Ask a process to stop (SIGTERM), and SIGKILL it if it has not within 20 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TemporalServer:
    """The dev server as a process of its own, so the drill can kill it and start it on the same file."""

    def __init__(self, db_file: Path, log: Path):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._args = [str(DEV_SERVER), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        self._args += ["--port", str(self.port), "--db-filename", str(db_file), "--log-level", "error"]
        for key in sa.ALL:
            kind = "Int" if key.name == "ClaimAmountCents" else "Keyword"
            self._args += ["--search-attribute", f"{key.name}={kind}"]
        self._log = log
        self._proc: subprocess.Popen | None = None
        # The workers' payload keys: they run with GUARANTEE_HOME set to this folder.
        self.converter = data_converter(load_keys(db_file.parent))

    def start(self) -> None:
        self._proc = _spawn(self._args, self._log)

    async def wait_ready(self, seconds: float = 30) -> Client:
        deadline = time.monotonic() + seconds
        while True:
            try:
                return await Client.connect(self.address, data_converter=self.converter)
            except RuntimeError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when the machine under it dies."""
        self._proc.kill()
        self._proc.wait()

    def stop(self) -> None:
        _stop(self._proc)


class StubServer:
    """The Stripe stub as a process of its own: `python -m stripe_stub --port P --state PATH`."""

    def __init__(self, state: Path, log: Path):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._args = [sys.executable, "-m", "stripe_stub", "--port", str(port), "--state", str(state)]
        self._args += ["--log-level", "warning"]
        self._log = log
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Returns once the stub says it listens (its one line on stdout)."""
        self._proc = _spawn(self._args, self._log, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline()
        if not line.startswith(f"stripe stub listening on {self.url} "):
            self.stop()
            raise RuntimeError(f"the stripe stub did not start: {line!r} (see {self._log})")

    def stop(self) -> None:
        _stop(self._proc)


class Workers:
    """The worker as a child process, killed with SIGKILL and started again."""

    READY = b"worker on task queue"  # what worker.py prints as it starts polling

    def __init__(self, env: dict, log: Path):
        self._env, self.log = env, log
        self._proc: subprocess.Popen | None = None
        self._log_from = 0
        self.kills = 0  # SIGKILLs that found the worker alive

    def start(self) -> None:
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        self._proc = _spawn([sys.executable, "-m", "worker"], self.log, cwd=ROOT, env=self._env)

    def settled(self) -> bool:
        """Whether the worker last started is at work, or has died trying: either way, done starting."""
        with self.log.open("rb") as log:
            log.seek(self._log_from)
            return self.READY in log.read() or self._proc.poll() is not None

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
            self.kills += 1

    def stop(self) -> None:
        _stop(self._proc)


def fault_plan(claims: int, rng: random.Random) -> dict:
    """The stub's numbered faults (each claim is paid by one creation, numbered from 1): two held
    answers in the first half, so the kill they invite costs its 30 s activity timeout early, and
    one creation in twenty (at least two) cut off after the money moved."""
    holds = rng.sample(range(1, claims // 2 + 1), 2)
    drops = rng.sample([n for n in range(1, claims + 1) if n not in holds], max(2, claims // 20))
    return {"drop_creates": sorted(drops), "hold_creates": dict.fromkeys(sorted(holds), HOLD_SECONDS)}


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `event` is set; whether it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    return event.is_set()


async def _until(condition, seconds: float) -> bool:
    """Poll `condition()` until it holds, or `seconds` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _hung_up(stub: StubControl, after: int) -> bool:
    """Whether the stub sees a held answer's client hang up (more than `after` so far) within 10 s."""
    return await _until(lambda: stub.observed()["abandoned"] > after, 10)


async def _persist(call, what: str, report: Report, settled=lambda: False, seconds: float = 300) -> None:
    """Retry a service call through outages; update ids make a repeated call harmless.

    `settled()` says whether a refusal only means the call already took effect earlier; asking it
    reads the database, which may be down too. Retries on a database error are counted in `report`.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            try:
                await call()
            except DomainError as err:
                if err.code != "invalid_state" or not await asyncio.to_thread(settled):
                    raise
            return
        except (*OUTAGES, RuntimeError) as err:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: gave up after {seconds} s: {err}") from err
            report.database_retries += isinstance(err, DB_OUTAGES)
            await asyncio.sleep(0.5)


async def _drive(
    ctx: Context, people: dict, claim_id: str, amount: int, details: PayoutDetails, report: Report
) -> None:
    """One claim from opening to approval, every step safe to repeat; a refund is a money-back claim."""
    specialist, lead = people["specialist"], people["lead"]
    request = ClaimOpen(
        customer_id=f"cus_{claim_id}",
        pro_id=f"pro_{claim_id}",
        project_id=f"prj_{claim_id}",
        type="work_not_done" if details.method == PayoutMethod.refund else "property_damage",
        amount_cents=amount,
        currency="USD",
        incident_date=datetime.now(UTC).date(),
        channel="phone",
        description="drill claim",
    )
    await _persist(
        lambda: claims.open_claim(ctx, specialist, request, details, claim_id=claim_id), f"open {claim_id}", report
    )
    note = EvidenceAdd(kind="note", source="customer", note="x")
    decision = DecisionRequest(outcome="approve", amount_cents=amount, rationale="drill")

    def moved_on() -> bool:
        with ctx.sessions() as db:
            return db.get(tables.Claim, claim_id).status in (ClaimStatus.approved, ClaimStatus.paying, ClaimStatus.paid)

    steps = [
        ("evidence", lambda: claims.add_evidence(ctx, claim_id, specialist, note, update_id=f"{claim_id}-evidence")),
        ("complete", lambda: claims.complete_evidence(ctx, claim_id, specialist, update_id=f"{claim_id}-complete")),
        ("decide", lambda: claims.decide(ctx, claim_id, specialist, decision, update_id=f"{claim_id}-decide")),
        ("approve", lambda: claims.review(ctx, claim_id, lead, ApprovalRequest(verdict="approve"), f"{claim_id}-ok")),
    ]
    for name, call in steps:
        await _persist(call, f"{name} {claim_id}", report, settled=moved_on if name == "approve" else lambda: False)


def database_failures(worker_log: Path) -> int:
    """Activity attempts the worker logged as failed because the database was unreachable or cut them off."""
    names = tuple(f"sqlalchemy.exc.{error.__name__}" for error in DB_OUTAGES)
    with worker_log.open(errors="replace") as lines:
        return sum("Completing activity as failed" in line and any(n in line for n in names) for line in lines)


def _statuses(sessions, claim_ids: list[str]) -> Counter:
    """The claims' statuses, counted; none while the database is down (the drill may have stopped it)."""
    try:
        with sessions() as db:
            query = select(tables.Claim.id, tables.Claim.status).where(tables.Claim.id.in_(claim_ids))
            rows = db.execute(query).all()
    except DB_OUTAGES:
        return Counter()
    return Counter(status for _, status in rows)


def _matches(made, row: tables.Payout, details: PayoutDetails, amount: int) -> bool:
    """The provider's object is the one the ledger row names: the claim's method, destination and amount."""
    destination = made.destination if made.object == "transfer" else made.charge
    expected = (row.provider_ref, amount, details.method.value, details.destination)
    return (made.id, made.amount, made.object, destination) == expected and row.amount_cents == amount


def verify(sessions, stub_url: str, payouts: dict[str, PayoutDetails], amounts: dict[str, int], report: Report):
    """Each claim against the provider's transfers and refunds (found by their claim_id metadata) and the ledger."""
    provider = stripe.StripeClient(STUB_API_KEY, base_addresses={"api": stub_url}, max_network_retries=3)
    every = {}
    for kind in (provider.v1.transfers, provider.v1.refunds):
        every |= {made.id: made for made in kind.list(params={"limit": 100}).auto_paging_iter()}
    made_for: dict[str, list] = {}
    for made in every.values():
        claim = made.metadata.to_dict().get("claim_id")
        if claim in amounts:
            made_for.setdefault(claim, []).append(made)
            report.provider_cents += made.amount
    claim_ids = list(amounts)
    with sessions() as db:
        claims = {c.id: c for c in db.scalars(select(tables.Claim).where(tables.Claim.id.in_(claim_ids)))}
        ledger: dict[str, list] = {}
        for row in db.scalars(select(tables.Payout).where(tables.Payout.claim_id.in_(claim_ids))):
            ledger.setdefault(row.claim_id, []).append(row)
    for claim_id in claim_ids:
        made, rows = made_for.get(claim_id, []), ledger.get(claim_id, [])
        paid_rows = [r for r in rows if r.status == "paid"]
        report.ledger_cents += sum(r.amount_cents for r in paid_rows)
        if claims[claim_id].status != ClaimStatus.paid:
            report.stuck.append(f"{claim_id}:{claims[claim_id].status}")
        if claims[claim_id].stuck_reason is not None:
            report.marked_stuck.append(f"{claim_id}:{claims[claim_id].stuck_reason}")
        report.paid_without_provider_object += [
            f"{claim_id}:{r.provider_ref}" for r in paid_rows if r.provider_ref not in every
        ]
        if len(made) > 1 or len(paid_rows) > 1:
            report.paid_twice.append(claim_id)
        elif len(made) == 1 and len(paid_rows) == 1:
            if not _matches(made[0], paid_rows[0], payouts[claim_id], amounts[claim_id]):
                report.mismatched.append(claim_id)
            elif made[0].object == "refund":
                report.refunds_paid += 1
            else:
                report.transfers_paid += 1
        elif made and not paid_rows:
            report.unknown_at_provider.append(claim_id)


PAST_APPROVAL = frozenset(
    {
        ClaimStatus.approved,
        ClaimStatus.paying,
        ClaimStatus.paid,
        ClaimStatus.payout_failed,
        ClaimStatus.payout_cancelled,
    }
)


def disruption_plan(temporal_kills: int, postgres_restarts: int) -> list[tuple[float, str]]:
    """Each Temporal kill and PostgreSQL restart with the share of the claims approved that sets it off, in order:
    Temporal's spread evenly, PostgreSQL's at 40%, so each finds claims both being approved and being paid."""
    plan = [(k / (temporal_kills + 1), "temporal") for k in range(1, temporal_kills + 1)]
    plan += [(0.4, "postgres")] * postgres_restarts
    return sorted(plan)


async def run(
    claims: int,
    *,
    kill_every: tuple[float, float] = (2.0, 6.0),
    seed: int = 7,
    work: Path,
    database_url: str | None = None,
    private_postgres: bool = False,
    temporal_kills: int = 1,
    fault_rate: float = FAULT_RATE,
) -> Report:
    """The drill in `work` (logs, state files; the SQLite database unless `database_url` names one, or
    `private_postgres` asks for a cluster of the drill's own, restarted once mid-run)."""
    if claims < 4:
        raise ValueError("the fault plan needs at least 4 claims")
    if private_postgres and database_url:
        raise ValueError("a private PostgreSQL cluster and a database URL are two databases: choose one")
    started = time.monotonic()
    report = Report(
        claims=claims,
        database=make_url(database_url or "sqlite://").get_backend_name(),
        temporal_kills_planned=temporal_kills,
        fault_rate=fault_rate,
    )
    if not private_postgres:
        database_url = database_url or f"sqlite:///{work / 'guarantee.db'}"
        return await _drill(report, started, kill_every, seed, work, database_url, cluster=None)
    cluster = PrivatePostgres(work / "postgres.log")
    report.database, report.postgres_restarts_planned = "postgresql (a private cluster)", 1
    try:
        cluster.init()
        cluster.start()
        return await _drill(report, started, kill_every, seed, work, cluster.url, cluster)
    finally:
        cluster.remove()


async def _drill(
    report: Report,
    started: float,
    kill_every: tuple[float, float],
    seed: int,
    work: Path,
    database_url: str,
    cluster: PrivatePostgres | None,
) -> Report:
    """The drill itself, on a database that is there; PostgreSQL is restarted when there is a `cluster`."""
    claims, temporal_kills, fault_rate = report.claims, report.temporal_kills_planned, report.fault_rate
    rng = random.Random(seed)
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    people = {
        role: add_user(sessions, f"drill-{role}-{uuid.uuid4().hex[:6]}", Role(role))[0]
        for role in ("specialist", "lead")
    }
    stub_server = StubServer(work / "stripe-stub.json", work / "stripe-stub.log")
    temporal = TemporalServer(work / "temporal.db", work / "temporal.log")
    env = os.environ | {
        "TEMPORAL_ADDRESS": temporal.address,
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": stub_server.url,
        "STRIPE_API_KEY": STUB_API_KEY,
        "GUARANTEE_HOME": str(work),
    }
    workers = Workers(env, work / "worker.log")
    running: list[asyncio.Future] = []
    try:
        stub_server.start()
        temporal.start()
        client = await temporal.wait_ready()
        stub = StubControl(stub_server.url)
        claim_ids = [uuid.uuid4().hex[:12] for _ in range(claims)]
        amounts = {c: rng.randint(100, 250_000) for c in claim_ids}
        refunded = claim_ids[1::2]
        charges = stub.seed(charges=[{"amount": amounts[c], "currency": "usd"} for c in refunded])["charges"]
        payouts = {c: PayoutDetails(method="transfer", account_id=f"acct_{c}") for c in claim_ids}
        payouts |= {
            c: PayoutDetails(method="refund", charge_id=ch["id"]) for c, ch in zip(refunded, charges, strict=True)
        }
        plan = fault_plan(claims, rng)
        stub.faults(seed=seed, error_rate=fault_rate * 0.8, rate_limit_rate=fault_rate * 0.2, **plan)
        workers.start()
        ctx = Context(
            client=client,
            sessions=sessions,
            policy=load_policy(),
            evidence=EvidenceStore(sessions, work / "evidence"),
            signing_key=secret(work, "GUARANTEE_SIGNING_KEY", "signing-key").encode(),  # the worker's, in its home
        )
        gate = asyncio.Semaphore(16)

        async def drive(claim_id: str) -> None:
            async with gate:
                await _drive(ctx, people, claim_id, amounts[claim_id], payouts[claim_id], report)

        driving = asyncio.gather(*(drive(c) for c in claim_ids))
        chaos_over = asyncio.Event()
        killing = asyncio.Lock()  # one SIGKILL or restart at a time

        async def chaos() -> None:
            """SIGKILL the worker at seeded intervals of its working life (a slow machine's slow starts
            do not eat them)."""
            while True:
                await _until(workers.settled, 60)
                if await _wait(chaos_over, rng.uniform(*kill_every)):
                    return
                async with killing:
                    workers.kill()
                    workers.start()

        async def kill_during_payout() -> None:
            """SIGKILL the worker while the stub holds a payout's answer: the activity is inside the
            provider call, the money has moved, the ledger does not know. Counted once the stub
            sees the held request's client hang up."""
            held = 0
            while held < len(plan["hold_creates"]) and not await _wait(chaos_over, 0.05):
                seen = stub.observed()
                if seen["planned"]["held"] == held or seen["in_flight"] == 0:
                    continue
                held = seen["planned"]["held"]
                async with killing:
                    before = stub.observed()
                    if before["in_flight"] == 0:
                        continue  # answered while the lock was busy
                    workers.kill()
                    workers.start()
                if await _hung_up(stub, after=before["abandoned"]):
                    report.kills_during_payout += 1

        async def disrupt() -> None:
            """SIGKILL Temporal (started again on its file) and restart PostgreSQL (a fast shutdown: every
            session ended, open transactions rolled back), each once its share of the claims is approved."""
            for share, what in disruption_plan(temporal_kills, report.postgres_restarts_planned):
                while sum(_statuses(sessions, claim_ids)[s] for s in PAST_APPROVAL) < share * claims:
                    await asyncio.sleep(0.5)
                async with killing:
                    report.unpaid_at_disruptions.append(claims - _statuses(sessions, claim_ids)[ClaimStatus.paid])
                    if what == "temporal":
                        temporal.kill()
                        temporal.start()
                        await temporal.wait_ready()
                        report.server_restarts += 1
                    else:
                        await _until(workers.settled, 60)  # a worker at work meets the outage, not one starting
                        await asyncio.to_thread(cluster.stop, "fast")
                        await asyncio.sleep(POSTGRES_DOWN_SECONDS)  # the outage itself, not a wait for anything
                        await asyncio.to_thread(cluster.start)
                        report.postgres_restarts += 1

        damage = asyncio.gather(chaos(), kill_during_payout())
        disrupting = asyncio.ensure_future(disrupt())
        running += [driving, damage, disrupting]
        await driving
        await disrupting  # every threshold is reached once all are approved

        def all_paid() -> bool:
            return _statuses(sessions, claim_ids).get(ClaimStatus.paid, 0) == claims

        await _until(all_paid, 600)
        chaos_over.set()
        await damage
        # Whatever is still moving gets a calm minute to settle before it counts as stuck.
        await _until(all_paid, 60)
        observed = stub.observed()
        report.faults = observed["injected"]
        report.drops_after_money_moved = observed["planned"]["dropped"]
        stub.clear_faults()
        verify(sessions, stub_server.url, payouts, amounts, report)
    finally:
        for future in running:  # on a failure or a cancellation: nothing may start a process after this
            future.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        report.worker_kills = workers.kills
        workers.stop()
        if workers.log.exists():
            report.activity_database_failures = database_failures(workers.log)
        temporal.stop()
        stub_server.stop()
        engine.dispose()
        report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m drills.payout_faults", description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=200, help="at least 4")
    parser.add_argument("--seed", type=int, default=7)
    database = parser.add_mutually_exclusive_group()
    database.add_argument("--database-url", help="SQLAlchemy URL (default: a SQLite file in the working folder)")
    database.add_argument(
        "--private-postgres",
        action="store_true",
        help="a PostgreSQL cluster of the drill's own (initdb, pg_ctl), shut down fast and started again mid-run",
    )
    parser.add_argument("--temporal-kills", type=int, default=1, help="Temporal SIGKILLs, each started again")
    parser.add_argument(
        "--fault-rate", type=float, default=FAULT_RATE, help="share of provider requests answered 500 or 429"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, databases)")
    args = parser.parse_args()
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate is a share, from 0 to 1")
    if args.temporal_kills < 0:
        parser.error("--temporal-kills counts kills: 0 or more")
    work = Path(tempfile.mkdtemp(prefix="payout-drill-"))
    report = asyncio.run(
        run(
            args.claims,
            seed=args.seed,
            work=work,
            database_url=args.database_url,
            private_postgres=args.private_postgres,
            temporal_kills=args.temporal_kills,
            fault_rate=args.fault_rate,
        )
    )
    print("\n".join(report.lines()))
    if args.keep:
        print(f"logs and state in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if report.ok and report.exercised else 1)


if __name__ == "__main__":
    main()
