"""The claim policy as versioned data: caps, filing windows, authority limits, timers.

A claim carries the policy it was opened under (inside its workflow input and by version in the
database), so a new policy file never changes the rules for claims already open.
"""

import json
import os
from datetime import timedelta
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from schema.enums import ApprovalTier, ClaimType, Role, Severity

POLICY_DIR = Path(__file__).parent / "policies"


class ClaimTypeRule(BaseModel):
    cap_cents: int = Field(gt=0)
    filing_window_days: int = Field(gt=0)


class EvidenceRule(BaseModel):
    window_hours: int = Field(gt=0)
    reminder_hours: list[int]


class SlaRule(BaseModel):
    decision_hours: int = Field(gt=0)
    approval_hours: int = Field(gt=0)


class RiskRule(BaseModel):
    repeat_customer_days: int
    pro_claims_threshold: int
    near_cap_percent: int


class AmountThreshold(BaseModel):
    at_least_cents: int = Field(gt=0)
    severity: Severity


class SeverityRules(BaseModel):
    """How a claim's severity is proposed at intake, and the SLAs each severity has."""

    default: dict[ClaimType, Severity]
    # An amount at or above a threshold raises the severity to at least the threshold's.
    amount: list[AmountThreshold] = []
    # A whole word of the description (case ignored) raises the severity to at least the one it is listed under.
    keywords: dict[Severity, list[str]] = {}
    sla_hours: dict[Severity, SlaRule]


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    currencies: list[str]
    max_claim_amount_cents: int = Field(gt=0)
    claim_types: dict[ClaimType, ClaimTypeRule]
    authority_cents: dict[Role, int]
    denial_needs_tier: ApprovalTier
    evidence: EvidenceRule
    sla: SlaRule
    risk: RiskRule
    # Days the pro has for their statement once asked; absent (v1, v2): the claim has no such step.
    pro_statement_days: int | None = Field(default=None, gt=0)
    # Severity rules and the SLAs per severity; absent (v1..v3): every claim has the policy's one SLA.
    severity: SeverityRules | None = None
    # The latest follow-up day a mediated agreement may set, in days from when it is recorded; absent (v1..v4):
    # claims have no mediation.
    mediation_max_days: int | None = Field(default=None, gt=0)

    def cap(self, claim_type: ClaimType) -> int:
        return self.claim_types[claim_type].cap_cents

    def evidence_window(self) -> timedelta:
        return timedelta(hours=self.evidence.window_hours)

    def reminder_offsets(self) -> list[timedelta]:
        return [timedelta(hours=h) for h in sorted(self.evidence.reminder_hours)]

    def _sla(self, severity: Severity | None) -> SlaRule:
        if severity is not None and self.severity is not None and severity in self.severity.sla_hours:
            return self.severity.sla_hours[severity]
        return self.sla

    def decision_sla(self, severity: Severity | None = None) -> timedelta:
        return timedelta(hours=self._sla(severity).decision_hours)

    def approval_sla(self, severity: Severity | None = None) -> timedelta:
        return timedelta(hours=self._sla(severity).approval_hours)

    def pro_statement_window(self) -> timedelta | None:
        return timedelta(days=self.pro_statement_days) if self.pro_statement_days else None


@cache
def load_policy(version: str | None = None) -> Policy:
    """The named policy version, or the current one (`GUARANTEE_POLICY` file, else the newest)."""
    if version is None:
        override = os.environ.get("GUARANTEE_POLICY")
        if override:
            return Policy.model_validate_json(Path(override).read_text())
        files = sorted(POLICY_DIR.glob("v*.json"), key=lambda p: int(p.stem[1:]))
        return Policy.model_validate_json(files[-1].read_text())
    path = POLICY_DIR / f"{version}.json"
    if not path.exists():
        raise LookupError(f"unknown policy version {version!r}")
    return Policy.model_validate(json.loads(path.read_text()))
