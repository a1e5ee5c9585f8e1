"""What a service action needs: the Temporal client, the database, the policy for new claims, the evidence store,
and the keys and clock it signs people's actions with and verifies the audit chain with."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exc as db_errors
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from schema.names import TASK_QUEUE
from schema.policy import Policy
from service.evidence import EvidenceStore

# Errors that mean Temporal or the database cannot be reached right now: worth trying again later.
OUTAGES = (
    RPCError,
    RPCTimeoutOrCancelledError,
    db_errors.OperationalError,
    db_errors.InterfaceError,
    db_errors.TimeoutError,
)


async def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    client: Client
    sessions: sessionmaker
    policy: Policy
    evidence: EvidenceStore
    signing_key: bytes
    task_queue: str = TASK_QUEUE
    # When an action is signed: the wall clock, or a test server's clock that time-skips.
    clock: Callable[[], Awaitable[datetime]] = wall_clock
    audit_key: str = ""  # empty: this process cannot verify the audit chain
    # The shared secret a mail provider sends with raw messages to POST /inbound/email; empty: that route is off.
    inbound_secret: str = ""
