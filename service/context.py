"""What a service action needs: the Temporal client, the database, the policy for new claims, the evidence store,
and the audit chain's key (to verify it)."""

from dataclasses import dataclass

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


@dataclass
class Context:
    client: Client
    sessions: sessionmaker
    policy: Policy
    evidence: EvidenceStore
    task_queue: str = TASK_QUEUE
    audit_key: str = ""  # empty: this process cannot verify the audit chain
