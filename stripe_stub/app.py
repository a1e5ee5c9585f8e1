"""The HTTP routes: Stripe's /v1 subset, and the /_stub admin routes (see `admin`).

Every /v1 request goes: API key check (401) -> injected 500/429, if any -> parameters decoded
from the query (GET) or the form body (POST) -> the operation, POSTs under the idempotency rules
-> for a transfer or refund just created, its answer withheld, if the faults say so (a timeout,
a planned drop or hold). Transfer and refund creations count as in flight until answered.

    POST /v1/transfers            GET /v1/transfers[/{id}]
    POST /v1/refunds              GET /v1/refunds[/{id}]
    POST /v1/charges              GET /v1/charges[/{id}]
    GET  /v1/balance_transactions[/{id}]
    GET  /v1/balance
"""

import asyncio
import logging
import os
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from stack.config import STUB_API_KEY
from stripe_stub import admin, auth, errors, forms, idempotency, listing, objects, operations
from stripe_stub.errors import StripeError
from stripe_stub.faults import FaultConfig, Timeout
from stripe_stub.idempotency import Outcome
from stripe_stub.stub import Stub

log = logging.getLogger("stripe_stub")

API_VERSION = "2026-10-28.endive"  # answered when the request names none
_LIST_FILTERS = {
    "transfers": {"destination": "destination", "transfer_group": "transfer_group"},
    "refunds": {"charge": "charge", "payment_intent": "payment_intent"},
    "charges": {"customer": "customer", "payment_intent": "payment_intent", "transfer_group": "transfer_group"},
    "balance_transactions": {"currency": "currency", "source": "source", "type": "type", "payout": "payout"},
}
_CREATE = {
    "transfers": operations.create_transfer,
    "refunds": operations.create_refund,
    "charges": operations.create_charge,
}
_MONEY_LEAVES = {"transfers", "refunds"}  # creations whose answer faults may withhold


