"""Risk flags: facts an approver should see. They inform; they never deny a claim."""

from datetime import datetime, timedelta

from rules.eligibility import PriorClaims
from schema.claims import ClaimOpen
from schema.policy import Policy


def repeat_customer_since(policy: Policy, now: datetime) -> datetime:
    """Claims by the same customer opened since then make a new one a repeat."""
    return now - timedelta(days=policy.risk.repeat_customer_days)


def risk_flags(req: ClaimOpen, policy: Policy, prior: PriorClaims) -> list[str]:
    flags = []
    if prior.by_customer_recently:
        flags.append("repeat_customer")
    if prior.against_pro >= policy.risk.pro_claims_threshold:
        flags.append("repeat_pro")
    if req.amount_cents * 100 >= policy.cap(req.type) * policy.risk.near_cap_percent:
        flags.append("near_cap")
    return flags
