"""Rendering a page: the templates, and what every page gets (who is signed in, their CSRF token, their time zone)."""

from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from web import format

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")  # HTML autoescaped
templates.env.filters.update(money=format.money, label=format.label, age=format.age, left=format.left)


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    tz = format.zone(request.cookies.get(format.TZ_COOKIE))
    session = getattr(request.state, "web_session", None)
    context |= {
        "me": session and session.actor,
        "csrf": session and session.csrf,
        "tz": tz,
        "now": datetime.now(UTC),
        "when": lambda at, seconds=False: format.when(at, tz, seconds),
        "stamp": lambda at: stamp(at, tz),
    }
    return templates.TemplateResponse(request, template, context, status_code=status)


def stamp(at, tz) -> Markup:
    """A time as people read it in their zone, marked up so a first visit's script can localise it."""
    if at is None:
        return Markup("")
    return Markup('<time datetime="{}" data-local>{}</time>').format(at.isoformat(), escape(format.when(at, tz)))
