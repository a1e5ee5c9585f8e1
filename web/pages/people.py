"""People, for admins: who may use the service and in which role, their API tokens and web passwords.

The list shows everyone with their last change; each person's page has the forms that change
them (role, API token, web password, deactivation) and every change ever made to them, with who
made it. Each form posts to the same service the command line calls, as `web:<admin's user id>`.
A done change redirects back to the list (a reload never sends it twice), except a new API
token: that page shows the token once, and is never cached. The rules that keep an admin (nobody
deactivates or demotes themselves; the last active admin stays one) are the service's.
"""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.errors import refusal
from rules import roles
from rules.errors import DomainError
from schema.claims import Actor
from schema.enums import STAFF_ROLES, Action, Role
from service import sign_in, users
from web import forms
from web.door import csrf_checked, session_of
from web.render import render

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _admin(request: Request) -> Actor:
    me = session_of(request).actor
    roles.permit(Action.manage_users, me.role)
    return me


def _by(me: Actor) -> str:
    return f"web:{me.user_id}"


def _names(listed) -> dict[str, str]:
    """Who made a change, as people read it: `web:u_...` is that admin's name."""
    return {f"web:{u.id}": u.name for u in listed}


@router.get("/admin/people")
async def people(request: Request):
    _admin(request)
    return await _list_page(request)


async def _list_page(request: Request, status: int = 200, **extra):
    ctx = request.app.state.ctx
    listed = await run_in_threadpool(users.list_users, ctx.sessions)
    last = {change.user_id: change for change, _ in await run_in_threadpool(users.history, ctx.sessions)}
    done = request.query_params.get("done")
    page = render(
        request,
        "people.html",
        status,
        nav="people",
        title="People",
        listed=listed,
        last=last,
        by=_names(listed),
        roles=list(STAFF_ROLES),
        **({"form": {}, "problem": None, "done": done, "who": request.query_params.get("who")} | extra),
    )
    page.headers.update(NO_STORE)
    return page


async def _person_page(request: Request, user, status: int = 200, **extra):
    ctx = request.app.state.ctx
    listed = await run_in_threadpool(users.list_users, ctx.sessions)
    changes = [c for c, _ in await run_in_threadpool(users.history, ctx.sessions, user.name)]
    page = render(
        request,
        "person.html",
        status,
        nav="people",
        title=f"{user.name}: role, token and password",
        person=user,
        changes=changes,
        by=_names(listed),
        roles=list(STAFF_ROLES),
        **({"form": {}, "failed": None, "problem": None, "new_token": None} | extra),
    )
    page.headers.update(NO_STORE)  # a new token is on it, once
    return page


async def _found(request: Request, user_id: str):
    user = await run_in_threadpool(users.find, request.app.state.ctx.sessions, user_id)
    if user is None or user.id != user_id:
        raise DomainError("not_found", "there is no such person")
    return user


@router.get("/admin/people/{user_id}")
async def person(request: Request, user_id: str):
    _admin(request)
    return await _person_page(request, await _found(request, user_id))


def _role(form: FormData) -> Role:
    try:
        return Role(form.get("role"))
    except ValueError:
        raise DomainError("invalid_request", "choose one of the roles") from None


def _password(form: FormData) -> str:
    value = form.get("password")
    return value if isinstance(value, str) else ""


@router.post("/admin/people/add")
async def add(request: Request):
    me = _admin(request)
    form = await request.form()
    csrf_checked(request, form.get("csrf"))
    ctx = request.app.state.ctx
    name = forms.text(form, "name") or ""
    try:
        role = _role(form)
        await run_in_threadpool(sign_in.add_user, ctx.sessions, name, role, _password(form), by=_by(me))
    except DomainError as err:
        return await _list_page(request, refusal(err).status, problem=err.message, form=form)
    return _done("added", name)


def _done(action: str, name: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/people?{urlencode({'done': action, 'who': name})}", status_code=303)


async def _change(request: Request, user_id: str, action: str, call):
    """Check the form's CSRF token, make the change as this admin, and go back to the list; or show the
    person as they were, with the rule's reason and what the admin typed (never a password)."""
    me = _admin(request)
    form = await request.form()
    csrf_checked(request, form.get("csrf"))
    user = await _found(request, user_id)
    try:
        result = await run_in_threadpool(call, request.app.state.ctx.sessions, me, user.name, form)
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _person_page(request, user, refusal(err).status, problem=err.message, form=form, failed=action)
    if isinstance(result, users.NewToken):
        return await _person_page(request, await _found(request, user_id), new_token=result)
    return _done(action, user.name)


@router.post("/admin/people/{user_id}/role")
async def change_role(request: Request, user_id: str):
    def call(sessions, me, name, form):
        role = _role(form)
        users.set_role(sessions, name, role, by=_by(me), reason=forms.text(form, "reason"), actor_id=me.user_id)

    return await _change(request, user_id, "role_changed", call)


@router.post("/admin/people/{user_id}/deactivate")
async def deactivate(request: Request, user_id: str):
    def call(sessions, me, name, form):
        reason = forms.text(form, "reason")
        if reason is None:
            raise DomainError("invalid_request", "say why they are deactivated: it is kept with the change")
        users.deactivate(sessions, name, by=_by(me), reason=reason, actor_id=me.user_id)

    return await _change(request, user_id, "deactivated", call)


@router.post("/admin/people/{user_id}/token")
async def new_token(request: Request, user_id: str):
    def call(sessions, me, name, form):
        return users.rotate_token(sessions, name, by=_by(me), reason=forms.text(form, "reason"))

    return await _change(request, user_id, "token_rotated", call)


@router.post("/admin/people/{user_id}/password")
async def password(request: Request, user_id: str):
    def call(sessions, me, name, form):
        sign_in.set_password(sessions, name, _password(form), by=_by(me), reason=forms.text(form, "reason"))

    return await _change(request, user_id, "password_set", call)
