"""Stripe's form encoding, decoded: `metadata[key]=value`, `created[gte]=1`, `expand[0]=x`.

Bodies of POSTs and query strings of GETs both use it. Values stay strings, as on the wire;
`params` checks and converts them.
"""

import re
from urllib.parse import parse_qsl

from stripe_stub import errors

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
# Objects whose keys are free text: numbered keys there stay keys, never list indexes.
_FREE_KEYS = {"metadata"}


def decode(text: str) -> dict:
    params: dict = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            raise errors.invalid_request(f"Invalid parameter name: {raw_key}", param=raw_key)
        path = [match.group(1)] + _PART.findall(match.group(2))
        _put(params, path, value, raw_key)
    return _lists(params, free=False)


def _put(target: dict, path: list[str], value: str, raw_key: str) -> None:
    for part in path[:-1]:
        if part == "":  # `a[][b]`: a new element of a list of objects
            part = str(len(target))
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise errors.invalid_request(
                f"Invalid parameter: {raw_key} conflicts with another parameter", param=raw_key
            )
        target = child
    last = path[-1]
    if last == "":  # `expand[]=x`
        last = str(len(target))
    if isinstance(target.get(last), dict):
        raise errors.invalid_request(f"Invalid parameter: {raw_key} conflicts with another parameter", param=raw_key)
    target[last] = value


def _lists(value, *, free: bool):
    """Objects keyed 0, 1, 2... become lists, except under free-text objects like metadata."""
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v, free=k in _FREE_KEYS) for k, v in value.items()}
    if not free and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
