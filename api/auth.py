"""Bearer-token authentication, and the roles the rules allow on each route."""

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError, refusal
from rules.errors import DomainError
from rules.roles import permit
from schema.claims import Actor
from schema.enums import Action
from service.users import authenticate

_bearer = HTTPBearer(auto_error=False)


async def current_actor(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
    actor = await run_in_threadpool(authenticate, request.app.state.ctx.sessions, credentials.credentials)
    if actor is None:
        raise ApiError(401, "unauthenticated", "the token is not valid (unknown, expired, or its user deactivated)")
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
