"""Bearer-token authentication and the roles allowed on each route."""

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.users import authenticate
from schema.claims import Actor
from schema.enums import Role

CASEWORK = frozenset({Role.specialist, Role.lead, Role.manager, Role.director})
APPROVERS = frozenset({Role.lead, Role.manager, Role.director, Role.finance})
FINANCE = frozenset({Role.finance})
FINANCE_READERS = frozenset({Role.finance, Role.admin})
STAFF = frozenset(Role)

_bearer = HTTPBearer(auto_error=False)


async def current_actor(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
    actor = await run_in_threadpool(authenticate, request.app.state.services.sessions, credentials.credentials)
    if actor is None:
        raise ApiError(401, "unauthenticated", "the token is not valid")
    return actor


def allow(roles: frozenset[Role]):
    """A dependency that admits only the given roles."""

    async def check(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise ApiError(403, "forbidden", f"the {actor.role.value} role cannot do this (allowed: {allowed})")
        return actor

    return check
