"""The door every request goes through before any route: the token, then a cap on the body.

A pure ASGI middleware, so both are checked before a byte of the body is read: a request without
a valid token on any route that is not public answers 401 and its body is never read (nor
buffered, nor spooled to disk); a body larger than its route takes answers 413, from its
Content-Length before reading, or as soon as the bytes read pass the cap (chunked bodies too).

Raw email from a mail provider (POST /inbound/email) carries no token but the shared secret
`X-Inbound-Secret`, checked here too before a byte is read; with no secret configured the route is off (404).

Public routes: /healthz, the API document (/openapi.json) and its pages (/docs..., /redoc).
Every other path, including paths no route serves and routes added later, needs a token; the codec
routes also take a signed-in web session's cookie, which is what the Temporal UI sends.

The actor found here is kept in the request's state; `api.auth.current_actor` reuses it.
"""

import hmac
import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service import sign_in
from service.context import OUTAGES
from service.evidence import MAX_BYTES as MAX_EVIDENCE_BYTES
from service.inbox import MAX_MESSAGE_BYTES
from service.users import authenticate
from stack.bodies import serve_capped

# /metrics takes no user's token: it is open, or takes its own scrape token (api.metrics).
PUBLIC = frozenset({"/healthz", "/openapi.json", "/docs", "/redoc", "/metrics"})
# Where a web session's cookie counts as much as a token: the codec routes, which the Temporal UI calls
# with the signed-in person's cookie (they only read, and CORS keeps other sites from reading the answer).
SESSION_PATHS = ("/codec/",)
MAX_BODY_BYTES = 1024 * 1024  # a JSON body, on every route
# An evidence upload: the file (at most MAX_EVIDENCE_BYTES, checked exactly as it streams) and
# its form fields (kind, source, a note of at most 10,000 characters) with their boundaries.
MAX_UPLOAD_BYTES = MAX_EVIDENCE_BYTES + 256 * 1024
UPLOAD_PATH = re.compile(r"/claims/[^/]+/evidence")
INBOUND_PATH = "/inbound/email"  # a whole raw message, at most MAX_MESSAGE_BYTES
INBOUND_HEADER = "x-inbound-secret"

MISSING_TOKEN = "send Authorization: Bearer <token>"
BAD_TOKEN = "the token is not valid (unknown, expired, or its user deactivated)"
MISSING_SECRET = "send the inbound mail secret (GUARANTEE_INBOUND_SECRET) as X-Inbound-Secret"
INBOUND_OFF = "inbound mail over HTTP is off: the server has no GUARANTEE_INBOUND_SECRET"
UNAVAILABLE = "the claims service cannot reach its database or Temporal; try again shortly"


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith("/docs/")


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None (as FastAPI's HTTPBearer reads it)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def body_limit(scope: Scope, headers: Headers) -> int:
    """The most body bytes this request may send: an evidence upload or a raw email more, everything else 1 MiB."""
    if scope["path"] == INBOUND_PATH:
        return MAX_MESSAGE_BYTES
    multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
    upload = scope["method"] == "POST" and multipart and UPLOAD_PATH.fullmatch(scope["path"])
    return MAX_UPLOAD_BYTES if upload else MAX_BODY_BYTES


async def answer(send: Send, status: int, code: str, message: str, headers: dict | None = None) -> None:
    """An error in the contract's shape, sent without reading anything of the request."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Gate:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"] == INBOUND_PATH:
            expected = scope["app"].state.ctx.inbound_secret
            sent = headers.get(INBOUND_HEADER, "")
            if not expected:
                await answer(send, 404, "not_found", INBOUND_OFF)
                return
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                await answer(send, 401, "unauthenticated", MISSING_SECRET)
                return
        elif not is_public(scope["path"]):
            token = bearer_token(headers.get("authorization"))
            session = Request(scope).cookies.get(sign_in.COOKIE) if scope["path"].startswith(SESSION_PATHS) else None
            if token is None and session is None:
                await answer(send, 401, "unauthenticated", MISSING_TOKEN, {"WWW-Authenticate": "Bearer"})
                return
            sessions = scope["app"].state.ctx.sessions
            try:
                if token is not None:
                    actor = await run_in_threadpool(authenticate, sessions, token)
                else:
                    signed_in = await run_in_threadpool(sign_in.current, sessions, session)
                    actor = signed_in and signed_in.actor
            except OUTAGES:
                await answer(send, 503, "unavailable", UNAVAILABLE)
                return
            if actor is None:
                await answer(send, 401, "unauthenticated", BAD_TOKEN, {"WWW-Authenticate": "Bearer"})
                return
            scope.setdefault("state", {})["actor"] = actor

        async def too_large(send: Send, message: str) -> None:
            await answer(send, 413, "too_large", message)

        await serve_capped(self.app, scope, receive, send, body_limit(scope, headers), too_large)
