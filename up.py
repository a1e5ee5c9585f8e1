"""`guarantee up`: Temporal, the Stripe stub and the HTTP API, and a worker as a process of its own beside
them; `guarantee api`: the HTTP API alone, for a cluster whose workers run apart (`guarantee worker`).

`run_up` starts everything on embedded defaults, each part replaceable by configuration
(stack/config.py): the Temporal dev server persisting to GUARANTEE_HOME/temporal.db unless
TEMPORAL_ADDRESS names a cluster, and SQLite under GUARANTEE_HOME unless DATABASE_URL is set.
Both keep their state on disk, so stopping and starting again loses nothing: open claims go on
where they were.
"""

import asyncio
import contextlib
import fcntl
import os
import socket
from pathlib import Path

import uvicorn

from api.app import create_app
from mail.out import MailConfigError
from schema.database import make_sessions
from schema.policy import load_policy
from service.context import Context
from service.digests import ensure_schedule as ensure_digest_schedule
from service.evidence import EvidenceStore
from service.inbox import start_receiver
from service.reconciliations import ensure_schedule
from stack import logs, tracing, worker_process
from stack.config import Settings, audit_key, embedded_stub_key, load_settings, mailer, signing_key
from stack.ports import HOST, bind, free_port
from stack.secrets import private_home
from stack.temporal import (
    METRICS_PORT_VARIABLE,
    TemporalConfigError,
    ensure_search_attributes,
    metrics_runtime,
    start_dev_server,
)
from stripe_stub.server import start_in_thread
from web.app import create_web
from web.site import Site
from worker import connect_or_exit, open_database, shown, stop_event

TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: whoever runs it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve_site(
    ctx: Context, sock: socket.socket, ui_origins: tuple[str, ...] = ()
) -> tuple[ApiServer, asyncio.Task]:
    """The web app and the HTTP API on `sock` in this event loop; returns once it accepts connections."""
    site = Site(create_web(ctx), create_app(ctx, ui_origins=ui_origins))
    config = uvicorn.Config(site, http="httptools", log_level="warning", log_config=None, lifespan="off")  # our logs
    server = ApiServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the HTTP API stopped while starting")
        await asyncio.sleep(0.02)
    return server, task


def check_cluster(settings: Settings, worker: bool) -> None:
    """Refuse what would quietly split a cluster: an API with no Temporal to share, or a worker paying
    through a private stub while the other workers on the same Temporal pay through another provider."""
    if not worker and not settings.temporal_address:
        raise SystemExit(
            "error: TEMPORAL_ADDRESS is not set: `guarantee api` joins an existing Temporal (host:port) whose "
            "workers run apart (`guarantee worker`); `guarantee up` runs everything on embedded defaults"
        )
    if worker and settings.temporal_address and not settings.stripe_api_base:
        raise SystemExit(
            "error: TEMPORAL_ADDRESS is set but STRIPE_API_BASE is not: every worker on a shared Temporal must pay "
            "through the same Stripe API, so set STRIPE_API_BASE (and STRIPE_API_KEY) rather than start a private stub"
        )


