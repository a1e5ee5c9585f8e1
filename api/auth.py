"""Bearer-token authentication, and the roles the rules allow on each route.

`api.gate` authenticates every request before its body is read and keeps the actor in the
request's state; `current_actor` returns that actor (and authenticates itself only for an app
served without the gate).
"""

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError, refusal
from api.gate import BAD_TOKEN, MISSING_TOKEN
from rules.errors import DomainError
from rules.roles import permit
from schema.claims import Actor
from schema.enums import Action
from service.users import authenticate

_bearer = HTTPBearer(auto_error=False)


async def current_actor(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return actor
    if credentials is None:
        raise ApiError(401, "unauthenticated", MISSING_TOKEN)
    actor = await run_in_threadpool(authenticate, request.app.state.ctx.sessions, credentials.credentials)
    if actor is None:
        raise ApiError(401, "unauthenticated", BAD_TOKEN)
    return actor


def allow(action: Action):
    """A dependency that admits only the roles the rules allow to take `action`."""

    async def check(actor: Actor = Depends(current_actor)) -> Actor:
        try:
            permit(action, actor.role)
        except DomainError as err:
            raise refusal(err) from None
        return actor

    return check
