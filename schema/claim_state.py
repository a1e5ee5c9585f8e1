"""The claim workflow's state: one declared model, as Temporal's samples keep it (safe_message_handlers).

The rules read it; only the workflow changes it.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel

from schema.claims import Actor, DecisionRequest, PayoutDetailsRef
from schema.enums import ApprovalTier, ClaimStatus, HoldReason, Severity


class ClaimState(BaseModel):
    status: ClaimStatus = ClaimStatus.evidence_collection
    opened: bool = False
    seq: int = 0
    evidence_count: int = 0
    customer_evidence: bool = False
    round: int = 0
    decision: DecisionRequest | None = None
    decided_by: str | None = None
    tier: ApprovalTier | None = None
    approved_by: list[Actor] = []
    payout_attempt: int = 0
    payout: PayoutDetailsRef | None = None
    payout_set_by: str | None = None
    owner: str | None = None  # set when a lead reassigns the casework
    # The current wait (its key names the round and tier it waits for) and when it ends, kept so a
    # step retried after a failed write waits for the same deadline; and the last deadline handled.
    due_key: str | None = None
    due_at: datetime | None = None
    handled_due: datetime | None = None
    stuck_count: int = 0
    # Evidence from the pro so far; the pro's statement asked for (how often, and until when, while waiting).
    pro_evidence: int = 0
    pro_requests: int = 0
    pro_due: datetime | None = None
    # How urgent the claim is (policies with severity rules only): its SLAs follow it.
    severity: Severity | None = None
    # A legal hold: why and since when (None: not held); the time spent on hold so far, by which waits are
    # extended; and whether a release after an injury or legal-threat hold asks a legal approval before paying.
    held: HoldReason | None = None
    held_at: datetime | None = None
    held_for: timedelta = timedelta(0)
    due_held_for: timedelta = timedelta(0)  # `held_for` when the current wait began
    needs_legal: bool = False
    # A mediated agreement being followed up: the end of its follow-up day (None: no agreement waits).
    mediation_due: datetime | None = None
    mediation_evidence: int = 0  # `evidence_count` when the agreement was recorded
    # Set by `workflow.patched` gates: claims opened before a change keep behaving as they did.
    lean: bool = False  # `patched("lean-history")`: events recorded by local activities, and every gate below on
    local_mail: bool = False  # `patched("local-mail")`: mail sent by local activities
    together: bool = False  # `patched("record-together")`: an event and the one that always follows it, one write
    pays_on_approval: bool = False  # `patched("approval-starts-payout")`: the last approval and the payout start, too
    needs_payout_details: bool = True
    status_leads_record: bool = True
    destination_checks: bool = True
    assignee_checks: bool = True
    mail_out: bool = True
    severity_rules: bool = False  # `patched("severity")` under a policy with severity rules
    holds: bool = False  # `patched("legal-hold")`
    mediation: bool = False  # `patched("mediation")`

    @property
    def decided_amount(self) -> int:
        return (self.decision.amount_cents or 0) if self.decision else 0
