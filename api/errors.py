"""Errors as `{"error": {"code", "message"}}`: 4xx for the caller's mistakes, 503 while a part is down.

The service refuses with a domain code; this is where a code becomes an HTTP status.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rules.errors import DomainError
from service.context import OUTAGES

# Domain codes that are not plain 422s.
STATUS_FOR_CODE = {
    "not_found": 404,
    "forbidden": 403,
    "csrf": 403,
    "insufficient_authority": 403,
    "conflict_of_interest": 403,
    "not_assignee": 403,
    "inactive_user": 403,
    "own_account": 403,
    "unsigned_action": 403,
    "forged_action": 403,
    "invalid_state": 409,
    # Evidence links: not made here, or no longer usable.
    "link_invalid": 403,
    "link_expired": 410,
    "link_revoked": 410,
    "link_closed": 410,
    "money_moved": 409,
    "already_requested": 409,
    "already_approved": 409,
    "stale_details": 409,
    "stale_action": 409,
    "replayed_action": 409,
    "user_exists": 409,
    "too_large": 413,
    "last_admin": 409,
    # The database refused to record the action: nothing changed, and it is not the caller's mistake.
    "not_recorded": 500,
    "no_audit_key": 503,
    # A file the records name is gone from the store (restored from another backup, deleted by hand).
    "message_lost": 410,
}

# Starlette's own errors (unknown route, wrong method, unreadable body) in the contract's codes.
CODE_FOR_STATUS = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refusal(err: DomainError) -> ApiError:
    return ApiError(STATUS_FOR_CODE.get(err.code, 422), err.code, err.message)


def _body(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def describe(problems: list[dict]) -> str:
    """Pydantic's validation errors as one line a person reads: `field: what is wrong; ...`."""
    parts = []
    for e in problems[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = str(e.get("msg")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, err: ApiError):
        return _body(err.status, err.code, err.message)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, err: DomainError):
        mapped = refusal(err)
        return _body(mapped.status, mapped.code, mapped.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError):
        return _body(422, "invalid_request", describe(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException):
        code = CODE_FOR_STATUS.get(err.status_code, "http_error")
        return _body(err.status_code, code, str(err.detail))

    async def _outage(_: Request, err: Exception):
        return _body(503, "unavailable", "the claims service cannot reach its database or Temporal; try again shortly")

    for outage in OUTAGES:
        app.add_exception_handler(outage, _outage)
