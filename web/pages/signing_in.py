"""Signing in and out.

The sign-in form has no session yet, so its CSRF token is a double submit: a random value in a
short-lived cookie and in the form, which must agree.
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from rules.errors import DomainError
from service import sign_in
from web.door import COOKIE, csrf_checked
from web.render import render

router = APIRouter()
FORM_COOKIE = "gp_sign_in"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an address elsewhere (`//evil`, `https://...`)."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(request: Request, status: int = 200, **context):
    token = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", status, form_token=token, **({"name": "", "next": "/"} | context))
    response.set_cookie(FORM_COOKIE, token, max_age=3600, httponly=True, samesite="lax", secure=_secure(request))
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = "/", signed_out: bool = False):
    return _form(request, next=_safe_next(next), signed_out=signed_out)


@router.post("/sign-in")
async def sign_in_form(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):
    expected = request.cookies.get(FORM_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf):
        return _form(request, 403, name=name, next=_safe_next(next), problem="The form was out of date; sign in again.")
    sessions = request.app.state.ctx.sessions
    try:
        session = await run_in_threadpool(sign_in.sign_in, sessions, name, password)
    except DomainError as err:
        return _form(
            request, 401 if err.code == "sign_in_failed" else 429, name=name, next=_safe_next(next), problem=err.message
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, session.token, httponly=True, samesite="lax", secure=_secure(request))
    response.delete_cookie(FORM_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = ""):
    session = csrf_checked(request, csrf)
    await run_in_threadpool(sign_in.sign_out, request.app.state.ctx.sessions, session.token)
    response = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    response.delete_cookie(COOKIE)
    return response
