"""Trend and risk signal rules as versioned data (schema/policies/signals-v*.json), and the signals found.

They live beside the claim policy, not in it: a claim keeps the policy version it was opened under,
while signals look across claims and are tuned on their own; a new file is a new version.
"""

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

POLICIES = Path(__file__).parent / "policies"
CURRENT = "signals-v1"


class Windowed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: int = Field(ge=1, le=3660)
    min_claims: int = Field(ge=2)


class TypeSurge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weeks: int = Field(ge=2, le=52)
    factor: float = Field(gt=1)
    min_count: int = Field(ge=1)


class NearTierLimit(Windowed):
    within_percent: float = Field(gt=0, lt=100)


class SignalRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    pro_claims: Windowed
    repeat_customer: Windowed
    type_surge: TypeSurge
    near_tier_limit: NearTierLimit
    project_claims: Windowed


def load_signal_rules(version: str = CURRENT) -> SignalRules:
    return SignalRules.model_validate(json.loads((POLICIES / f"{version}.json").read_text()))


class Signal(BaseModel):
    rule: str
    subject: str  # the pro, customer, claim type, specialist or project it is about
    count: int
    threshold: str
    detail: str
    claim_ids: list[str]


class SignalList(BaseModel):
    at: str
    rules_version: str
    signals: list[Signal]
