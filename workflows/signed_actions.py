"""Signed actions: a claim believes an Update's actor only when the service's signature says so.

The service signs every human action with an HMAC under GUARANTEE_SIGNING_KEY: who, which role,
which claim, which action, when, a nonce, and a digest of the action's arguments. The worker's
interceptor checks it before the Update's own validator runs, so an action sent straight to
Temporal with a made-up actor, a changed argument, a signature used before or an old one never
reaches history. The key lives with the worker and the service, never in a workflow's history.

Validators do not run when a history replays; the handler side only remembers each nonce, so
replays are unaffected.
"""

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from schema.claims import Actor, Signature
from schema.names import claim_id_of

# How far a signature's time may be from the claim's clock: an action is sent the moment it is signed.
FRESH_FOR = timedelta(minutes=5)


def _actor_and_rest(args: Sequence[Any]) -> tuple[Actor | None, list]:
    """The actor and the other arguments: `(actor, *args)` for the first Updates, one model with `actor` after."""
    if args and isinstance(args[0], Actor):
        return args[0], list(args[1:])
    if len(args) == 1 and isinstance(getattr(args[0], "actor", None), Actor):
        return args[0].actor, [args[0].model_dump(mode="json", exclude={"actor"})]
    return None, list(args)


def args_digest(args: Sequence[Any]) -> str:
    plain = [a.model_dump(mode="json") if isinstance(a, BaseModel) else a for a in args]
    return hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _mac(key: bytes, actor: Actor, claim_id: str, action: str, at: datetime, nonce: str, digest: str) -> str:
    message = "\n".join([actor.user_id, actor.role.value, claim_id, action, at.isoformat(), nonce, digest])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, claim_id: str, action: str, args: Sequence[Any], at: datetime) -> list:
    """The Update's arguments with their actor signed for `action` on `claim_id` at `at`."""
    actor, rest = _actor_and_rest(args)
    nonce = secrets.token_hex(12)
    digest = args_digest(rest)
    signature = Signature(
        claim_id=claim_id,
        action=action,
        at=at,
        nonce=nonce,
        args_sha256=digest,
        mac=_mac(key, actor, claim_id, action, at, nonce, digest),
    )
    signed = actor.model_copy(update={"signature": signature})
    if isinstance(args[0], Actor):
        return [signed, *args[1:]]
    return [args[0].model_copy(update={"actor": signed})]


def refusal(key: bytes, claim_id: str, action: str, args: Sequence[Any], now: datetime) -> ApplicationError | None:
    """Why this Update's actor is not to be believed, or None when its signature holds."""
    actor, rest = _actor_and_rest(args)
    signature = actor and actor.signature
    if signature is None:
        return _refuse("unsigned_action", "the action is not signed; send it through the claims service")
    expected = _mac(key, actor, signature.claim_id, signature.action, signature.at, signature.nonce, args_digest(rest))
    if not hmac.compare_digest(expected, signature.mac) or signature.args_sha256 != args_digest(rest):
        return _refuse("forged_action", "the action's signature does not match who sent it or what it asks")
    if (signature.claim_id, signature.action) != (claim_id, action):
        return _refuse("forged_action", "the action was signed for another claim or another action")
    if abs(now - signature.at) > FRESH_FOR:
        return _refuse("stale_action", f"the action was signed at {signature.at:%Y-%m-%d %H:%M:%S} UTC; send it again")
    return None


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


class SignedActions(Interceptor):
    """The worker's check of every human action's signature, under the key it shares with the service."""

    def __init__(self, key: bytes):
        self._key = key

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        key = self._key

        class CheckSignature(WorkflowInboundInterceptor):
            def __init__(self, next: WorkflowInboundInterceptor) -> None:
                super().__init__(next)
                self._used: set[str] = set()

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                claim_id = claim_id_of(workflow.info().workflow_id)
                problem = refusal(key, claim_id, input.update, input.args, workflow.now())
                if problem is None and self._nonce(input) in self._used:
                    problem = _refuse("replayed_action", "this signed action was sent before; sign it again")
                if problem is not None:
                    raise problem
                super().handle_update_validator(input)

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                nonce = self._nonce(input)
                if nonce is not None:
                    if nonce in self._used:  # two copies passed their validators at once: the first wins
                        raise _refuse("replayed_action", "this signed action was sent before; sign it again")
                    self._used.add(nonce)
                return await super().handle_update_handler(input)

            @staticmethod
            def _nonce(input: HandleUpdateInput) -> str | None:
                actor, _ = _actor_and_rest(input.args)
                return actor and actor.signature and actor.signature.nonce

        return CheckSignature
