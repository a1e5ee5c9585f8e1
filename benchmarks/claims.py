"""Claims through `guarantee up` against a bare workflow of the same shape, in one run.

    python -m benchmarks.claims                          # 200 claims, 20 at a time
    python -m benchmarks.claims --claims 40 --concurrency 10
    python -m benchmarks.claims --apart                  # `guarantee api` and `guarantee worker` apart

`guarantee up` starts in a fresh GUARANTEE_HOME (SQLite, the embedded Temporal dev server
persisting to a file, the Stripe stub). A specialist and a lead push N claims through its HTTP
API, C at a time: open (with payout details), evidence, complete, decide, approve; each is done
when its workflow ends paid. Then N `BareClaim`s (benchmarks/bare_claim.py: three Updates and six
activities that do nothing), C at a time, on the same dev server, with a worker in this process.
With --apart, the same home is served as on a cluster instead: the dev server, the Stripe stub,
`guarantee api` and `guarantee worker`, each a process of its own, so the API and the worker do not
share one core.

Printed for both: claims per second over the whole run, approval to paid (from sending the
approval to the workflow's end) at p50 and p99, their ratios, and the events in a paid claim's
history; each beside issue 14's goal. Nothing is asserted: the figures are for people.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvloop
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.bare_claim import BareClaim, nothing
from drills.payout_faults import StubServer, TemporalServer, _stop
from stack.codec import data_converter, load_keys
from stack.config import STUB_API_KEY
from stack.ports import free_port

GUARANTEE = Path(sys.executable).parent / "guarantee"
ROOT = Path(__file__).resolve().parent.parent
READY_S = 60.0
GOALS = {"throughput": 0.8, "p50": 1.5, "p99": 2.0, "events": 60}


@dataclass
class Run:
    """One side's figures."""

    name: str
    seconds: float = 0.0
    to_paid: list[float] = field(default_factory=list)  # approval to paid, per claim, in seconds
    events: int = 0  # in one paid claim's history

    @property
    def per_second(self) -> float:
        return len(self.to_paid) / self.seconds

    def percentile(self, share: float) -> float:
        ranked = sorted(self.to_paid)
        return ranked[min(len(ranked) - 1, max(0, round(share * len(ranked)) - 1))]


