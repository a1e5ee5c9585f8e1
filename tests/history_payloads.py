"""The payloads in a workflow history as JSON (the SDK's `to_json()`, the CLI's `--output json`)."""

import base64
from collections.abc import Iterator

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from stack.codec import ENCODING


def payloads(node, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every payload (a dict with metadata.encoding) with where it sits, e.g. (..., 'searchAttributes', ...)."""
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            yield path, node
            return
        for key, value in node.items():
            yield from payloads(value, (*path, key))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from payloads(value, (*path, n))


def in_search_attributes(path: tuple) -> bool:
    return "searchAttributes" in path


def left_plain(path: tuple) -> bool:
    """Payloads that are not the product's and never pass the codec: search attributes (indexed by the
    server, so they must stay readable), the SDK's own patch markers (`{"id": <patch id>, ...}`) and the
    bookkeeping of its local-activity markers (`{"seq", "attempt", "activity_type", times}`; their
    `result` is the product's, and encrypted)."""
    return (
        in_search_attributes(path)
        or "patch-data" in path
        or path[2:5] == ("markerRecordedEventAttributes", "details", "data")
    )


def encoding(payload: dict) -> bytes:
    return base64.b64decode(payload["metadata"]["encoding"])


def encrypted(payload: dict) -> bool:
    return encoding(payload) == ENCODING


def data(payload: dict) -> bytes:
    return base64.b64decode(payload.get("data", ""))


async def decoded(payload: dict, codec) -> bytes:
    """The payload's data after `codec` (the product's, with the tests' key) decoded it."""
    [plain] = await codec.decode([json_format.ParseDict(payload, Payload())])
    return plain.data
