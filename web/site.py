"""One address for people and scripts: pages go to the web app, everything else to the HTTP API.

The two keep their own door: the API takes bearer tokens, the web app a session cookie and a
CSRF token on every form.

`/inbox`, `/kpis`, `/signals` and `/digests` are all: pages for people, and API routes for scripts and the command
line. A request with an `Authorization` header (a bearer token: browsers never send one
to this site) goes to the API; any other to the page.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

# The web app's paths. The API's (/claims, /payouts, /reconciliations, /users, /codec, ...) stay the API's.
PAGES = (
    "/sign-in",
    "/sign-out",
    "/cases",
    "/finance",
    "/admin",
    "/team-referrals",
    "/outbox",
    "/static/",
    "/e/",
    "/inbox",
    "/kpis",
    "/signals",
    "/digests",
)
SHARED = ("/inbox", "/kpis", "/signals", "/digests")  # pages whose paths the API serves too, to requests with a token


def is_page(path: str, authorization: bool = False) -> bool:
    if authorization and (path in SHARED or path.startswith(tuple(f"{p}/" for p in SHARED))):
        return False
    return path == "/" or path.startswith(PAGES)


class Site:
    def __init__(self, web: ASGIApp, api: ASGIApp):
        self.web, self.api = web, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = any(name == b"authorization" for name, _ in scope.get("headers", ()))
        app = self.web if scope["type"] == "http" and is_page(scope["path"], authorization) else self.api
        await app(scope, receive, send)
