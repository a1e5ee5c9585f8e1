"""A guard on every route: no NUL character in the path, the query or the body, and no control or
format character (Unicode Cc, Cf) in the path or the query.

PostgreSQL cannot store a NUL; the schema's models refuse it in what they read, and this guard
covers the rest (path ids, filters) with a 422 instead of a database error. Paths and queries
carry only ids and filters, where an invisible character (a bidi override, a zero-width space)
is never meant: 422 before anything is looked up.

It runs after `api.gate`, so only for authenticated requests, and reads a JSON body that the gate
has capped; an evidence upload (multipart) is checked part by part by `api.uploads` as it streams.
"""

import json

from fastapi import Request

from api.errors import ApiError
from schema.bounds import invisible_characters


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
    address: list = [request.scope["path"], request.query_params.multi_items()]
    parts: list = list(address)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            parts.append(json.loads(await request.body()))
        except (ValueError, RecursionError):
            pass  # not JSON: the route's own validation answers
    if _has_nul(parts):
        raise ApiError(422, "invalid_request", "NUL characters (\\u0000) are not allowed")
    texts = [request.scope["path"], *(f"{k}={v}" for k, v in request.query_params.multi_items())]
    found = [c for text in texts for c in invisible_characters(text)]
    if found:
        shown = ", ".join(dict.fromkeys(found))
        raise ApiError(422, "invalid_request", f"control and format characters are not allowed in ids ({shown})")
