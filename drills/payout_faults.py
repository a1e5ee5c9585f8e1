"""Pay many claims while everything fails: prove each is paid exactly once and nothing is lost.

The drill runs the real parts as separate processes: the Temporal dev server (restarted once in
the middle), a worker (killed with SIGKILL at random moments and started again), and the
Stripe-compatible stub answering a share of requests with 500, 429 or a dropped connection after
the money moved. It opens, decides and approves every claim, waits until none is left moving,
and then checks the ledger against the provider's own records, to the cent.

    python -m drills.payout_faults --claims 200        # the full drill (./run drill)
"""

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
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
from sqlalchemy import select
from temporalio.client import Client

from rules.errors import DomainError
from schema import tables
from schema.claims import ApprovalRequest, ClaimOpen, DecisionRequest, EvidenceAdd, PayoutDetails
from schema.database import make_engine, make_sessions, migrate
from schema.enums import ClaimStatus, Role
from schema.policy import load_policy
from service import claims
from service.context import OUTAGES, Context
from service.evidence import EvidenceStore
from service.users import add_user
from stack import search_attributes as sa
from stack.codec import data_converter, load_keys
from stack.config import STUB_API_KEY
from stack.ports import free_port
from stack.temporal import DEV_SERVER
from stripe_stub.control import StubControl
from stripe_stub.server import start_in_thread

FAULTS = {"error_rate": 0.20, "rate_limit_rate": 0.05, "timeout_rate": 0.05, "timeout_mode": "drop"}


@dataclass
class Report:
    claims: int = 0
    paid_once: int = 0
    stuck: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unknown_at_provider: list[str] = field(default_factory=list)
    ledger_cents: int = 0
    provider_cents: int = 0
    worker_kills: int = 0
    server_restarts: int = 0
    faults: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.paid_once == self.claims
            and not (self.stuck or self.paid_twice or self.mismatched or self.unknown_at_provider)
            and self.ledger_cents == self.provider_cents
        )

    def lines(self) -> list[str]:
        return [
            f"claims approved        {self.claims}",
            f"paid exactly once      {self.paid_once}",
            f"paid more than once    {len(self.paid_twice)} {self.paid_twice[:5]}",
            f"stuck (not paid)       {len(self.stuck)} {self.stuck[:5]}",
            f"ledger/provider differ {len(self.mismatched)} {self.mismatched[:5]}",
            f"unknown at provider    {len(self.unknown_at_provider)} {self.unknown_at_provider[:5]}",
            f"ledger total           {self.ledger_cents} cents",
            f"provider total         {self.provider_cents} cents",
            f"worker SIGKILLs        {self.worker_kills}",
            f"Temporal restarts      {self.server_restarts}",
            f"provider faults        {self.faults}",
            f"took                   {self.seconds:.1f} s",
            "RESULT                 " + ("every approved claim paid exactly once" if self.ok else "FAILED"),
        ]


class TemporalServer:
    """The dev server as a process of its own, so the drill can stop and start it on the same file."""

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
        self._proc = subprocess.Popen(self._args, stdout=self._log.open("ab"), stderr=subprocess.STDOUT)

    async def wait_ready(self, seconds: float = 30) -> Client:
        deadline = time.monotonic() + seconds
        while True:
            try:
                return await Client.connect(self.address, data_converter=self.converter)
            except RuntimeError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


class Workers:
    """The worker as a child process, killed with SIGKILL and started again."""

    def __init__(self, env: dict, log: Path):
        self._env, self._log = env, log
        self._proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=self._env, stdout=self._log.open("ab"), stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait()


