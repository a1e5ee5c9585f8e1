"""Temporal's codec-server protocol on the API: /codec/decode and /codec/encode, for the Temporal UI and CLI.

Both take and answer `{"payloads": [...]}` (Temporal's Payloads message as protobuf JSON, data in
base64) and apply the codec of the API's own Temporal client, so they decode exactly what the
product wrote. Only a bearer token whose role may read histories (`rules.roles`, Action.read_history)
gets an answer. The Temporal UI calls from its own origin, so those origins get CORS headers on
these two routes (and no others).
"""

from collections.abc import Awaitable, Callable, Iterable

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import allow
from api.errors import ApiError
from schema.claims import Actor
from schema.enums import Action

PREFIX = "/codec"
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "authorization, content-type, x-namespace",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Max-Age": "600",
}


async def _apply(request: Request, operation: str) -> Response:
    codec = request.app.state.ctx.client.data_converter.payload_codec
    if codec is None:
        raise ApiError(404, "not_found", "this API's Temporal client has no payload codec")
    convert: Callable[[Iterable[Payload]], Awaitable[list[Payload]]] = getattr(codec, operation)
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as err:
        raise ApiError(422, "invalid_request", f'the body is not {{"payloads": [...]}}: {err}') from None
    try:
        converted = await convert(payloads.payloads)
    except ValueError as err:
        raise ApiError(422, "invalid_request", str(err)) from None
    body = {"payloads": [json_format.MessageToDict(p) for p in converted]}  # [] too, where protobuf JSON says {}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def install(app: FastAPI, ui_origins: Iterable[str]) -> None:
    """The codec routes, and CORS on them for the Temporal UI's origins."""

    @app.post(f"{PREFIX}/decode", response_class=Response, tags=["codec"])
    async def decode(request: Request, actor: Actor = Depends(allow(Action.read_history))) -> Response:
        """Payloads as the product wrote them to Temporal, decrypted."""
        return await _apply(request, "decode")

    @app.post(f"{PREFIX}/encode", response_class=Response, tags=["codec"])
    async def encode(request: Request, actor: Actor = Depends(allow(Action.read_history))) -> Response:
        """Payloads encrypted with the newest key: what the Temporal UI sends when it starts or signals a workflow."""
        return await _apply(request, "encode")

    app.add_middleware(CodecCors, origins=frozenset(o.rstrip("/") for o in ui_origins))


class CodecCors:
    """CORS for the Temporal UI's origins on /codec/ only; every other request passes untouched."""

    def __init__(self, app: ASGIApp, origins: frozenset[str]):
        self.app, self.origins = app, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin in self.origins
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} | CORS_HEADERS
            preflight = Response(status_code=204, headers=cors) if allowed else Response(status_code=403)
            return await preflight(scope, receive, send)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.append("Vary", "Origin")
                if allowed:
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_cors)
