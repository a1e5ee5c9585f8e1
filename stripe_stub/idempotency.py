"""Stripe's idempotency rules for POSTs carrying an `Idempotency-Key` header.

- The first request with a key runs, and its result is stored with the key: the object, or the
  error it ended with (a declined destination, too little balance, ...). Errors in the shape of
  the parameters (`parameter_*`) are not stored, as in Stripe: the request never ran.
- The same key with the same parameters (same method and path) replays the stored result,
  status included, instead of running again; the answer carries `Idempotent-Replayed: true`.
- The same key with other parameters, or on another endpoint: 400 `idempotency_error`.
- Concurrent requests with one key are serialised by the store's lock: the first runs, the
  others wait and replay its result, so only one object is ever created.
- Keys expire after `ttl` seconds (Stripe: 24 hours) of wall-clock time.

Records live in the state file with the objects, and are written in the same atomic write as the
object they describe, so a replay after a restart (or after a dropped connection) still finds
the first result.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from stripe_stub import errors
from stripe_stub.errors import StripeError
from stripe_stub.store import Store

DEFAULT_TTL = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass
class Outcome:
    status: int
    body: dict
    request_id: str  # the request that produced `body` (the first one, for a replay)
    replayed: bool = False
    created: bool = False  # this request ran the operation and it succeeded


def fingerprint(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def run(
    store: Store,
    *,
    key: str | None,
    method: str,
    path: str,
    params: dict,
    request_id: str,
    execute: Callable[[dict], dict],
    ttl: float = DEFAULT_TTL,
) -> Outcome:
    """Run `execute(state)` in a store transaction under Stripe's idempotency rules.

    Raises StripeError for errors that are not stored (parameter errors, key conflicts).
    """
    if key is None:
        with store.transaction() as state:
            return Outcome(200, execute(state), request_id, created=True)
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(
            400,
            "invalid_request_error",
            f"Idempotency-Key values can be at most {MAX_KEY_LENGTH} characters long.",
            stored=False,
        )

    endpoint = f"{method} {path}"
    prints = fingerprint(params)
    with store.lock:
        with store.reading() as state:
            record = state["idempotency"].get(key)
        if record is not None and time.time() - record["stored_at"] <= ttl:
            if record["endpoint"] != endpoint:
                raise errors.idempotency_other_endpoint(key, record["endpoint"], endpoint)
            if record["fingerprint"] != prints:
                raise errors.idempotency_mismatch(key)
            return Outcome(record["status"], record["body"], record["request_id"], replayed=True)

        def remember(state: dict, status: int, body: dict) -> None:
            now = time.time()
            records = state["idempotency"]
            for old in [k for k, r in records.items() if now - r["stored_at"] > ttl]:
                del records[old]
            records[key] = {
                "endpoint": endpoint,
                "fingerprint": prints,
                "status": status,
                "body": body,
                "request_id": request_id,
                "stored_at": now,
            }

        try:
            with store.transaction() as state:
                body = execute(state)
                remember(state, 200, body)
            return Outcome(200, body, request_id, created=True)
        except StripeError as e:
            if not e.stored:
                raise
            body = e.body(request_id)
            with store.transaction() as state:
                remember(state, e.status, body)
            return Outcome(e.status, body, request_id)