async def _persist(call, what: str, settled=lambda: False, seconds: float = 300) -> None:
    """Retry a service call through outages; update ids make a repeated call harmless.

    `settled()` says whether a refusal only means the call already took effect earlier.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            await call()
            return
        except DomainError as err:
            if err.code == "invalid_state" and await asyncio.to_thread(settled):
                return
            raise
        except (*OUTAGES, RuntimeError) as err:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: gave up after {seconds} s: {err}") from err
            await asyncio.sleep(0.5)


async def _drive(ctx: Context, people: dict, claim_id: str, amount: int) -> None:
    """One claim from opening to approval, every step safe to repeat."""
    specialist, lead = people["specialist"], people["lead"]
    request = ClaimOpen(
        customer_id=f"cus_{claim_id}",
        pro_id=f"pro_{claim_id}",
        project_id=f"prj_{claim_id}",
        type="property_damage",
        amount_cents=amount,
        currency="USD",
        incident_date=datetime.now(UTC).date(),
        channel="phone",
        description="drill claim",
    )
    details = PayoutDetails(method="transfer", account_id=f"acct_{claim_id}")
    await _persist(lambda: claims.open_claim(ctx, specialist, request, details, claim_id=claim_id), f"open {claim_id}")
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
        await _persist(call, f"{name} {claim_id}", settled=moved_on if name == "approve" else lambda: False)


def _statuses(sessions, claim_ids: list[str]) -> Counter:
    with sessions() as db:
        rows = db.execute(select(tables.Claim.id, tables.Claim.status).where(tables.Claim.id.in_(claim_ids))).all()
    return Counter(status for _, status in rows)


def _verify(sessions, stub_url: str, claim_ids: list[str], amounts: dict[str, int], report: Report) -> None:
    provider = stripe.StripeClient(STUB_API_KEY, base_addresses={"api": stub_url}, max_network_retries=3)
    transfers: dict[str, list] = {}
    known = set(claim_ids)
    for transfer in provider.v1.transfers.list(params={"limit": 100}).auto_paging_iter():
        claim = transfer.metadata.to_dict().get("claim_id")
        if claim in known:
            transfers.setdefault(claim, []).append(transfer)
            report.provider_cents += transfer.amount
    with sessions() as db:
        claims = {c.id: c for c in db.scalars(select(tables.Claim).where(tables.Claim.id.in_(claim_ids)))}
        ledger: dict[str, list] = {}
        for row in db.scalars(select(tables.Payout).where(tables.Payout.claim_id.in_(claim_ids))):
            ledger.setdefault(row.claim_id, []).append(row)
    for claim_id in claim_ids:
        made, rows = transfers.get(claim_id, []), ledger.get(claim_id, [])
        paid_rows = [r for r in rows if r.status == "paid"]
        report.ledger_cents += sum(r.amount_cents for r in paid_rows)
        if claims[claim_id].status != ClaimStatus.paid:
            report.stuck.append(f"{claim_id}:{claims[claim_id].status}")
        if len(made) > 1 or len(paid_rows) > 1:
            report.paid_twice.append(claim_id)
        elif len(made) == 1 and len(paid_rows) == 1:
            if (made[0].id, made[0].amount) != (paid_rows[0].provider_ref, paid_rows[0].amount_cents) or made[
                0
            ].amount != amounts[claim_id]:
                report.mismatched.append(claim_id)
            else:
                report.paid_once += 1
        elif made and not paid_rows:
            report.unknown_at_provider.append(claim_id)


async def run(claims: int, *, kill_every: tuple[float, float] = (2.0, 6.0), seed: int = 7, work: Path) -> Report:
    rng = random.Random(seed)
    report = Report(claims=claims)
    started = time.monotonic()
    database_url = f"sqlite:///{work / 'guarantee.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    people = {
        role: add_user(sessions, f"drill-{role}-{uuid.uuid4().hex[:6]}", Role(role))[0]
        for role in ("specialist", "lead")
    }
    stub_url, stop_stub = start_in_thread(work / "stripe-stub.json")
    stub = StubControl(stub_url)
    stub.faults(seed=seed, **FAULTS)
    temporal = TemporalServer(work / "temporal.db", work / "temporal.log")
    env = os.environ | {
        "TEMPORAL_ADDRESS": temporal.address,
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": stub_url,
        "STRIPE_API_KEY": STUB_API_KEY,
        "GUARANTEE_HOME": str(work),
    }
    workers = Workers(env, work / "worker.log")
    temporal.start()
    try:
        client = await temporal.wait_ready()
        workers.start()
        claim_ids = [uuid.uuid4().hex[:12] for _ in range(claims)]
        amounts = {c: rng.randint(100, 250_000) for c in claim_ids}
        ctx = Context(client=client, sessions=sessions, policy=load_policy(), evidence=EvidenceStore(work / "evidence"))
        gate = asyncio.Semaphore(16)

        async def drive(claim_id: str) -> None:
            async with gate:
                await _drive(ctx, people, claim_id, amounts[claim_id])

        driving = asyncio.gather(*(drive(c) for c in claim_ids))
        chaos_over = asyncio.Event()

        async def chaos() -> None:
            restart_at = time.monotonic() + sum(kill_every)
            while not chaos_over.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(chaos_over.wait(), rng.uniform(*kill_every))
                if chaos_over.is_set():
                    break
                workers.kill()
                if report.server_restarts == 0 and time.monotonic() >= restart_at:
                    temporal.stop()
                    temporal.start()
                    report.server_restarts += 1
                workers.start()

        chaos_task = asyncio.create_task(chaos())
        await driving
        deadline = time.monotonic() + 600
        while _statuses(sessions, claim_ids).get(ClaimStatus.paid, 0) < claims and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        chaos_over.set()
        await chaos_task
        # Whatever is still moving gets a calm minute to settle before it counts as stuck.
        calm = time.monotonic() + 60
        while _statuses(sessions, claim_ids).get(ClaimStatus.paid, 0) < claims and time.monotonic() < calm:
            await asyncio.sleep(0.5)
        report.faults = stub.injected()
        stub.clear_faults()
        _verify(sessions, stub_url, claim_ids, amounts, report)
    finally:
        report.worker_kills = workers.kills
        workers.stop()
        temporal.stop()
        stop_stub()
        engine.dispose()
        report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m drills.payout_faults", description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, databases)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="payout-drill-"))
    report = asyncio.run(run(args.claims, seed=args.seed, work=work))
    print("\n".join(report.lines()))
    if args.keep:
        print(f"logs and state in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
