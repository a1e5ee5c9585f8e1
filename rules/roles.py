"""Which roles may ask for each action, and who may work a given claim.

The approval tiers within a role's reach are in `authority`.
"""

from rules.errors import DomainError
from schema.claims import Actor, EvidenceAdd
from schema.enums import STAFF_ROLES, Action, EvidenceSource, Role

CASEWORK = frozenset({Role.specialist, Role.lead, Role.manager, Role.director})
# Legal approves only claims released from an injury or legal-threat hold (an extra tier: `authority`).
APPROVERS = frozenset({Role.lead, Role.manager, Role.director, Role.finance, Role.legal})
LEGAL = frozenset({Role.legal})
FINANCE = frozenset({Role.finance})
FINANCE_READERS = frozenset({Role.finance, Role.admin})
LEADS = frozenset({Role.lead, Role.manager, Role.director})
# The Temporal UI shows every claim at once, outside the API's reads: those who oversee casework, and admin.
HISTORY_READERS = frozenset({Role.lead, Role.manager, Role.director, Role.admin})
ADMIN = frozenset({Role.admin})
STAFF = frozenset(STAFF_ROLES)
PARTY = frozenset({Role.party})  # a customer or pro, through an evidence link: evidence only

ROLES: dict[Action, frozenset[Role]] = {
    Action.open: CASEWORK,
    Action.add_evidence: CASEWORK | PARTY,
    Action.complete_evidence: CASEWORK,
    Action.set_payout_details: CASEWORK,
    Action.decide: CASEWORK,
    Action.withdraw: CASEWORK,
    Action.review: APPROVERS,
    Action.settle_payout: FINANCE,
    Action.assign: LEADS,
    Action.read_claims: STAFF,
    Action.read_finance: FINANCE_READERS,
    Action.read_history: HISTORY_READERS,
    # Which rows of which claims were tampered with: an investigation, for admins only.
    Action.verify_audit: ADMIN,
    # People, their roles, tokens and passwords (the web's admin pages; the command line works on the database).
    Action.manage_users: ADMIN,
    # A referral is asked by whoever works the claim, and taken and answered by anyone on staff but its asker.
    Action.refer: CASEWORK,
    Action.handle_referral: STAFF,
    # The KPI report names specialists and repeat customers and pros: for leads and above, finance and admin.
    Action.read_kpis: LEADS | FINANCE_READERS,
    # How urgent a claim is: judged by whoever works it.
    Action.set_severity: CASEWORK,
    # A legal hold: put on by whoever works the claim (a specialist) or a lead and above; released by legal only.
    Action.hold: CASEWORK,
    Action.release_hold: LEGAL,
    # An agreement between the parties, and what the customer says of it: the casework of whoever works the claim.
    Action.mediate: CASEWORK,
    Action.settle_mediation: CASEWORK,
}


def permit(action: Action, role: Role) -> None:
    roles = ROLES[action]
    if role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise DomainError("forbidden", f"the {role.value} role cannot do this (allowed: {allowed})")


def check_casework(assignee: str, actor: Actor) -> None:
    """Only the claim's assignee, or a lead and above, works a claim; every staff role may still read it."""
    if actor.role not in LEADS and actor.user_id != assignee:
        raise DomainError("not_assignee", f"the claim is assigned to {assignee}; a lead can reassign it to you")


def check_party_evidence(actor: Actor, evidence: EvidenceAdd) -> None:
    """A party (by an evidence link or by email) adds evidence as the customer or the pro, never as a specialist."""
    if not actor.user_id.startswith(("link:", "mail:")):
        raise DomainError("forbidden", "only an evidence link or an email acts as a customer or a pro")
    if evidence.source not in (EvidenceSource.customer, EvidenceSource.pro):
        raise DomainError("forbidden", "evidence through a link comes from the customer or the pro")


def check_assignee(role: Role) -> None:
    """Casework goes to someone who does casework."""
    if role not in CASEWORK:
        raise DomainError(
            "invalid_assignee", f"a {role.value} does no casework; assign the claim to a specialist or a lead"
        )


def check_keeps_an_admin(name: str, role: Role, role_after: Role | None, own: bool, other_admins: int) -> None:
    """A change that deactivates a user (`role_after` None) or gives them another role.

    Nobody deactivates themselves or takes the admin role from themselves (another admin does it),
    and the last active admin stays an active admin: there is always someone who manages people."""
    if own and role_after is None:
        raise DomainError("own_account", "you cannot deactivate yourself; another admin can")
    if role != Role.admin or role_after == Role.admin:
        return
    if own:
        raise DomainError("own_account", "you cannot take the admin role from yourself; another admin can")
    if other_admins == 0:
        raise DomainError("last_admin", f"{name} is the last active admin: make someone else an admin first")
