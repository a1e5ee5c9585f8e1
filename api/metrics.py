"""`GET /metrics` and the request timing behind it.

Timing is a pure ASGI middleware outside every other: it times each HTTP request and labels it by
the route's template (`/claims/{claim_id}`), never the raw path, so a scrape stays small whatever
ids are asked for; a path no route serves is `unmatched`.
"""

import hmac
import os
import time

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from api.gate import bearer_token
from service import metrics

TOKEN_VARIABLE = "GUARANTEE_METRICS_TOKEN"


class Timing:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.timed(scope["method"], route, status, time.perf_counter() - start)


def install(app: FastAPI) -> None:
    app.add_middleware(Timing)  # added last: outermost, so it times the gate and the errors too

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        """Prometheus' text format; with GUARANTEE_METRICS_TOKEN set, only for `Authorization: Bearer` that token."""
        wanted = os.environ.get(TOKEN_VARIABLE)
        if wanted:
            given = bearer_token(request.headers.get("authorization")) or ""
            if not hmac.compare_digest(given.encode(), wanted.encode()):
                raise ApiError(401, "unauthenticated", f"send Authorization: Bearer <the {TOKEN_VARIABLE} token>")
        found = getattr(request.app.state, "metrics", None)
        if found is None:
            found = request.app.state.metrics = metrics.registry(request.app.state.ctx.sessions)
        body = await run_in_threadpool(metrics.exposition, found)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
