"""Which roles may ask for each action. The approval tiers within a role's reach are in `authority`."""

from rules.errors import DomainError
from schema.enums import Action, Role

CASEWORK = frozenset({Role.specialist, Role.lead, Role.manager, Role.director})
APPROVERS = frozenset({Role.lead, Role.manager, Role.director, Role.finance})
FINANCE = frozenset({Role.finance})
FINANCE_READERS = frozenset({Role.finance, Role.admin})
ADMIN = frozenset({Role.admin})
STAFF = frozenset(Role)

ROLES: dict[Action, frozenset[Role]] = {
    Action.open: CASEWORK,
    Action.add_evidence: CASEWORK,
    Action.complete_evidence: CASEWORK,
    Action.set_payout_details: CASEWORK,
    Action.decide: CASEWORK,
    Action.withdraw: CASEWORK,
    Action.review: APPROVERS,
    Action.settle_payout: FINANCE,
    Action.read_claims: STAFF,
    Action.read_finance: FINANCE_READERS,
    # Which rows of which claims were tampered with: an investigation, for admins only.
    Action.verify_audit: ADMIN,
}


def permit(action: Action, role: Role) -> None:
    roles = ROLES[action]
    if role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise DomainError("forbidden", f"the {role.value} role cannot do this (allowed: {allowed})")
