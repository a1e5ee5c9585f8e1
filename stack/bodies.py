"""A cap on a request's body, kept as it is read: from its Content-Length before a byte is read,
and byte by byte while it streams (chunked bodies too). The API's and the web app's doors use it."""

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TooLarge = Callable[[Send, str], Awaitable[None]]  # answers 413 in the caller's own shape


def too_large_message(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"the request body is larger than {limit / (1024 * 1024):g} MiB"
    return f"the request body is larger than {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised while the body is read, once it passes its cap."""

    def __init__(self, limit: int):
        super().__init__(413, too_large_message(limit))
        self.limit = limit


async def serve_capped(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, refuse: TooLarge) -> None:
    """Run `app` with at most `limit` body bytes; past it, `refuse` answers (unless a response began)."""
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await refuse(send, too_large_message(limit))
        return
    started = False
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    async def watched(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, capped, watched)
    except BodyTooLarge as err:
        if started:
            raise
        await refuse(send, err.detail)
