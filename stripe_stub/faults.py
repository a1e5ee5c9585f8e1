"""Fault injection, switched on by a test or a person (POST /_stub/faults, CLI flags, env).

    {"error_rate": 0.2,            share of /v1 requests answered 500 api_error
     "rate_limit_rate": 0.1,       share answered 429 rate_limit
     "seed": 7,                    makes the shares repeatable (one draw per request)
     "methods": ["GET", "POST"],   which requests the shares apply to
     "timeout_after_create": 1,    the next N transfers/refunds time out AFTER the money moved
     "timeout_rate": 0.0,          ... or this share of them
     "timeout_mode": "delay",      "delay": answer after timeout_seconds; "drop": cut the connection
     "timeout_seconds": 30.0,
     "drop_creates": [3, 9],       the 3rd and 9th transfer/refund created: connection cut AFTER the money moved
     "hold_creates": {"5": 3.0},   the 5th created: the money moves, the answer waits 3 s (or until the client hangs up)
     "declined_destinations": ["acct_..."],   transfers there fail: 400 account_invalid
     "empty_balance": false}       the platform balance reads 0: transfers fail balance_insufficient

Every field is optional; POST replaces the whole configuration (absent fields are off).

`drop_creates` and `hold_creates` are a plan rather than a share: they number the transfers and
refunds created since the configuration was set (1, 2, ...; replays and refused requests are not
creations), so a test knows which payout each fault hits. A creation the plan names gets that
fault and nothing else; the others go on to `timeout_after_create` and `timeout_rate`.

Faults never break idempotency: 500s and 429s are answered before the request reaches the
idempotency layer (nothing is executed or stored, so a retry with the same key runs normally);
a timed-out, dropped or held creation is stored with its idempotency record first, so a retry
with the same key replays the object created the first time; replays are never withheld.
"""

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    seed: int | None = None
    methods: list[Literal["GET", "POST"]] = ["GET", "POST"]
    timeout_after_create: int = Field(0, ge=0)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    timeout_mode: Literal["delay", "drop"] = "delay"
    timeout_seconds: float = Field(30.0, ge=0)
    declined_destinations: list[str] = []
    empty_balance: bool = False
    drop_creates: list[Annotated[int, Field(ge=1)]] = []
    hold_creates: dict[Annotated[int, Field(ge=1)], Annotated[float, Field(ge=0)]] = {}


class Timeout(BaseModel):
    mode: Literal["delay", "drop"]
    seconds: float


class Faults:
    def __init__(self, config: FaultConfig | dict | None = None):
        self._lock = threading.Lock()
        self._in_flight = 0  # requests under way: a new configuration does not reset it
        self.configure(config)

    def configure(self, config: FaultConfig | dict | None) -> FaultConfig:
        if not isinstance(config, FaultConfig):
            config = FaultConfig.model_validate(config or {})
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
            self._injected = {"server_error": 0, "rate_limit": 0, "timeout": 0, "declined": 0}
            self._planned = {"creations": 0, "dropped": 0, "held": 0}
            self._abandoned = 0
        return config

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config.model_copy()

    def describe(self) -> dict:
        """What GET /_stub/faults answers: the configuration and what the stub has seen and done since it was set.

        `in_flight` counts the transfer and refund creations being answered right now (a held answer
        included), so a test can strike while a payout waits on the provider; `abandoned`, the
        withheld answers (a delay or a hold) whose client hung up before hearing them.
        """
        with self._lock:
            return {
                "faults": self._config.model_dump(),
                "injected": dict(self._injected),
                "planned": dict(self._planned),
                "in_flight": self._in_flight,
                "abandoned": self._abandoned,
            }

    @contextmanager
    def creating(self) -> Iterator[None]:
        """Around one transfer or refund creation request, from its arrival to its answer."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def abandoned(self) -> None:
        """A withheld answer lost its client."""
        with self._lock:
            self._abandoned += 1

    def random_failure(self, method: str) -> Literal["server_error", "rate_limit"] | None:
        """One draw per /v1 request: a 500, a 429, or nothing."""
        with self._lock:
            c = self._config
            if method not in c.methods or (c.error_rate == 0 and c.rate_limit_rate == 0):
                return None
            draw = self._random.random()
            if draw < c.error_rate:
                outcome = "server_error"
            elif draw < c.error_rate + c.rate_limit_rate:
                outcome = "rate_limit"
            else:
                return None
            self._injected[outcome] += 1
            return outcome

    def after_create(self) -> Timeout | None:
        """Asked once per transfer or refund just created (never for a replay): how to withhold its answer."""
        with self._lock:
            c = self._config
            self._planned["creations"] += 1
            number = self._planned["creations"]
            if number in c.drop_creates:
                self._planned["dropped"] += 1
                return Timeout(mode="drop", seconds=c.timeout_seconds)
            if number in c.hold_creates:
                self._planned["held"] += 1
                return Timeout(mode="delay", seconds=c.hold_creates[number])
            if c.timeout_after_create > 0:
                self._config = c.model_copy(update={"timeout_after_create": c.timeout_after_create - 1})
            elif not (c.timeout_rate > 0 and self._random.random() < c.timeout_rate):
                return None
            self._injected["timeout"] += 1
            return Timeout(mode=c.timeout_mode, seconds=c.timeout_seconds)

    def declines(self, destination: str) -> bool:
        with self._lock:
            declined = destination in self._config.declined_destinations
            if declined:
                self._injected["declined"] += 1
            return declined

    @property
    def empty_balance(self) -> bool:
        with self._lock:
            return self._config.empty_balance
