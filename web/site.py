"""One address for people and scripts: pages go to the web app, everything else to the HTTP API.

The two keep their own door: the API takes bearer tokens, the web app a session cookie and a
CSRF token on every form.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

# The web app's paths. The API's (/claims, /payouts, /reconciliations, /users, /codec, ...) stay the API's.
PAGES = ("/sign-in", "/sign-out", "/cases", "/finance", "/admin", "/outbox", "/static/", "/e/")


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGES)


class Site:
    def __init__(self, web: ASGIApp, api: ASGIApp):
        self.web, self.api = web, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.web if scope["type"] == "http" and is_page(scope["path"]) else self.api
        await app(scope, receive, send)
