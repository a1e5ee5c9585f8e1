"""What one running stub holds: its persisted store, its faults, its clock and its settings."""

import os
from dataclasses import dataclass, field

from stack.config import STUB_API_KEY
from stripe_stub.clock import Clock
from stripe_stub.faults import FaultConfig, Faults
from stripe_stub.idempotency import DEFAULT_TTL
from stripe_stub.operations import Context
from stripe_stub.store import Store


@dataclass
class Stub:
    store: Store
    faults: Faults = field(default_factory=Faults)
    clock: Clock = field(default_factory=Clock)
    idempotency_ttl: float = DEFAULT_TTL
    api_key: str = STUB_API_KEY  # the key its admin routes (/_stub/...) need; /v1 takes any sk_test_ key

    @classmethod
    def open(
        cls,
        state_path: str | os.PathLike,
        *,
        initial_balance: dict[str, int] | None = None,
        faults: FaultConfig | dict | None = None,
        idempotency_ttl: float = DEFAULT_TTL,
        api_key: str = STUB_API_KEY,
    ) -> "Stub":
        """The stub whose state lives in `state_path` (created with `initial_balance` if new)."""
        return cls(
            store=Store(state_path, initial_balance=initial_balance),
            faults=Faults(faults),
            idempotency_ttl=idempotency_ttl,
            api_key=api_key,
        )

    def context(self) -> Context:
        return Context(now=self.clock.now(), faults=self.faults)
