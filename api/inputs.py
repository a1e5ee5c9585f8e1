"""A guard on every route: no NUL character in the path, the query or the body.

PostgreSQL cannot store one; the schema's models refuse it in what they read, and this guard
covers the rest (path ids, filters) with a 422 instead of a database error.
"""

import json

from fastapi import Request

from api.errors import ApiError


def _has_nul(value: object) -> bool:
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple)):
            todo += item
    return False


async def refuse_nul(request: Request) -> None:
    """A dependency of every route: 422 for a NUL character in the path, the query or the body."""
    parts: list = [request.scope["path"], request.query_params.multi_items()]
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        parts += [(k, v if isinstance(v, str) else v.filename or "") for k, v in form.multi_items()]
    else:
        try:
            parts.append(json.loads(await request.body()))
        except (ValueError, RecursionError):
            pass  # not JSON: the route's own validation answers
    if _has_nul(parts):
        raise ApiError(422, "invalid_request", "NUL characters (\\u0000) are not allowed")
