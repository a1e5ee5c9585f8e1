"""One address for people and scripts: pages go to the web app, everything else to the HTTP API.

The two keep their own door: the API takes bearer tokens, the web app a session cookie and a
CSRF token on every form.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

# The web app's paths. The API's (/claims, /payouts, /reconciliations, /users, /codec, ...) stay the API's.
PAGES = ("/sign-in", "/sign-out", "/cases", "/finance", "/admin", "/static/", "/e/")
# Whole paths the web app serves that the API serves too: the browser (Accept: text/html) gets the page.
SHARED = ("/kpis",)


def is_page(path: str, accept: str = "") -> bool:
    return path == "/" or path.startswith(PAGES) or (path in SHARED and "text/html" in accept)


class Site:
    def __init__(self, web: ASGIApp, api: ASGIApp):
        self.web, self.api = web, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
        app = self.web if scope["type"] == "http" and is_page(scope["path"], accept) else self.api
        await app(scope, receive, send)
