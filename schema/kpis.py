"""The KPI report: what the operation did over a range of UTC days, in total and broken down."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel


class Breakdown(StrEnum):
    none = "none"
    type = "type"
    channel = "channel"
    tier = "tier"
    specialist = "specialist"
    week = "week"


class CycleTime(BaseModel):
    """Seconds from one milestone to the next, over the claims that reached the second in the period."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None


class Amounts(BaseModel):
    """Money of one currency: claimed (claims opened), approved (claims approved), paid (payouts paid)."""

    currency: str
    claimed_cents: int
    approved_cents: int
    paid_cents: int


class Figures(BaseModel):
    """Every figure of the report, for one group (or all of them)."""

    group: str
    label: str
    opened: int
    resolved: int
    paid: int
    denied: int
    withdrawn: int
    closed_no_evidence: int
    payout_cancelled: int
    mediated: int = 0  # resolved by mediation; digests kept before it was counted have none
    cycle_times: dict[str, CycleTime]
    sla_breaches: dict[str, int]
    resolved_with_breach: int
    breach_share: float | None
    first_reviews: int
    approved_at_first_review: int
    first_review_approval_rate: float | None
    reviews: int
    sent_back: int
    send_back_rate: float | None
    amounts: list[Amounts]
    paid_to_claimed_ratio: float | None
    denials_by_reason: dict[str, int]
    payout_failures: int
    payout_failures_by_code: dict[str, int]
    discrepancies_by_kind: dict[str, int]


class KpiReport(BaseModel):
    date_from: date
    date_to: date
    by: Breakdown
    total: Figures
    groups: list[Figures]
    definitions: dict[str, str]