def create_app(
    state_path: str | os.PathLike,
    *,
    initial_balance: dict[str, int] | None = None,
    faults: FaultConfig | dict | None = None,
    idempotency_ttl: float = idempotency.DEFAULT_TTL,
    api_key: str = STUB_API_KEY,
) -> FastAPI:
    """The stub's ASGI app, its state in `state_path` (created with `initial_balance` if new);
    `api_key` is the key its admin routes need (see `admin`)."""
    stub = Stub.open(
        state_path, initial_balance=initial_balance, faults=faults, idempotency_ttl=idempotency_ttl, api_key=api_key
    )
    app = FastAPI(title="Stripe stub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.stub = stub

    for kind in _CREATE:
        app.add_api_route(f"/v1/{kind}", _create_route(kind), methods=["POST"], name=f"create_{kind}")
    for kind in _LIST_FILTERS:
        app.add_api_route(f"/v1/{kind}", _list_route(kind), methods=["GET"], name=f"list_{kind}")
        app.add_api_route(f"/v1/{kind}/{{id}}", _retrieve_route(kind), methods=["GET"], name=f"retrieve_{kind}")
    app.add_api_route("/v1/transfers/{id}/reversals", _reverse, methods=["POST"], name="create_transfer_reversal")
    app.add_api_route("/v1/balance", _balance, methods=["GET"], name="balance")
    app.include_router(admin.router)
    app.add_api_route(
        "/{path:path}", _unrecognized, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    return app


def _stub(request: Request) -> Stub:
    return request.app.state.stub


def _create_route(kind: str):
    async def endpoint(request: Request) -> Response:
        return await _create(request, kind)

    return endpoint


def _list_route(kind: str):
    async def endpoint(request: Request) -> Response:
        return await _list(request, kind)

    return endpoint


def _retrieve_route(kind: str):
    async def endpoint(request: Request, id: str) -> Response:
        return await _retrieve(request, kind, id)

    return endpoint


async def _create(request: Request, kind: str) -> Response:
    if kind not in _MONEY_LEAVES:
        return await _idempotent(request, _CREATE[kind])
    with _stub(request).faults.creating():
        return await _idempotent(request, _CREATE[kind], money_leaves=True)


async def _reverse(request: Request, id: str) -> Response:
    return await _idempotent(request, lambda state, params, ctx: operations.reverse_transfer(state, id, params, ctx))


async def _idempotent(request: Request, operation, *, money_leaves: bool = False) -> Response:
    """A POST that changes state, under Stripe's idempotency rules."""

    async def handle(stub: Stub, params: dict, request_id: str) -> Outcome:
        return await run_in_threadpool(
            idempotency.run,
            stub.store,
            key=request.headers.get("idempotency-key"),
            method="POST",
            path=request.url.path,
            params=params,
            request_id=request_id,
            execute=lambda state: operation(state, params, stub.context()),
            ttl=stub.idempotency_ttl,
        )

    return await _call(request, handle, money_leaves=money_leaves)


async def _list(request: Request, kind: str) -> Response:
    def page(stub: Stub, params: dict) -> dict:
        with stub.store.reading() as state:
            return listing.page(
                state[kind],
                params,
                url=f"/v1/{kind}",
                kind=kind.rstrip("s").replace("_", " "),
                filters=_LIST_FILTERS[kind],
            )

    return await _call(request, _reader(page))


async def _retrieve(request: Request, kind: str, id: str) -> Response:
    def one(stub: Stub, params: dict) -> dict:
        _only_expand(params)
        with stub.store.reading() as state:
            return operations.retrieve(state, kind, id)

    return await _call(request, _reader(one))


async def _balance(request: Request) -> Response:
    def read(stub: Stub, params: dict) -> dict:
        _only_expand(params)
        with stub.store.reading() as state:
            return operations.balance(state, stub.faults)

    return await _call(request, _reader(read))


async def _unrecognized(request: Request, path: str) -> Response:
    async def handle(stub: Stub, params: dict, request_id: str) -> Outcome:
        raise errors.unrecognized_url(request.method, request.url.path)

    if not request.url.path.startswith("/v1/"):
        request_id = objects.new_request_id()
        return _error_response(errors.unrecognized_url(request.method, request.url.path), request_id, request)
    return await _call(request, handle)


def _only_expand(params: dict) -> None:
    for name in params:
        if name != "expand":
            raise errors.unknown_param(name)


def _reader(read: Callable[[Stub, dict], dict]):
    async def handle(stub: Stub, params: dict, request_id: str) -> Outcome:
        body = await run_in_threadpool(read, stub, params)
        return Outcome(200, body, request_id)

    return handle


async def _call(request: Request, handle, *, money_leaves: bool = False) -> Response:
    stub = _stub(request)
    request_id = objects.new_request_id()
    try:
        auth.api_key(request.headers.get("authorization"))
        failure = stub.faults.random_failure(request.method)
        if failure == "server_error":
            raise errors.api_error()
        if failure == "rate_limit":
            raise errors.rate_limited()
        if request.method == "POST":
            raw = (await request.body()).decode("utf-8", errors="replace")
        else:
            raw = request.url.query
        params = forms.decode(raw)
        outcome = await handle(stub, params, request_id)
    except StripeError as e:
        return _error_response(e, request_id, request)
    except Exception:
        log.exception("stripe stub: unexpected error on %s %s", request.method, request.url.path)
        return _error_response(errors.api_error(), request_id, request)

    headers = _headers(request, request_id)
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = outcome.request_id
    response = JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
    if money_leaves and outcome.created:
        timeout = stub.faults.after_create()
        if timeout is not None:
            return await _time_out(request, response, timeout)
    return response


def _headers(request: Request, request_id: str) -> dict[str, str]:
    headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("stripe-version") or API_VERSION}
    key = request.headers.get("idempotency-key")
    if request.method == "POST" and key:
        headers["Idempotency-Key"] = key
    return headers


def _error_response(error: StripeError, request_id: str, request: Request) -> Response:
    headers = _headers(request, request_id) | error.headers
    return JSONResponse(error.body(request_id), status_code=error.status, headers=headers)


async def _time_out(request: Request, response: Response, timeout: Timeout) -> Response:
    """The money moved and the result is stored; the client hears of it late, or never."""
    if timeout.mode == "drop" and await _drop_connection(request):
        return response  # the server discards it: the connection is gone
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout.seconds
    while (left := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            _stub(request).faults.abandoned()
            break  # the client gave up waiting: nobody is left to answer
        await asyncio.sleep(min(0.05, left))
    return response


async def _drop_connection(request: Request) -> bool:
    """Close the client's connection without a byte of answer, if the server lets us reach it.

    ASGI has no way to do this; uvicorn's request cycle (the owner of `receive`) holds the
    transport. Without it the caller falls back to delaying the answer.
    """
    transport = getattr(getattr(request.receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "close"):
        return False
    transport.close()
    for _ in range(3):  # let the server notice the disconnection before it tries to answer
        await asyncio.sleep(0)
    return True
