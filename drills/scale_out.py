"""Scale-out as an operator runs it: every claim paid once through two APIs and three workers, one SIGKILLed.

The topology of the README's "Running on a cluster", each part a process of its own started with only
the variables documented there: one Temporal dev server, one Stripe stub, a fresh PostgreSQL database,
two `guarantee api` and three `guarantee worker`, each with a GUARANTEE_HOME of its own as on separate
hosts, all started at once on the empty database. The drill's own process is a client: it makes the
people, then walks every claim through the HTTP API (open, an evidence file, complete, decide,
approve), each step through one API or the other in turn, while one worker is SIGKILLed midway and
started again. When all are paid, each claim is checked against the provider's objects and the
ledger, and a reconciliation of the day, started through the API, must find nothing.

    python -m drills.scale_out --claims 300
"""

import argparse
import asyncio
import datetime as dt
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import make_url

from drills.payout_faults import Report, StubServer, TemporalServer, _spawn, _statuses, _stop, _until, verify
from schema.claims import PayoutDetails
from schema.database import make_engine, make_sessions, migrate
from schema.enums import ClaimStatus, Role
from service.users import add_user
from stack.config import STUB_API_KEY
from stack.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
GUARANTEE = Path(sys.executable).parent / "guarantee"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
READY_S = 120.0


@dataclass
class Cluster:
    apis: list[str]
    workers: list[subprocess.Popen]
    reconciliation: dict | None = None


def _new_database(server: str) -> str:
    """A fresh database on the PostgreSQL server at `server`; its URL."""
    name = f"scale_out_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop_database(server: str, url: str) -> None:
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _guarantee(command: str, env: dict, log: Path) -> subprocess.Popen:
    return _spawn([str(GUARANTEE), command], log, cwd=ROOT, env=env, start_new_session=True)


async def _api_url(proc: subprocess.Popen, log: Path) -> str:
    """The address `guarantee api` printed, once it answers there."""
    deadline = time.monotonic() + READY_S
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"`guarantee api` exited: see {log}")
            for line in log.read_text().splitlines():
                if line.startswith("  API "):
                    url = line.split()[1]
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        return url
            await asyncio.sleep(0.2)
    raise RuntimeError(f"`guarantee api` not ready in {READY_S:.0f} s: see {log}")


async def _call(http: httpx.AsyncClient, method: str, url: str, token: str, **request) -> dict:
    r = await http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **request)
    if r.status_code >= 300:
        raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:300]}")
    return r.json()


async def _walk(http, apis: list[str], tokens: dict, n: int, amount: int, account: str) -> str:
    """One claim from opening to approval, its steps through the APIs in turn; its id."""
    specialist, lead = tokens[Role.specialist], tokens[Role.lead]
    tag = uuid.uuid4().hex[:8]
    body = {
        "customer_id": f"cus_{tag}",
        "pro_id": f"pro_{tag}",
        "project_id": f"prj_{tag}",
        "type": "property_damage",
        "amount_cents": amount,
        "currency": "USD",
        "incident_date": dt.date.today().isoformat(),
        "channel": "phone",
        "description": "scale-out drill claim",
        "payout": {"method": "transfer", "account_id": account},
    }

    def api(step: int) -> str:
        return apis[(n + step) % len(apis)]

    claim = await _call(http, "POST", f"{api(0)}/claims", specialist, json=body)
    path = f"/claims/{claim['id']}"
    form = {"kind": "photo", "source": "customer"}
    photo = {"file": (f"{tag}.jpg", secrets.token_bytes(2048), "image/jpeg")}
    await _call(http, "POST", f"{api(1)}{path}/evidence", specialist, data=form, files=photo)
    await _call(http, "POST", f"{api(2)}{path}/evidence/complete", specialist)
    decision = {"outcome": "approve", "amount_cents": amount, "rationale": "drill"}
    await _call(http, "POST", f"{api(3)}{path}/decision", specialist, json=decision)
    await _call(http, "POST", f"{api(4)}{path}/approval", lead, json={"verdict": "approve"})
    return claim["id"]


