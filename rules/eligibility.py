"""Whether a claim can be opened at all, and whether it can be paid: filing window, paid project, duplicates."""

from dataclasses import dataclass
from datetime import date

from rules.errors import DomainError
from schema.claims import ClaimOpen
from schema.policy import Policy


@dataclass(frozen=True)
class PriorClaims:
    """What the records say of earlier claims that touch a new one."""

    paid_on_project: int = 0
    open_on_project_of_type: int = 0
    by_customer_recently: int = 0  # opened within the policy's repeat-customer window
    against_pro: int = 0


def check_request(req: ClaimOpen, policy: Policy, today: date) -> None:
    """Refuse a claim this programme does not take at all."""
    if req.currency not in policy.currencies:
        raise DomainError(
            "unsupported_currency", f"claims are paid in {', '.join(policy.currencies)}, not {req.currency}"
        )
    if req.amount_cents > policy.max_claim_amount_cents:
        raise DomainError("amount_too_large", "the amount claimed is above any amount this programme handles")
    if req.incident_date > today:
        raise DomainError("incident_in_future", "the incident date is in the future")


def eligibility_issues(req: ClaimOpen, policy: Policy, today: date, prior: PriorClaims) -> list[str]:
    """What stops a claim from being paid; such a claim is opened, and can only be denied."""
    issues = []
    if (today - req.incident_date).days > policy.claim_types[req.type].filing_window_days:
        issues.append("outside_filing_window")
    if prior.paid_on_project:
        issues.append("project_already_paid")
    if prior.open_on_project_of_type:
        issues.append("duplicate_claim")
    return issues