def _lock_home(settings: Settings):
    """One `guarantee up` with the embedded dev server per data directory: two dev servers on one Temporal
    file would corrupt it. With TEMPORAL_ADDRESS (and so STRIPE_API_BASE) nothing in the directory is one
    process's alone, and any number of processes share it."""
    lock = open(settings.home / "up.lock", "a+")  # held open until `up` stops
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise SystemExit(
            f"error: {settings.home} is in use by another `guarantee up` ({holder}); stop that first"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


async def run_up(
    port: int | None,
    temporal_port: int | None = None,
    temporal_ui_port: int | None = None,
    smtp_port: int | None = None,
    *,
    worker: bool = True,
) -> None:
    """Temporal (embedded unless TEMPORAL_ADDRESS is set), the worker, the HTTP API and the SMTP receiver,
    until Ctrl-C or SIGTERM. Without `worker` (`guarantee api`): only the HTTP API and the SMTP receiver,
    against the Temporal at TEMPORAL_ADDRESS.

    Ports: the API on `port` (else GUARANTEE_API_PORT, else 8000), the dev server on 7233 and its
    UI on 8233 unless given, the SMTP receiver on `smtp_port` (else GUARANTEE_SMTP_PORT, else 2525);
    whichever is taken (or 0) is replaced by a free one.
    """
    logs.configure()  # JSON lines unless GUARANTEE_LOG_FORMAT=text
    tracing.configure()  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; else no tracing at all
    settings = load_settings()
    check_cluster(settings, worker)
    private_home(settings.home)  # before anything is created: the databases, the keys, the dev server's file
    lock = None if settings.temporal_address else _lock_home(settings)
    stop = stop_event()
    try:
        # The SDK's metrics: one runtime for this process's client; under `up` the worker's process serves them.
        runtime, temporal_metrics = metrics_runtime("off" if worker else None)
    except TemporalConfigError as err:
        raise SystemExit(f"error: {err}") from None
    engine = await asyncio.to_thread(open_database, settings)
    sessions = make_sessions(engine)
    async with contextlib.AsyncExitStack() as cleanup:
        if lock:
            cleanup.callback(lock.close)
        cleanup.callback(engine.dispose)
        # The API's socket first: the dev server's UI is told where the codec endpoint is.
        sock = bind(port if port is not None else settings.api_port)
        sock.set_inheritable(False)  # not into the dev server's process
        cleanup.callback(sock.close)
        api_url = f"http://{HOST}:{sock.getsockname()[1]}"
        ui_origins = settings.temporal_ui_origins
        if settings.temporal_address:
            client = await connect_or_exit(settings, runtime)
            await ensure_search_attributes(client, settings.temporal_namespace)
            temporal, temporal_ui = settings.temporal_address, None
        else:
            temporal_port = free_port(TEMPORAL_PORT if temporal_port is None else temporal_port)
            ui_port = free_port(TEMPORAL_UI_PORT if temporal_ui_port is None else temporal_ui_port)
            env = await start_dev_server(
                settings, temporal_port, ui_port, codec_endpoint=f"{api_url}/codec", runtime=runtime
            )
            cleanup.push_async_callback(env.shutdown)
            client = env.client
            temporal, temporal_ui = f"{HOST}:{temporal_port}", f"http://{HOST}:{ui_port}"
            ui_origins += (temporal_ui, f"http://localhost:{ui_port}")

        keys = signing_key(settings), audit_key(settings)
        worker_lines = []
        if worker:
            worker_lines, temporal_metrics = await _start_worker(cleanup, settings, temporal, api_url)
        await ensure_schedule(client, settings.reconcile_cron)
        await ensure_digest_schedule(client, settings.digest_cron)

        evidence = EvidenceStore(sessions, settings.evidence_dir / "incoming")
        await asyncio.to_thread(evidence.adopt, settings.evidence_dir)  # files earlier versions kept on disk
        ctx = Context(
            client=client,
            sessions=sessions,
            policy=load_policy(),
            evidence=evidence,
            signing_key=keys[0],
            audit_key=keys[1],
            inbound_secret=settings.inbound_secret,
        )
        smtp_sock = bind(smtp_port if smtp_port is not None else settings.smtp_port)
        smtp_sock.set_inheritable(False)
        cleanup.callback(smtp_sock.close)
        smtp = await start_receiver(ctx, smtp_sock)
        cleanup.push_async_callback(smtp.stop)
        server, serving = await serve_site(ctx, sock, ui_origins)
        settings.api_url_file.write_text(api_url + "\n")
        cleanup.callback(_forget, settings.api_url_file, api_url)

        lines = [
            ("Web app", f"{api_url}/  (sign in: `guarantee users set-password NAME`, or `guarantee demo seed`)"),
            ("API", api_url),
            ("API docs", f"{api_url}/docs"),
            ("Temporal", f"{temporal} (namespace {settings.temporal_namespace})"),
        ]
        if temporal_ui:
            lines.append(("Temporal UI", temporal_ui))
        lines.append(("Temporal metrics", temporal_metrics or f"off ({METRICS_PORT_VARIABLE}=off)"))
        inbound = "POST /inbound/email" if settings.inbound_secret else "off (set GUARANTEE_INBOUND_SECRET)"
        lines += [("Mail in", f"smtp://{HOST}:{smtp.port}  (HTTP: {inbound})")]
        lines += worker_lines or [("Worker", "none here: `guarantee worker` runs them")]
        lines += [("data", str(settings.home)), ("database", shown(settings.database_url))]
        print("Guarantee payouts is up." if worker else "Guarantee payouts' API is up.")
        for name, value in lines:
            print(f"  {name:<17} {value}")
        print("Press Ctrl-C to stop. Open claims go on where they were when you start it again.", flush=True)

        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, serving], return_when=asyncio.FIRST_COMPLETED)
        print("Stopping...", flush=True)
        server.should_exit = True
        stopping.cancel()
        await serving
    print("Stopped.", flush=True)


async def _start_worker(
    cleanup, settings: Settings, temporal: str, api_url: str
) -> tuple[list[tuple[str, str]], str | None]:
    """The worker as a process of its own, paying through STRIPE_API_BASE or else a stub started here; what `up`
    prints of it, and where it serves the Temporal SDK's metrics."""
    stripe_base, stripe_key = settings.stripe_api_base, settings.stripe_api_key
    if stripe_base is None:
        stripe_key = embedded_stub_key(settings)  # the stub's admin routes need it: not a key in the source
        stripe_base, stop_stub = await asyncio.to_thread(
            start_in_thread, settings.stripe_stub_state, api_key=stripe_key
        )
        cleanup.callback(stop_stub)
        settings.stub_url_file.write_text(stripe_base + "\n")
        cleanup.callback(_forget, settings.stub_url_file, stripe_base)
    else:
        settings.stub_url_file.unlink(missing_ok=True)
    try:
        mail = mailer(settings, api_url)
    except MailConfigError as err:
        raise SystemExit(f"error: {err}") from None
    env = os.environ | {
        "TEMPORAL_ADDRESS": temporal,
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_API_KEY": stripe_key,
        "DATABASE_URL": settings.database_url,
        "GUARANTEE_PUBLIC_URL": mail.public_url,
    }
    proc, said = await asyncio.to_thread(worker_process.start, env)
    cleanup.push_async_callback(asyncio.to_thread, worker_process.stop, proc)
    stripe = stripe_base if settings.stripe_api_base else f"{stripe_base} (embedded stub)"
    lines = [("Stripe API", stripe), ("Mail out", mail.transport.describe()), ("Worker", f"process {proc.pid}")]
    return lines, worker_process.temporal_metrics(said)


def _forget(url_file: Path, url: str) -> None:
    """Remove an address file on a clean stop, unless another `up` has written its own since."""
    with contextlib.suppress(OSError):
        if url_file.read_text().strip() == url:
            url_file.unlink()