async def _reconcile(http, api: str, token: str) -> dict:
    """A reconciliation of today (UTC), through the API, once it is done."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    run = await _call(http, "POST", f"{api}/reconciliations", token, json={"from": today, "to": today})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        view = await _call(http, "GET", f"{api}/reconciliations/{run['id']}", token, params={"limit": 20})
        if view["status"] != "running":
            return view
        await asyncio.sleep(0.5)
    raise RuntimeError(f"reconciliation {run['id']} not done in 300 s")


async def run(claims: int, *, work: Path, database_url: str, kill_at: float = 0.3) -> tuple[Report, Cluster]:
    """The drill in `work`, on the empty PostgreSQL database `database_url`; one worker SIGKILLed once
    `kill_at` of the claims are approved."""
    report = Report(claims=claims, database="postgresql")
    started = time.monotonic()
    codec_keys = f"drill:{secrets.token_urlsafe(32)}"
    (work / "codec-keys").write_text(codec_keys + "\n")  # the dev server's client reads them there
    stub = StubServer(work / "stripe-stub.json", work / "stripe-stub.log")
    temporal = TemporalServer(work / "temporal.db", work / "temporal.log")
    shared = {  # the README's variables, the same for every process
        "TEMPORAL_ADDRESS": temporal.address,
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": stub.url,
        "STRIPE_API_KEY": STUB_API_KEY,
        "GUARANTEE_CODEC_KEYS": codec_keys,
        "GUARANTEE_SIGNING_KEY": secrets.token_urlsafe(32),
        "GUARANTEE_AUDIT_KEY": secrets.token_urlsafe(32),
        "GUARANTEE_TEMPORAL_METRICS_PORT": "off",
        "GUARANTEE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    drop = ("GUARANTEE_", "TEMPORAL_", "DATABASE_URL", "STRIPE_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(drop)} | shared
    procs: list[subprocess.Popen] = []
    engine = None

    def env(name: str, **more: str) -> dict:
        return base | {"GUARANTEE_HOME": str(work / name)} | more

    try:
        stub.start()
        temporal.start()
        await temporal.wait_ready()
        api_logs = [work / f"api-{n}.log" for n in range(2)]
        apis = [
            _guarantee("api", env(f"api-{n}", GUARANTEE_API_PORT=str(free_port()), GUARANTEE_SMTP_PORT="0"), log)
            for n, log in enumerate(api_logs)
        ]
        workers = [_guarantee("worker", env(f"worker-{n}"), work / f"worker-{n}.log") for n in range(3)]
        procs += apis + workers
        urls = [await _api_url(proc, log) for proc, log in zip(apis, api_logs, strict=True)]
        cluster = Cluster(urls, workers)
        migrate(database_url)  # at the newest schema already: the processes did it
        engine = make_engine(database_url)
        sessions = make_sessions(engine)
        roles = (Role.specialist, Role.lead, Role.finance)
        tokens = {r: add_user(sessions, f"drill-{r.value}-{uuid.uuid4().hex[:6]}", r)[1] for r in roles}

        amounts, payouts = {}, {}
        gate = asyncio.Semaphore(8)
        approved = 0

        async with httpx.AsyncClient(timeout=60) as http:

            async def claim(n: int) -> None:
                nonlocal approved
                amount, account = 100 + n * 37 % 240_000, f"acct_drill{n}"
                async with gate:
                    claim_id = await _walk(http, urls, tokens, n, amount, account)
                amounts[claim_id] = amount
                payouts[claim_id] = PayoutDetails(method="transfer", account_id=account)
                approved += 1

            async def kill_one() -> None:
                """SIGKILL a worker once a share of the claims is approved, and start it again."""
                await _until(lambda: approved >= claims * kill_at, 600)
                os.killpg(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
                report.worker_kills += 1
                workers.append(_guarantee("worker", env("worker-0"), work / "worker-0.log"))
                procs.append(workers[-1])

            await asyncio.gather(kill_one(), *(claim(n) for n in range(claims)))

            def all_paid() -> bool:
                return _statuses(sessions, list(amounts)).get(ClaimStatus.paid, 0) == claims

            await _until(all_paid, 600)
            verify(sessions, stub.url, payouts, amounts, report)
            cluster.reconciliation = await _reconcile(http, urls[1], tokens[Role.finance])
    finally:
        for proc in procs:
            _stop(proc)
        temporal.stop()
        stub.stop()
        if engine is not None:
            engine.dispose()
        report.seconds = time.monotonic() - started
    return report, cluster


def passed(report: Report, cluster: Cluster) -> bool:
    done = cluster.reconciliation or {}
    return report.ok and report.worker_kills == 1 and done.get("status") == "done" and done.get("discrepancies") == 0


def lines(report: Report, cluster: Cluster) -> list[str]:
    done = cluster.reconciliation or {}
    result = "every claim paid exactly once, reconciliation clean" if passed(report, cluster) else "FAILED"
    return [
        f"claims approved        {report.claims}, through {len(cluster.apis)} APIs, by 3 workers",
        f"paid exactly once      {report.paid_once}",
        f"paid more than once    {len(report.paid_twice)} {report.paid_twice[:5]}",
        f"stuck (not paid)       {len(report.stuck)} {report.stuck[:5]}",
        f"ledger/provider differ {len(report.mismatched)} {report.mismatched[:5]}",
        f"ledger total           {report.ledger_cents} cents",
        f"provider total         {report.provider_cents} cents",
        f"worker SIGKILLs        {report.worker_kills}",
        f"reconciliation         {done.get('status')}, {done.get('discrepancies')} discrepancies",
        f"took                   {report.seconds:.1f} s",
        f"RESULT                 {result}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m drills.scale_out", description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--pg", default=PG, help=f"the PostgreSQL server to make a fresh database on (default {PG})")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, state)")
    args = parser.parse_args()
    if args.claims < 1:
        parser.error("--claims: at least 1")
    work = Path(tempfile.mkdtemp(prefix="scale-out-drill-"))
    database_url = _new_database(args.pg)
    try:
        report, cluster = asyncio.run(run(args.claims, work=work, database_url=database_url))
    finally:
        _drop_database(args.pg, database_url)
    print("\n".join(lines(report, cluster)))
    if args.keep:
        print(f"logs and state in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if passed(report, cluster) else 1)


if __name__ == "__main__":
    main()
