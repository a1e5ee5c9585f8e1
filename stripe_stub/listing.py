"""Stripe's list endpoints: newest first, `created` ranges, cursor pagination.

`limit` (1..100, default 10); `starting_after=id` gives the objects after that one (older),
`ending_before=id` the ones before it (newer), each page still newest first; `has_more` says
whether more objects lie beyond the page in the direction of travel. `created` is either a Unix
time (exact) or a range `created[gt|gte|lt|lte]`.
"""

import copy
from collections.abc import Callable

from stripe_stub import errors, objects, params

_RANGE = {"gt", "gte", "lt", "lte"}


def created_filter(value) -> Callable[[int], bool]:
    if value is None or value == "":
        return lambda created: True
    if isinstance(value, str):
        exact = params.integer({"created": value}, "created")
        return lambda created: created == exact
    if not isinstance(value, dict):
        raise errors.invalid_request(
            "Invalid created: must be an integer or a range", code="parameter_invalid_integer", param="created"
        )
    bounds = {}
    for op, raw in value.items():
        if op not in _RANGE:
            raise errors.unknown_param(f"created[{op}]")
        if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
            raise errors.invalid_integer(f"created[{op}]", raw)
        bounds[op] = int(raw)

    def matches(created: int) -> bool:
        return (
            ("gt" not in bounds or created > bounds["gt"])
            and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"])
            and ("lte" not in bounds or created <= bounds["lte"])
        )

    return matches


def page(
    stored: dict[str, dict],
    query: dict,
    *,
    url: str,
    kind: str,
    filters: dict[str, str] | None = None,
) -> dict:
    """One page of `stored` (id -> object, in creation order) for a list request.

    `filters` maps a query parameter to the object field it must equal (e.g. charge -> charge).
    """
    filters = filters or {}
    params.only(query, {"limit", "starting_after", "ending_before", "created"} | set(filters))
    limit = params.integer(query, "limit")
    if limit is None:
        limit = 10
    elif not 1 <= limit <= 100:
        raise errors.invalid_request(
            "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer", param="limit"
        )
    after = params.string(query, "starting_after")
    before = params.string(query, "ending_before")
    if after and before:
        raise errors.invalid_request(
            "You may only specify one of these parameters: ending_before, starting_after.", param="ending_before"
        )
    in_range = created_filter(query.get("created"))
    wanted = {name: params.string(query, name) for name in filters}

    # Newest first; objects created in the same second keep their creation order (newest first).
    ordered = sorted(
        ((obj["created"], i, obj) for i, obj in enumerate(stored.values())), key=lambda t: t[:2], reverse=True
    )
    position = {obj["id"]: (created, i) for created, i, obj in ordered}
    chosen = [
        (created, i, obj)
        for created, i, obj in ordered
        if in_range(created) and all(v is None or obj.get(filters[n]) == v for n, v in wanted.items())
    ]

    if after:
        if after not in position:
            raise errors.no_such(kind, after, param="starting_after", status=400)
        cursor = position[after]
        rest = [t for t in chosen if t[:2] < cursor]
        data, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in position:
            raise errors.no_such(kind, before, param="ending_before", status=400)
        cursor = position[before]
        rest = [t for t in chosen if t[:2] > cursor]
        data, has_more = rest[-limit:], len(rest) > limit
    else:
        data, has_more = chosen[:limit], len(chosen) > limit
    return objects.list_object(url, [copy.deepcopy(obj) for _, _, obj in data], has_more)
