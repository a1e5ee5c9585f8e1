"""Running the stub with uvicorn: in a thread, or in the foreground (`python -m stripe_stub`).

    url, stop = start_in_thread("state.json", port=0)    # any free port; url "http://127.0.0.1:PORT"
    client = stripe.StripeClient("sk_test_stub", base_addresses={"api": url})   # /v1: any sk_test_ key
    StubControl(url).reset()                               # /_stub: the stub's own key (`api_key`)
    ...
    stop()

The socket is bound before the server starts, so port 0 picks a free port and the URL is known
(and connectable) as soon as the function returns.
"""

import os
import socket
import threading
from collections.abc import Callable

import uvicorn

from stack.config import STUB_API_KEY
from stack.ports import bind, url_of
from stripe_stub import idempotency
from stripe_stub.app import create_app
from stripe_stub.faults import FaultConfig


def _server(state_path, *, initial_balance, faults, idempotency_ttl, log_level, api_key) -> uvicorn.Server:
    app = create_app(
        state_path, initial_balance=initial_balance, faults=faults, idempotency_ttl=idempotency_ttl, api_key=api_key
    )
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def start_in_thread(
    state_path: str | os.PathLike,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    initial_balance: dict[str, int] | None = None,
    faults: FaultConfig | dict | None = None,
    idempotency_ttl: float = idempotency.DEFAULT_TTL,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
    api_key: str = STUB_API_KEY,
) -> tuple[str, Callable[[], None]]:
    """Serve the stub from a daemon thread; returns its URL and a `stop()` that waits for the end."""
    server = _server(
        state_path,
        initial_balance=initial_balance,
        faults=faults,
        idempotency_ttl=idempotency_ttl,
        log_level=log_level,
        api_key=api_key,
    )
    sock = bind(port, host, or_any=False)
    url = url_of(sock)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # reported by start_in_thread
            failure.append(e)

    thread = threading.Thread(target=run, name=f"stripe-stub {url}", daemon=True)
    thread.start()
    waited = 0.0
    while not server.started:
        if not thread.is_alive() or waited > startup_timeout:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the stripe stub did not start on {url}") from (failure[0] if failure else None)
        thread.join(0.01)
        waited += 0.01

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()

    return url, stop


async def serve(
    state_path: str | os.PathLike,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    initial_balance: dict[str, int] | None = None,
    faults: FaultConfig | dict | None = None,
    idempotency_ttl: float = idempotency.DEFAULT_TTL,
    log_level: str = "warning",
    ready: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
    api_key: str = STUB_API_KEY,
) -> None:
    """Serve the stub in the running event loop until cancelled (or SIGINT/SIGTERM in the main thread).

    `ready(url)` is called once the port is bound; pass `sock` to serve an already bound socket.
    """
    server = _server(
        state_path,
        initial_balance=initial_balance,
        faults=faults,
        idempotency_ttl=idempotency_ttl,
        log_level=log_level,
        api_key=api_key,
    )
    sock = sock or bind(port, host, or_any=False)
    if ready is not None:
        ready(url_of(sock))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
