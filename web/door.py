"""The web app's door: a signed-in session before any page, and a cap on what a form may send.

A pure ASGI middleware, like the API's gate: without an open session a page redirects to the
sign-in page before a byte of the request's body is read. The session cookie is HttpOnly and
SameSite=Lax (Secure when the site is served over https); every form also carries the session's
CSRF token, which `csrf_checked` compares.
"""

import re
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from rules.errors import DomainError
from service import sign_in
from service.context import OUTAGES
from service.evidence import MAX_BYTES
from stack.bodies import serve_capped

COOKIE = sign_in.COOKIE
# An evidence link's page: its token is its credential (web/pages/links.py).
PUBLIC = ("/sign-in", "/static/", "/e/")
MAX_FORM_BYTES = 1024 * 1024
MAX_FILES = 10  # evidence files in one upload
UPLOAD = re.compile(r"/cases/[^/]+/evidence|/e/[^/]+")  # the same cap for an evidence link's uploads
MAX_UPLOAD_BYTES = MAX_FILES * MAX_BYTES + MAX_FORM_BYTES


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC)


async def _plain(send: Send, status: int, text: str, headers: dict | None = None) -> None:
    body = text.encode()
    raw = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Door:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not is_public(path):
            token = Request(scope).cookies.get(COOKIE)
            try:
                session = await run_in_threadpool(sign_in.current, scope["app"].state.ctx.sessions, token)
            except OUTAGES:
                await _plain(send, 503, "The claims service cannot reach its database; try again in a moment.")
                return
            if session is None:
                await _plain(send, 303, "Sign in first.", {"Location": _sign_in_then(scope)})
                return
            scope.setdefault("state", {})["web_session"] = session

        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = MAX_UPLOAD_BYTES if multipart and UPLOAD.fullmatch(path) else MAX_FORM_BYTES

        async def too_large(send: Send, message: str) -> None:
            await _plain(send, 413, f"Too much at once: {message}.")

        await serve_capped(self.app, scope, receive, send, limit, too_large)


def _sign_in_then(scope: Scope) -> str:
    """The sign-in page, and for a page someone asked for, the way back to it afterwards."""
    if scope["method"] != "GET" or scope["path"] == "/":
        return "/sign-in"
    back = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
    return f"/sign-in?next={quote(back, safe='')}"


def session_of(request: Request) -> sign_in.WebSession:
    return request.state.web_session


def csrf_checked(request: Request, sent: str | None) -> sign_in.WebSession:
    """The session, once the form proved it came from one of our pages."""
    session = session_of(request)
    if not session.csrf_ok(sent):
        raise DomainError("csrf", "this form is out of date or did not come from this site; reload the page")
    return session