class Up:
    """`guarantee up` in a fresh home, as a person starts it; stopped with the benchmark."""

    def __init__(self, home: Path):
        self.home = home
        drop = ("GUARANTEE_", "TEMPORAL_", "DATABASE_URL", "STRIPE_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        self.env |= {
            "GUARANTEE_HOME": str(home),
            "GUARANTEE_API_PORT": str(free_port()),
            "GUARANTEE_TEMPORAL_METRICS_PORT": "off",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.log = home.parent / "up.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        return self._serve(["up", "--temporal-port", "0", "--temporal-ui-port", "0"])

    def _serve(self, command: list[str]) -> str:
        """`guarantee <command>` started; the API's address once it answers."""
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [str(GUARANTEE), *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url_file, deadline = self.home / "api-url", time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`guarantee {command[0]}` exited:\n{self.log.read_text()}")
            url = url_file.read_text().strip() if url_file.exists() else ""
            if url and _answers(url):
                return url
            time.sleep(0.1)
        raise RuntimeError(f"`guarantee {command[0]}` not ready in {READY_S:.0f} s:\n{self.log.read_text()}")

    def temporal_address(self) -> str:
        return re.search(r"^  Temporal +(\S+)", self.log.read_text(), re.M).group(1)

    def token(self, name: str, role: str) -> str:
        done = subprocess.run(
            [str(GUARANTEE), "users", "add", name, "--role", role, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)["token"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


class Apart(Up):
    """The same home with each part a process of its own, as on a cluster: the dev server, the Stripe stub,
    `guarantee api` and `guarantee worker`, so the API and the worker each have a core to work on."""

    def __init__(self, home: Path):
        super().__init__(home)
        home.mkdir(parents=True)
        self.temporal = TemporalServer(home / "temporal.db", home.parent / "temporal.log")
        self.stub = StubServer(home.parent / "stripe-stub.json", home.parent / "stub.log")
        self.env |= {
            "TEMPORAL_ADDRESS": self.temporal.address,
            "STRIPE_API_BASE": self.stub.url,
            "STRIPE_API_KEY": STUB_API_KEY,
        }
        self.worker: subprocess.Popen | None = None

    def start(self) -> str:
        self.temporal.start()
        self.stub.start()
        _until_listening(self.temporal.address)
        worker_log = (self.home.parent / "worker.log").open("w")
        self.worker = subprocess.Popen(
            [str(GUARANTEE), "worker"], env=self.env, stdout=worker_log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        return self._serve(["api"])

    def temporal_address(self) -> str:
        return self.temporal.address

    def stop(self) -> None:
        super().stop()
        _stop(self.worker)
        self.stub.stop()
        self.temporal.stop()


def _until_listening(address: str) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the dev server at {address} did not listen in {READY_S:.0f} s")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def product(
    url: str, client: Client, specialist: str, lead: str, n: int, concurrency: int, name: str = "guarantee up"
) -> Run:
    run, gate = Run(name), asyncio.Semaphore(concurrency)
    as_specialist, as_lead = ({"Authorization": f"Bearer {t}"} for t in (specialist, lead))
    today = datetime.now(UTC).date().isoformat()

    async def one(http: httpx.AsyncClient) -> str:
        async with gate:

            async def post(path: str, body: dict | None, headers: dict) -> dict:
                r = await http.post(path, json=body, headers=headers)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
                return r.json()

            tag = uuid.uuid4().hex[:10]
            claim = await post(
                "/claims",
                {
                    "customer_id": f"cus_{tag}",
                    "pro_id": f"pro_{tag}",
                    "project_id": f"prj_{tag}",
                    "type": "property_damage",
                    "amount_cents": 120_000,
                    "currency": "USD",
                    "incident_date": today,
                    "channel": "phone",
                    "description": "the pro cracked the countertop",
                    "payout": {"method": "transfer", "account_id": f"acct_{tag}"},
                },
                as_specialist,
            )
            path = f"/claims/{claim['id']}"
            note = {"kind": "photo", "source": "customer", "note": "a crack across the countertop"}
            await post(f"{path}/evidence", note, as_specialist)
            await post(f"{path}/evidence/complete", None, as_specialist)
            decision = {"outcome": "approve", "amount_cents": 100_000, "rationale": "the quote matches"}
            await post(f"{path}/decision", decision, as_specialist)
            sent = time.monotonic()
            await post(f"{path}/approval", {"verdict": "approve"}, as_lead)
            status = await client.get_workflow_handle(f"claim-{claim['id']}").result()
            if status != "paid":
                raise RuntimeError(f"claim {claim['id']} ended {status}")
            run.to_paid.append(time.monotonic() - sent)
            return claim["id"]

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        started = time.monotonic()
        ids = await asyncio.gather(*(one(http) for _ in range(n)))
        run.seconds = time.monotonic() - started
    run.events = await _events(client, f"claim-{ids[0]}")
    return run


async def bare(client: Client, n: int, concurrency: int) -> Run:
    run, gate, queue = Run("bare workflow"), asyncio.Semaphore(concurrency), f"bare-{uuid.uuid4().hex[:8]}"

    async def one() -> str:
        async with gate:
            handle = await client.start_workflow(BareClaim.run, id=f"bare-{uuid.uuid4().hex}", task_queue=queue)
            await handle.execute_update(BareClaim.complete)
            await handle.execute_update(BareClaim.decide)
            sent = time.monotonic()
            await handle.execute_update(BareClaim.approve)
            await handle.result()
            run.to_paid.append(time.monotonic() - sent)
            return handle.id

    async with Worker(client, task_queue=queue, workflows=[BareClaim], activities=[nothing]):
        started = time.monotonic()
        ids = await asyncio.gather(*(one() for _ in range(n)))
        run.seconds = time.monotonic() - started
    run.events = await _events(client, ids[0])
    return run


async def _events(client: Client, workflow_id: str) -> int:
    return len((await client.get_workflow_handle(workflow_id).fetch_history()).events)


def report(ours: Run, floor: Run) -> list[str]:
    lines = [f"{'':<16}{'claims/s':>10}{'approval→paid p50':>20}{'p99':>10}{'events':>9}"]
    for r in (ours, floor):
        p50, p99 = r.percentile(0.5) * 1000, r.percentile(0.99) * 1000
        lines.append(f"{r.name:<16}{r.per_second:>10.2f}{p50:>18,.0f}ms{p99:>8,.0f}ms{r.events:>9}")
    throughput = ours.per_second / floor.per_second
    p50 = ours.percentile(0.5) / floor.percentile(0.5)
    p99 = ours.percentile(0.99) / floor.percentile(0.99)
    lines.append(f"{'ratio':<16}{throughput:>10.2f}{p50:>19.2f}×{p99:>9.2f}×")
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines += [
        f"goals: claims/s at least {GOALS['throughput']} of the bare workflow's: {verdict(throughput >= 0.8)}; "
        f"approval→paid at most {GOALS['p50']}× at p50: {verdict(p50 <= 1.5)}, {GOALS['p99']}× at p99: "
        f"{verdict(p99 <= 2.0)}; at most {GOALS['events']} events a paid claim: {verdict(ours.events <= 60)}"
    ]
    return lines


async def measure(n: int, concurrency: int, work: Path, apart: bool = False) -> tuple[Run, Run]:
    up = (Apart if apart else Up)(work / "home")
    try:
        url = up.start()
        specialist, lead = up.token("bench-specialist", "specialist"), up.token("bench-lead", "lead")
        client = await Client.connect(up.temporal_address(), data_converter=data_converter(load_keys(up.home)))
        ours = await product(url, client, specialist, lead, n, concurrency, "api + worker" if apart else "guarantee up")
        floor = await bare(client, n, concurrency)
        return ours, floor
    finally:
        up.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--apart", action="store_true", help="the API and the worker as processes of their own, as on a cluster"
    )
    args = parser.parse_args(argv)
    if args.claims < 1 or args.concurrency < 1:
        parser.error("--claims and --concurrency are at least 1")
    with tempfile.TemporaryDirectory(prefix="claims-bench-") as work:
        # On uvloop, as `up` runs: the bare workflow's worker gets the same event loop as the product's.
        ours, floor = uvloop.run(measure(args.claims, args.concurrency, Path(work), args.apart))
    layout = "`guarantee api` and `guarantee worker` apart" if args.apart else "`guarantee up`"
    print(f"{args.claims} claims, {args.concurrency} at a time, through {layout} ({os.cpu_count()} cores)")
    print("\n".join(report(ours, floor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
