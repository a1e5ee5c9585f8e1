"""A claim's severity: proposed at intake from the policy's rules, changed by whoever works the claim."""

import re

from rules.errors import DomainError
from schema.claims import ClaimRequest
from schema.enums import Severity
from schema.policy import Policy


def most_urgent(*found: Severity | None) -> Severity:
    """`s1` is the most urgent; the values sort that way."""
    return min(s for s in found if s is not None)


def propose(policy: Policy, request: ClaimRequest) -> Severity | None:
    """The severity the policy proposes for a new claim: the type's default, raised by the amount and by keywords
    of the description. None under a policy without severity rules."""
    rules = policy.severity
    if rules is None:
        return None
    found = [rules.default.get(request.type, Severity.s4)]
    found += [t.severity for t in rules.amount if request.amount_cents >= t.at_least_cents]
    words = set(re.findall(r"[a-z]+", request.description.lower()))
    found += [severity for severity, keywords in rules.keywords.items() if words & {k.lower() for k in keywords}]
    return most_urgent(*found)


def check_change(policy: Policy, current: Severity | None, new: Severity) -> None:
    if policy.severity is None:
        raise DomainError("invalid_state", f"claims under policy {policy.version} have no severity")
    if current == new:
        raise DomainError("unchanged", f"the claim is already {new.value}")
