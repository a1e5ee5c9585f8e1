"""The worker: ClaimWorkflow, ReconciliationWorkflow, DigestWorkflow and their activities on `guarantee-claims`.

`python worker.py` (or `guarantee worker`) runs one against the Temporal at TEMPORAL_ADDRESS, the
configured database and the Stripe API at STRIPE_API_BASE; `guarantee up` (up.py) runs one the
same way, as a process of its own beside the API (stack/worker_process.py).
"""

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import uvloop
from sqlalchemy import exc as db_errors
from sqlalchemy import make_url
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.digest import DigestActivities
from activities.mail import MailActivities
from activities.payouts import PayoutActivities
from activities.reconciliation import ReconciliationActivities
from mail.out import MailConfigError, Mailer
from payments.stripe_provider import StripeProvider
from schema.database import make_engine, make_sessions, migrate
from schema.names import TASK_QUEUE
from service.metrics import ActivityTiming
from stack import logs, sandbox, tracing, worker_process
from stack.codec import CodecKeyError
from stack.config import Settings, audit_key, load_settings, signing_key
from stack.config import mailer as configured_mailer
from stack.secrets import private_home
from stack.temporal import TemporalConfigError, connect, ensure_search_attributes, metrics_runtime
from workflows.claim import ClaimWorkflow
from workflows.digest import DigestWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.signed_actions import SignedActions

# Activities are synchronous (database, Stripe SDK): each running one holds a thread, so the pool
# is as large as the number the worker may run at once, as the SDK asks.
MAX_ACTIVITIES = 32
# On shutdown, running activities get this long to finish before they are abandoned (and retried
# by another worker with the same idempotency key).
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


def build_worker(
    client: Client,
    sessions: sessionmaker,
    provider: StripeProvider,
    signing_key: bytes,
    task_queue: str = TASK_QUEUE,
    *,
    audit_key: str,
    mailer: Mailer | None = None,
    digest_to: tuple[str, ...] | None = None,
    max_cached_workflows: int = 1000,
) -> Worker:
    """`audit_key` seals the claims' audit chains (`stack.config.audit_key`); read once, here.

    `mailer` sends the claims' mail; by default as configured (`stack.config.mailer`): SMTP at
    GUARANTEE_SMTP_OUT, else the outbox folder under GUARANTEE_HOME. The weekly digest goes by the same
    mailer to `digest_to` (by default GUARANTEE_DIGEST_TO).

    With `max_cached_workflows` 0 no claim stays in memory: each task replays the claim's history, as after a
    restart, and no task waits on a sticky queue (the time-skipping test server never times those out).
    """
    claims = ClaimActivities(sessions, audit_key)
    mailer = mailer or configured_mailer(load_settings())
    mail = MailActivities(sessions, mailer, signing_key)
    payouts = PayoutActivities(sessions, provider)
    reconciliation = ReconciliationActivities(sessions, provider.client)
    digest = _digest_activities(sessions, mailer, digest_to)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ClaimWorkflow, ReconciliationWorkflow, DigestWorkflow],
        workflow_runner=sandbox.runner(client.data_converter),
        activities=[
            claims.record_event,
            claims.record_events,
            payouts.pay_claim,
            reconciliation.run_reconciliation,
            reconciliation.notify_finance,
            reconciliation.fail_report,
            claims.mark_stuck,
            mail.send_mail,
            digest.build_digest,
            digest.mail_digest,
        ],
        interceptors=[SignedActions(signing_key), ActivityTiming()],
        activity_executor=ThreadPoolExecutor(max_workers=MAX_ACTIVITIES),
        max_concurrent_activities=MAX_ACTIVITIES,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_cached_workflows=max_cached_workflows,
    )


def _digest_activities(sessions: sessionmaker, mailer: Mailer, to: tuple[str, ...] | None) -> DigestActivities:
    from schema.policy import load_policy
    from schema.signals import load_signal_rules
    from service import digests

    policy, rules = load_policy(), load_signal_rules()
    to = load_settings().digest_to if to is None else to
    return DigestActivities(sessions, mailer, lambda week: digests.compose(sessions, policy, rules, week), to)


def stop_event() -> asyncio.Event:
    """Set on the first Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def open_database(settings: Settings, worker: bool = False):
    """The configured database at the newest schema; for a `worker`, its transactions take turns (SQLite).

    One that cannot be reached (down for a restart, a wrong address) ends the process with the reason,
    as Temporal does, not a traceback: whatever supervises it starts it again once the database is back.
    """
    try:
        migrate(settings.database_url)
    except (db_errors.OperationalError, db_errors.InterfaceError) as err:
        reason = " ".join(str(err.orig).split())[:300]
        raise SystemExit(f"error: cannot open the database at {shown(settings.database_url)}: {reason}") from None
    return make_engine(settings.database_url, take_turns=worker)


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def connect_or_exit(settings: Settings, runtime: Runtime | None = None) -> Client:
    try:
        return await connect(settings, runtime)
    except (TemporalConfigError, CodecKeyError) as err:
        raise SystemExit(f"error: {err}") from None
    except RuntimeError as err:
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise SystemExit(f"error: cannot reach Temporal at {settings.temporal_address}: {reason}") from None


async def run_worker() -> None:
    """Only the worker, against the Temporal at TEMPORAL_ADDRESS and the configured database."""
    logs.configure()  # JSON lines unless GUARANTEE_LOG_FORMAT=text
    tracing.configure()  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; else no tracing at all
    settings = load_settings()
    if not settings.temporal_address:
        raise SystemExit(
            "error: TEMPORAL_ADDRESS is not set: a bare worker joins an existing Temporal "
            "(host:port); `guarantee up` runs everything on embedded defaults"
        )
    private_home(settings.home)  # before anything is created: the payload key, evidence files
    stop = stop_event()
    try:
        runtime, temporal_metrics = metrics_runtime()
    except TemporalConfigError as err:
        raise SystemExit(f"error: {err}") from None
    client = await connect_or_exit(settings, runtime)
    await ensure_search_attributes(client, settings.temporal_namespace)
    if not settings.stripe_api_base:
        raise SystemExit("error: STRIPE_API_BASE is not set: a bare worker pays through an existing Stripe API")
    engine = await asyncio.to_thread(open_database, settings, worker=True)
    try:
        provider = StripeProvider(settings.stripe_api_key, settings.stripe_api_base)
        keys = signing_key(settings), audit_key(settings)
        try:
            mail = configured_mailer(settings)
        except MailConfigError as err:
            raise SystemExit(f"error: {err}") from None
        worker = build_worker(client, make_sessions(engine), provider, keys[0], audit_key=keys[1], mailer=mail)
        print(
            f"worker on task queue {worker.config()['task_queue']} at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}), database {shown(settings.database_url)}, "
            f"Temporal metrics {temporal_metrics or 'off'}; Ctrl-C stops it",
            flush=True,
        )
        orphaned = asyncio.create_task(worker_process.stop_when_orphaned(stop))  # under `up`: stops with it
        async with worker:
            await stop.wait()
        orphaned.cancel()
    finally:
        engine.dispose()


def main() -> None:
    uvloop.run(run_worker())


if __name__ == "__main__":
    main()
