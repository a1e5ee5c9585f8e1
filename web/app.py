"""The web app on the service layer: its door, its templates and its pages."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from api.errors import refusal
from rules.errors import DomainError
from service.context import OUTAGES, Context
from web.door import Door
from web.pages import cases, finance, handoffs, home, inbox, kpis, links, opening, outbox, people, signing_in
from web.pages import digests as digest_pages
from web.pages import signals as signal_pages
from web.render import render

HERE = Path(__file__).parent


def create_web(ctx: Context) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.add_middleware(Door)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # opening's /cases/new before cases' /cases/{id}
    for page in (signing_in, home, opening, links, cases, finance, people, inbox, outbox, kpis, handoffs):
        app.include_router(page.router)
    for page in (signal_pages, digest_pages):
        app.include_router(page.router)

    @app.exception_handler(DomainError)
    async def _refused(request: Request, err: DomainError):
        return render(request, "problem.html", refusal(err).status, problem=err.message)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, err: HTTPException):
        return render(request, "problem.html", err.status_code, problem=str(err.detail))

    async def _outage(request: Request, err: Exception):
        message = "The claims service cannot reach its database or Temporal right now; try again in a moment."
        return render(request, "problem.html", 503, problem=message)

    for outage in OUTAGES:
        app.add_exception_handler(outage, _outage)
    return app
