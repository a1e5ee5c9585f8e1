"""ClaimWorkflow: one guarantee claim from opening to its end, with its timers and human actions.

Every human action is an Update. The worker first checks the service's signature on its actor
(`signed_actions`); then the Update's validator asks `rules` before anything reaches history; the
handler takes the lock, asks again (another Update may have won the race), records the event
through an activity and only then answers, so the next read of the database shows it. A write
that fails for good refuses the action and releases the lock; a step of the process itself that
cannot be recorded leaves the claim visibly stuck and is tried again later.

The claim's state is one declared model (`ClaimState`). Updates added from now on take one input
model, so a field can be added later without breaking running claims; the existing ones keep
their signatures, so recorded histories replay.
"""

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.claims import ClaimActivities
    from activities.mail import MAIL_ATTEMPTS, MailActivities
    from activities.payouts import PayoutActivities
    from rules import authority, decisions, holds, mediation, payouts, roles, severity, states
    from rules.errors import DomainError
    from schema.claim_state import ClaimState
    from schema.claims import (
        Actor,
        ApprovalRequest,
        Assignment,
        ClaimStart,
        DecisionRequest,
        EvidenceAdd,
        HoldPlacement,
        HoldRelease,
        MediationAgreement,
        MediationSettlement,
        PayoutDetailsRef,
        ProStatementAsk,
        SeverityChange,
        WithdrawRequest,
    )
    from schema.enums import (
        LEGAL_REVIEW_HOLDS,
        Action,
        ApprovalVerdict,
        ClaimStatus,
        DecisionOutcome,
        EvidenceSource,
        MediationOutcome,
        Role,
        Severity,
    )
    from schema.events import ClaimEvent, MailOrder, Notification, PayoutOrder, StuckMark
    from schema.money import format_cents
    from stack import search_attributes as sa

# Short enough that an activity lost with a killed worker is retried soon; a database write or
# a provider call (its client times out at 20 s) takes far less.
DB_TIMEOUT = timedelta(seconds=10)
PAYOUT_TIMEOUT = timedelta(seconds=30)
# Transient failures are retried for about 8 minutes (writes) or 2 hours (payouts); what still
# fails is refused (a person's action) or leaves the claim stuck (a step of the process).
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=20
)
PAYOUT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5), maximum_attempts=30
)
STUCK_RETRY_EVERY = timedelta(hours=1)
# Mail is retried for about an hour and a half; a send that fails for good is logged, never stops the claim.
MAIL_TIMEOUT = timedelta(seconds=60)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=10), maximum_attempts=MAIL_ATTEMPTS
)
# The notifications mailed to the claim's customer or pro (the rest go to staff queues, in the app only):
# the evidence reminders, the end of the claim for the customer (closed for lack of evidence, denied,
# paid), and the pro's statement request and its reminder.
PARTY_MAIL = frozenset(
    {
        "evidence_reminder",
        "claim_closed",
        "claim_denied",
        "payout_sent",
        "pro_statement_request",
        "pro_statement_reminder",
        "mediation_agreed",
        "claim_resolved",
    }
)
MARK_RETRY = RetryPolicy(maximum_attempts=5)


def check(rule: Callable[..., None], *args) -> None:
    """Ask a rule; its refusal becomes the Update's failure, with the rule's code as the failure type."""
    try:
        rule(*args)
    except DomainError as err:
        raise ApplicationError(err.message, type=err.code, non_retryable=True) from None


def failure_of(err: ActivityError) -> tuple[str, str]:
    """The code and message of an activity that failed for good."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type, cause.message
    return "not_recorded", str(cause or err)


@workflow.defn
class ClaimWorkflow:
    @workflow.init
    def __init__(self, start: ClaimStart) -> None:
        self.start = start
        self.policy = start.policy
        self.state = ClaimState()
        self.lock = asyncio.Lock()
        self.background: list[asyncio.Task] = []  # mail being sent, the wait for the pro's statement
        self.pending: list[tuple[ClaimEvent, dict, str | None]] = []  # events to write, each with its undo and wait
        self.written = 0  # the sequence number of the last event written

    @workflow.run
    async def run(self, start: ClaimStart) -> ClaimStatus:
        state = self.state
        # Claims started from here on carry one marker for every change below (each of them on), record their
        # events through local activities (idempotent by key, so a retry is safe) and upsert search attributes
        # only when one changes: a history half as long. Claims started before replay each change's own marker.
        state.lean = workflow.patched("lean-history")
        patched = lambda change: state.lean or workflow.patched(change)  # noqa: E731
        # Claims opened before payout details existed are approved without them, as they were.
        state.needs_payout_details = patched("payout-details-required")
        # A new status is visible to validators while it is being recorded (under the lock), so a
        # person who reads it from the database and acts at once is never refused as too early.
        state.status_leads_record = patched("status-leads-record")
        # Changing where the money goes voids the decision, and whoever set it may not approve.
        state.destination_checks = patched("destination-maker-checker")
        # Only the claim's assignee, or a lead and above, works the claim.
        state.assignee_checks = patched("casework-by-assignee")
        # The customer's and the pro's notifications are mailed to them.
        state.mail_out = patched("mail-out")
        # A severity shortens the SLAs, and an s1 claim tells the lead at once: only under a policy with severity rules.
        state.severity_rules = self.policy.severity is not None and patched("severity")
        if state.severity_rules:
            state.severity = start.severity
        # Legal holds: the claim's deadlines stop while held, and no payout starts.
        state.holds = patched("legal-hold")
        # Mediated outcomes: an agreement between the parties is followed up, and the claim may end without a payout.
        state.mediation = patched("mediation")
        # Claims started from here on record an event with the one that always follows it (the details given with
        # the claim, the notice of a decision or a payment) by one local activity, in one transaction: one turn at
        # the database. Its marker stands for `local-mail` too, mail through local activities in the workflow task
        # that asks (where an activity of its own took three events and a workflow task of three more).
        # Claims started from here on write the approval that completes a claim's approvals with the start of its
        # payout (unless the claim is on legal hold), by one local activity. Its marker stands for the two above.
        state.pays_on_approval = workflow.patched("approval-starts-payout")
        state.together = state.pays_on_approval or workflow.patched("record-together")
        state.local_mail = state.together or workflow.patched("local-mail")
        await self._record(
            "opened",
            actor=start.opened_by,
            to_status=ClaimStatus.evidence_collection,
            opened=start,
            defer=start.payout is not None,
        )
        if start.payout is not None:  # given with the claim, so opening needs no Update of its own for them
            await self._record_payout_details(start.opened_by, start.payout)
        state.opened = True
        if state.severity == Severity.s1:
            async with self.lock:
                await self._retried(lambda: self._notify_s1("s1_opened", "A severity s1 claim was opened."))
        while not state.status.is_final:
            try:
                await self._step()
            except ActivityError as err:
                await self._stuck(err)
        await workflow.wait_condition(workflow.all_handlers_finished)
        while self.background:  # the last mails go out before the claim's process ends
            await self.background.pop(0)
        return state.status

    async def _step(self) -> None:
        """What the claim's state waits for or does next."""
        status = self.state.status
        if status == ClaimStatus.evidence_collection:
            await self._collect_evidence()
        elif status == ClaimStatus.specialist_review:
            await self._await_decision()
        elif status == ClaimStatus.pending_approval:
            await self._await_approval()
        elif status == ClaimStatus.approved:
            if self.state.held is not None:  # no payout starts while the claim is on legal hold
                await workflow.wait_condition(lambda: self.state.held is None or self.state.status != status)
                return
            await self._start_payout()
        elif status == ClaimStatus.paying:
            await self._pay()
        elif status == ClaimStatus.mediation:
            await self._await_mediation()
        else:
            await workflow.wait_condition(lambda: self.state.status != ClaimStatus.payout_failed)

    # Updates: one per human action.

    @workflow.update
    async def wait_opened(self) -> ClaimStatus:
        """Answers once the claim is in the database, so the opener can read it back."""
        await workflow.wait_condition(lambda: self.state.opened)
        return self.state.status

    @workflow.update
    async def add_evidence(self, actor: Actor, evidence: EvidenceAdd) -> ClaimStatus:
        state = self.state
        async with self._locked():
            self._validate_add_evidence(actor, evidence)
            await self._record(
                "evidence_added",
                actor=actor,
                evidence=evidence,
                evidence_late=state.status != ClaimStatus.evidence_collection,
                reason=evidence.note and evidence.note[:200],
                changes={
                    "evidence_count": state.evidence_count + 1,
                    "customer_evidence": state.customer_evidence or evidence.source == EvidenceSource.customer,
                    "pro_evidence": state.pro_evidence + (evidence.source == EvidenceSource.pro),
                },
            )
        return state.status

    @add_evidence.validator
    def _validate_add_evidence(self, actor: Actor, evidence: EvidenceAdd) -> None:
        # A customer or pro through an evidence link works no claim: they may add their evidence only.
        if actor.role == Role.party:
            check(roles.check_party_evidence, actor, evidence)
        else:
            self._check_casework(actor)
        check(states.require, Action.add_evidence, self.state.status)

    @workflow.update
    async def add_payout_details(self, actor: Actor, ref: PayoutDetailsRef) -> ClaimStatus:
        """The details themselves are in the database; the workflow keeps only their reference."""
        state = self.state
        async with self._locked():
            self._validate_add_payout_details(actor, ref)
            if state.destination_checks and state.status == ClaimStatus.pending_approval:
                changes = {"payout": ref, "payout_set_by": actor.user_id}
                reason = f"{ref.method.value} #{ref.id}; the decision and its approvals are void"
                await self._decide_again(actor, reason, changes)
            else:
                await self._record_payout_details(actor, ref)
        return state.status

    async def _record_payout_details(self, actor: Actor, ref: PayoutDetailsRef) -> None:
        await self._record(
            "payout_details_added",
            actor=actor,
            reason=f"{ref.method.value} #{ref.id}",
            changes={"payout": ref, "payout_set_by": actor.user_id},
            patch={"payout_details_id": ref.id, "payout_details_by": actor.user_id},
            payout_details_id=ref.id,
        )

    @add_payout_details.validator
    def _validate_add_payout_details(self, actor: Actor, ref: PayoutDetailsRef) -> None:
        self._check_casework(actor)
        check(payouts.check_payout_details, self.start, self.state, ref)

    @workflow.update
    async def retry_payout(self, actor: Actor, reason: str, ref: PayoutDetailsRef | None) -> ClaimStatus:
        """Finance pays a refused payout again, as a new attempt; to new details only after a new decision."""
        state = self.state
        async with self._locked():
            self._validate_retry_payout(actor, reason, ref)
            to = f" (to new payout details #{ref.id}, {ref.method.value})" if ref else ""
            if ref and state.destination_checks:
                changes = {"payout": ref, "payout_set_by": actor.user_id}
                await self._decide_again(actor, f"{reason}{to}; decide and approve again", changes, "payout_retried")
            else:
                await self._record(
                    "payout_retried",
                    actor=actor,
                    to_status=ClaimStatus.approved,
                    reason=reason + to,
                    changes={"payout": ref or state.payout},
                    patch=ref and {"payout_details_id": ref.id},
                    payout_details_id=ref and ref.id,
                )
        return state.status

    @retry_payout.validator
    def _validate_retry_payout(self, actor: Actor, reason: str, ref: PayoutDetailsRef | None) -> None:
        check(payouts.check_settlement, self.start, self.state, actor, ref)

    @workflow.update
    async def cancel_payout(self, actor: Actor, reason: str) -> ClaimStatus:
        async with self._locked():
            self._validate_cancel_payout(actor, reason)
            await self._record("payout_cancelled", actor=actor, to_status=ClaimStatus.payout_cancelled, reason=reason)
        return self.state.status

    @cancel_payout.validator
    def _validate_cancel_payout(self, actor: Actor, reason: str) -> None:
        check(payouts.check_settlement, self.start, self.state, actor, None)

    @workflow.update
    async def complete_evidence(self, actor: Actor) -> ClaimStatus:
        async with self._locked():
            self._validate_complete_evidence(actor)
            await self._request_decision("evidence_completed", actor)
        return self.state.status

    @complete_evidence.validator
    def _validate_complete_evidence(self, actor: Actor) -> None:
        self._check_casework(actor)
        check(states.require, Action.complete_evidence, self.state.status)

    @workflow.update
    async def decide(self, actor: Actor, decision: DecisionRequest) -> ClaimStatus:
        state = self.state
        async with self._locked():
            self._validate_decide(actor, decision)
            tier = authority.required_tier(self.policy, decision)
            await self._record(
                "decided",
                actor=actor,
                to_status=ClaimStatus.pending_approval,
                decision=decision,
                reason=decision.reason_code or decision.rationale[:200],
                changes={
                    "round": state.round + 1,
                    "decision": decision,
                    "decided_by": actor.user_id,
                    "approved_by": [],
                    "tier": tier,
                },
                patch={
                    "required_tier": tier.value,
                    "decided_by": actor.user_id,
                    "approved_amount_cents": decision.amount_cents,
                },
                defer=True,
            )
            await self._notify_approvers("approval_requested")
        return state.status

    @decide.validator
    def _validate_decide(self, actor: Actor, decision: DecisionRequest) -> None:
        self._check_casework(actor)
        check(decisions.check_decision, self.start, self.state, decision)

    @workflow.update
    async def review(self, actor: Actor, approval: ApprovalRequest) -> ClaimStatus:
        async with self._locked():
            self._validate_review(actor, approval)
            if approval.verdict == ApprovalVerdict.send_back:
                await self._send_back(actor, approval)
            else:
                await self._approve(actor, approval)
        return self.state.status

    @review.validator
    def _validate_review(self, actor: Actor, approval: ApprovalRequest) -> None:
        check(authority.check_approval, self.start, self.state, actor, approval)

    @workflow.update
    async def set_severity(self, change: SeverityChange) -> ClaimStatus:
        """Whoever works the claim changes its severity, with a reason; the SLAs waited on follow it."""
        state = self.state
        async with self._locked():
            self._validate_set_severity(change)
            before, after = state.severity, change.request.severity
            await self._record(
                "severity_changed",
                actor=change.actor,
                reason=f"{before and before.value} to {after.value}: {change.request.reason}"[:500],
                changes={"severity": after},
                patch={"severity": after.value},
            )
            if after == Severity.s1:
                await self._notify_s1("s1_raised", "A claim was raised to severity s1.")
        return state.status

    @set_severity.validator
    def _validate_set_severity(self, change: SeverityChange) -> None:
        check(roles.permit, Action.set_severity, change.actor.role)
        self._check_casework(change.actor)
        if not self.state.severity_rules:
            raise ApplicationError(
                f"claims under policy {self.policy.version} have no severity", type="invalid_state", non_retryable=True
            )
        check(states.require, Action.set_severity, self.state.status)
        check(severity.check_change, self.policy, self.state.severity, change.request.severity)

    @workflow.update
    async def hold(self, placement: HoldPlacement) -> ClaimStatus:
        """A legal hold: the claim's deadlines stop, with the time each had left, and no payout starts."""
        state = self.state
        async with self._locked():
            self._validate_hold(placement)
            code = placement.request.reason_code
            await self._record(
                "hold_placed",
                actor=placement.actor,
                reason=f"{code.value}: {placement.request.note}"[:500],
                changes={"held": code, "held_at": workflow.now()},
                patch={"held": True, "hold_reason": code.value},
            )
            await self._notify("tier:legal", "hold_placed", f"The claim is on legal hold ({code.value}).")
        return state.status

    @hold.validator
    def _validate_hold(self, placement: HoldPlacement) -> None:
        check(roles.permit, Action.hold, placement.actor.role)
        self._check_casework(placement.actor)
        self._require_holds()
        check(holds.check_hold, self.state)

    @workflow.update
    async def release_hold(self, release: HoldRelease) -> ClaimStatus:
        """Legal releases the hold: each deadline resumes with the time it had left. After an injury or a
        legal-threat hold, a decision to pay needs a legal approval besides its tier's."""
        state = self.state
        async with self._locked():
            self._validate_release_hold(release)
            code, paused = state.held, workflow.now() - state.held_at
            legal = state.needs_legal or code in LEGAL_REVIEW_HOLDS
            await self._record(
                "hold_released",
                actor=release.actor,
                reason=f"{code.value} hold of {paused}: {release.request.note}"[:500],
                changes={
                    "held": None,
                    "held_at": None,
                    "held_for": state.held_for + paused,
                    "handled_due": state.handled_due and state.handled_due + paused,
                    "needs_legal": legal,
                },
                patch={"held": False, "hold_reason": None},
            )
        return state.status

    @release_hold.validator
    def _validate_release_hold(self, release: HoldRelease) -> None:
        check(roles.permit, Action.release_hold, release.actor.role)
        self._require_holds()
        check(holds.check_release, self.state)

    def _require_holds(self) -> None:
        if not self.state.holds:
            raise ApplicationError(
                "this claim was opened before legal holds existed", type="invalid_state", non_retryable=True
            )

    @workflow.update
    async def mediate(self, agreement: MediationAgreement) -> ClaimStatus:
        """The customer and the pro agreed between themselves: the claim follows up until the end of the
        agreed day, and pays nothing. The terms are in the database (the event's row), never in a reason."""
        state = self.state
        async with self._locked():
            self._validate_mediate(agreement)
            request = agreement.request
            due = mediation.follow_up_due(request.follow_up_by)
            await self._record(
                "mediation_agreed",
                actor=agreement.actor,
                to_status=ClaimStatus.mediation,
                reason=f"{request.kind.value}; follow up by {request.follow_up_by}",
                mediation=request,
                mediation_due=due,
                changes={"mediation_due": due, "mediation_evidence": state.evidence_count},
            )
            await self._notify(
                self.start.request.customer_id,
                "mediation_agreed",
                f"We recorded your agreement with the pro. If it is not kept by {request.follow_up_by}, reply "
                "to this email by the end of that day; otherwise your claim closes as resolved between you.",
            )
        return state.status

    @mediate.validator
    def _validate_mediate(self, agreement: MediationAgreement) -> None:
        check(roles.permit, Action.mediate, agreement.actor.role)
        self._check_casework(agreement.actor)
        self._require_mediation()
        check(mediation.check_agreement, self.policy, self.state, agreement.request, workflow.now())

    @workflow.update
    async def settle_mediation(self, settlement: MediationSettlement) -> ClaimStatus:
        """What the customer said at the follow-up: kept ends the claim without a payout; broken sends it back
        to review, where the specialist decides with the agreement on the claim."""
        state = self.state
        async with self._locked():
            self._validate_settle_mediation(settlement)
            request = settlement.request
            if request.outcome == MediationOutcome.kept:
                await self._resolve_by_mediation("mediation_kept", request.outcome, settlement.actor, request.note)
            else:
                await self._record(
                    "mediation_broken",
                    actor=settlement.actor,
                    to_status=ClaimStatus.specialist_review,
                    reason=request.note[:500],
                    mediation_outcome=request.outcome,
                    changes={"mediation_due": None},
                    patch={"decision_requested_at": workflow.now()},
                )
        return state.status

    @settle_mediation.validator
    def _validate_settle_mediation(self, settlement: MediationSettlement) -> None:
        check(roles.permit, Action.settle_mediation, settlement.actor.role)
        self._check_casework(settlement.actor)
        self._require_mediation()
        check(mediation.check_settlement, self.state)

    def _require_mediation(self) -> None:
        if not self.state.mediation:
            raise ApplicationError(
                "this claim was opened before mediation existed", type="invalid_state", non_retryable=True
            )

    @workflow.update
    async def withdraw(self, actor: Actor, request: WithdrawRequest) -> ClaimStatus:
        async with self._locked():
            self._validate_withdraw(actor, request)
            await self._record("withdrawn", actor=actor, to_status=ClaimStatus.withdrawn, reason=request.reason)
        return self.state.status

    @withdraw.validator
    def _validate_withdraw(self, actor: Actor, request: WithdrawRequest) -> None:
        self._check_casework(actor)
        check(states.require, Action.withdraw, self.state.status)

    @workflow.update
    async def request_pro_statement(self, ask: ProStatementAsk) -> ClaimStatus:
        """Ask the pro for their statement: mailed a signed evidence link that lasts until the deadline.

        The claim then waits, beside its other steps, for evidence from the pro or the deadline
        (`pro_statement_days` of the policy it was opened under), reminds the pro once half-way, and
        records which came first: `pro_statement_received` or `pro_statement_overdue`.

        The wait does not block the claim: the specialist may still complete the evidence and decide.
        A pro who does not answer must not hold up the customer's claim, and the specialist stays in
        charge of when enough is known; the timeline says whether the statement came and when, and
        evidence that arrives after the decision was requested is flagged as late, as always. A claim
        that ends while waiting ends the wait with it, recording nothing more.
        """
        state = self.state
        async with self._locked():
            self._validate_request_pro_statement(ask)
            due = workflow.now() + self.policy.pro_statement_window()
            await self._record(
                "pro_statement_requested",
                actor=ask.actor,
                reason=f"due {due:%Y-%m-%d %H:%M} UTC",
                changes={"pro_requests": state.pro_requests + 1, "pro_due": due},
            )
            since = state.pro_evidence
            request_key = await self._notify(
                self.start.request.pro_id,
                "pro_statement_request",
                f"Please send your statement on this claim by {due:%Y-%m-%d %H:%M} UTC.",
                party=EvidenceSource.pro,
                link_until=due,
                link_by=ask.actor.user_id,
            )
            self.background.append(asyncio.create_task(self._await_pro_statement(since, due, request_key)))
        return state.status

    @request_pro_statement.validator
    def _validate_request_pro_statement(self, ask: ProStatementAsk) -> None:
        self._check_casework(ask.actor)
        if self.policy.pro_statement_window() is None:
            raise ApplicationError(
                f"claims under policy {self.policy.version} have no pro's statement step",
                type="invalid_state",
                non_retryable=True,
            )
        if self.state.status != ClaimStatus.evidence_collection:
            raise ApplicationError(
                f"cannot ask the pro for a statement: the claim is {self.state.status.value}, not evidence_collection",
                type="invalid_state",
                non_retryable=True,
            )
        if self.state.pro_due is not None:
            raise ApplicationError(
                f"the pro was already asked; their statement is due {self.state.pro_due:%Y-%m-%d %H:%M} UTC",
                type="already_requested",
                non_retryable=True,
            )

    @workflow.update
    async def assign(self, assignment: Assignment) -> ClaimStatus:
        """A lead hands the casework to another person (the service checked they do casework)."""
        request = assignment.request
        async with self._locked():
            self._validate_assign(assignment)
            await self._record(
                "reassigned",
                actor=assignment.actor,
                reason=f"to {request.assignee}: {request.reason}"[:500],
                changes={"owner": request.assignee},
            )
        return self.state.status

    @assign.validator
    def _validate_assign(self, assignment: Assignment) -> None:
        check(roles.permit, Action.assign, assignment.actor.role)
        check(states.require, Action.assign, self.state.status)

    def _check_casework(self, actor: Actor) -> None:
        if self.state.assignee_checks:
            check(roles.check_casework, self._caseworker(), actor)

    # The process itself.

    async def _collect_evidence(self) -> None:
        state = self.state
        window = self.policy.evidence_window()
        offsets = [offset for offset in self.policy.reminder_offsets() if offset < window]
        for offset in [*offsets, window]:
            opened = self._waiting_since("evidence")  # later by the time on hold so far
            due, deadline = opened + offset, opened + window
            if state.handled_due is not None and due <= state.handled_due:
                continue  # handled before a failed write stopped this step
            if not await self._times_out(lambda: state.status != ClaimStatus.evidence_collection, due):
                return
            opened = self._waiting_since("evidence")  # the same, unless a hold moved it meanwhile
            due, deadline = opened + offset, opened + window
            async with self.lock:
                if state.status != ClaimStatus.evidence_collection:
                    return
                if due != deadline:
                    if not state.customer_evidence:
                        await self._notify(
                            self.start.request.customer_id,
                            "evidence_reminder",
                            f"Please send your evidence by {deadline:%Y-%m-%d %H:%M} UTC.",
                        )
                    state.handled_due = due
                elif state.evidence_count == 0:
                    await self._record(
                        "evidence_window_closed",
                        to_status=ClaimStatus.closed_no_evidence,
                        reason="no evidence by the deadline",
                    )
                    await self._notify(
                        self.start.request.customer_id, "claim_closed", "Your claim was closed: no evidence arrived."
                    )
                else:
                    await self._request_decision("evidence_window_closed", None)

    async def _await_pro_statement(self, since: int, due: datetime, request_key: str | None) -> None:
        """Waits for the pro's evidence or the deadline, with one reminder half-way; records which came first."""
        state = self.state
        arrived = lambda: state.pro_evidence > since  # noqa: E731
        over = lambda: arrived() or state.status.is_final  # noqa: E731
        reminder = due - (due - workflow.now()) / 2
        if await self._times_out(over, reminder, pausable=False):
            async with self.lock:
                if not over():
                    await self._retried(
                        lambda: self._notify(
                            self.start.request.pro_id,
                            "pro_statement_reminder",
                            f"A reminder: your statement on this claim is due by {due:%Y-%m-%d %H:%M} UTC.",
                            party=EvidenceSource.pro,
                            link_of=request_key,
                        )
                    )
        late = await self._times_out(over, due, pausable=False)
        async with self.lock:
            if state.status.is_final:
                return
            action, reason = (
                ("pro_statement_overdue", f"no statement from the pro by {due:%Y-%m-%d %H:%M} UTC")
                if late
                else ("pro_statement_received", "the pro's statement arrived")
            )
            await self._retried(lambda: self._record(action, reason=reason, changes={"pro_due": None}))

    async def _await_mediation(self) -> None:
        """Waits for the customer's word or the end of the follow-up day (a hold stops it, like every deadline).

        With no word by then the agreement stands and the claim ends. If evidence came in meanwhile (a reply
        from the customer, say), nobody has read it yet: the claim does not end by itself, and whoever works
        it is told to say whether the agreement was kept."""
        state = self.state
        due = state.mediation_due
        if await self._times_out(lambda: state.status != ClaimStatus.mediation, due):
            async with self.lock:
                if state.status == ClaimStatus.mediation and state.handled_due != due:
                    await self._follow_up_over(due)
        await workflow.wait_condition(lambda: state.status != ClaimStatus.mediation)

    async def _follow_up_over(self, due: datetime) -> None:
        state = self.state
        if state.evidence_count == state.mediation_evidence:
            reason = f"no complaint by {due:%Y-%m-%d %H:%M} UTC"
            await self._resolve_by_mediation("mediation_expired", MediationOutcome.expired, None, reason)
            return
        await self._record(
            "mediation_follow_up_due",
            reason="evidence arrived during the follow-up: say whether the agreement was kept",
            changes={"handled_due": due},
        )
        await self._notify(self._caseworker(), "mediation_follow_up", "New evidence: was the agreement kept?")

    async def _resolve_by_mediation(
        self, action: str, outcome: MediationOutcome, actor: Actor | None, reason: str
    ) -> None:
        await self._record(
            action,
            actor=actor,
            to_status=ClaimStatus.resolved_by_mediation,
            reason=reason[:500],
            mediation_outcome=outcome,
            changes={"mediation_due": None},
        )
        await self._notify(
            self.start.request.customer_id,
            "claim_resolved",
            "Your claim is closed: resolved between you and the pro, as you agreed.",
        )

    async def _retried(self, write: Callable) -> None:
        """A write of a step beside the claim's main one: tried until it holds, the claim marked stuck meanwhile."""
        while not self.state.status.is_final:
            try:
                await write()
                return
            except ActivityError as err:
                self.lock.release()
                try:
                    await self._stuck(err)
                finally:
                    await self.lock.acquire()

    async def _request_decision(self, action: str, actor: Actor | None) -> None:
        await self._record(
            action,
            actor=actor,
            to_status=ClaimStatus.specialist_review,
            patch={"decision_requested_at": workflow.now()},
        )

    async def _await_decision(self) -> None:
        """Waits for the specialist; past the SLA the breach is recorded and the lead told."""
        state = self.state
        in_review = state.round
        moved_on = lambda: state.round != in_review or state.status != ClaimStatus.specialist_review  # noqa: E731
        due, passed = await self._sla_wait(f"decision:{in_review}", self.policy.decision_sla, moved_on)
        if passed:
            async with self.lock:
                if state.status == ClaimStatus.specialist_review and state.round == in_review:
                    await self._record(
                        "sla_breached", reason="decision SLA", sla_breach="decision", changes={"handled_due": due}
                    )
                    await self._notify("tier:lead", "decision_overdue", "A decision is overdue on this claim.")
        await workflow.wait_condition(lambda: state.status != ClaimStatus.specialist_review)

    async def _await_approval(self) -> None:
        """Waits for the approvers; past the SLA the claim escalates to the next tier and waits again."""
        state = self.state
        in_round, tier = state.round, state.tier
        waiting = lambda: state.status == ClaimStatus.pending_approval and state.round == in_round  # noqa: E731
        done = lambda: not waiting() or state.tier != tier  # noqa: E731
        due, passed = await self._sla_wait(f"approval:{in_round}:{tier}", self.policy.approval_sla, done)
        if not passed:
            if state.handled_due == due:  # the breach was recorded before a later write failed
                await workflow.wait_condition(lambda: not waiting())
            return
        async with self.lock:
            if not waiting():
                return
            higher = authority.next_tier(state.tier)
            if higher is None:
                await self._record(
                    "sla_breached",
                    reason=f"approval SLA at {state.tier.value}",
                    sla_breach="approval",
                    changes={"handled_due": due},
                )
                await self._notify_approvers("approval_overdue")
            else:
                await self._record(
                    "escalated",
                    reason=f"approval SLA breached; escalated to {higher.value}",
                    sla_breach="approval",
                    patch={"required_tier": higher.value},
                    changes={"tier": higher},
                )
                await self._notify_approvers("approval_escalated")
                return
        await workflow.wait_condition(lambda: not waiting())

    async def _approve(self, actor: Actor, approval: ApprovalRequest) -> None:
        state = self.state
        approved_by = [*state.approved_by, actor]
        event = {"actor": actor, "approval": approval, "payout_details_id": state.payout and state.payout.id}
        if not authority.approval_complete(state.tier, approved_by, authority.needs_legal(state)):
            await self._record(
                "approval_recorded", reason=approval.note or None, changes={"approved_by": approved_by}, **event
            )
            return
        if state.decision.outcome == DecisionOutcome.deny:
            await self._record(
                "denied",
                to_status=ClaimStatus.denied,
                reason=state.decision.reason_code,
                changes={"approved_by": approved_by},
                **event,
            )
            await self._notify(
                self.start.request.customer_id, "claim_denied", f"Your claim was denied ({state.decision.reason_code})."
            )
        else:
            pays = state.pays_on_approval and state.held is None
            await self._record(
                "approved",
                to_status=ClaimStatus.approved,
                reason=approval.note or None,
                changes={"approved_by": approved_by},
                defer=pays,
                **event,
            )
            if pays:
                await self._record_payout_started()

    async def _send_back(self, actor: Actor, approval: ApprovalRequest) -> None:
        await self._record(
            "sent_back",
            actor=actor,
            to_status=ClaimStatus.specialist_review,
            approval=approval,
            reason=approval.note or None,
            changes={"tier": None},
            patch={
                "required_tier": None,
                "approved_amount_cents": None,
                "decision_requested_at": workflow.now(),
            },
        )
        self.state.decision = None

    async def _decide_again(self, actor: Actor, reason: str, changes: dict, action: str = "payout_details_added"):
        """New payout details after a decision: it and its approvals are void, and the specialist decides again."""
        await self._record(
            action,
            actor=actor,
            to_status=ClaimStatus.specialist_review,
            reason=reason,
            payout_details_id=changes["payout"].id,
            changes={**changes, "decision": None, "tier": None, "approved_by": []},
            patch={
                "required_tier": None,
                "approved_amount_cents": None,
                "decision_requested_at": workflow.now(),
                "payout_details_id": changes["payout"].id,
                "payout_details_by": actor.user_id,
            },
        )

    async def _start_payout(self) -> None:
        async with self.lock:
            if self.state.status == ClaimStatus.approved and self.state.held is None:
                await self._record_payout_started()

    async def _record_payout_started(self) -> None:
        attempt = self.state.payout_attempt + 1
        await self._record("payout_started", to_status=ClaimStatus.paying, changes={"payout_attempt": attempt})

    async def _pay(self) -> None:
        """Pays the current attempt; after a failed write it is paid again with the same idempotency key."""
        state = self.state
        amount = state.decision.amount_cents
        order = PayoutOrder(
            claim_id=self.start.claim_id,
            attempt=state.payout_attempt,
            payout_details_id=state.payout and state.payout.id,
            amount_cents=amount,
            currency=self.start.request.currency,
            at=workflow.now(),
        )
        outcome = await workflow.execute_activity_method(
            PayoutActivities.pay_claim, order, start_to_close_timeout=PAYOUT_TIMEOUT, retry_policy=PAYOUT_RETRY
        )
        async with self.lock:
            if outcome.paid:
                await self._record("paid", to_status=ClaimStatus.paid, reason=outcome.provider_ref, defer=True)
                await self._notify(
                    self.start.request.customer_id,
                    "payout_sent",
                    f"We sent you {format_cents(amount, self.start.request.currency)}.",
                )
            else:
                await self._record(
                    "payout_failed",
                    to_status=ClaimStatus.payout_failed,
                    reason=f"{outcome.failure_code}: {outcome.failure_message}",
                )
                await self._notify("tier:finance", "payout_failed", outcome.failure_message or "payout failed")

    async def _stuck(self, err: ActivityError) -> None:
        """A step could not be recorded even after retries: the claim says so, finance and admin are told,
        and the step is tried again within the hour. The lock is free meanwhile, so people's actions answer."""
        state = self.state
        code, message = failure_of(err)
        mark = StuckMark(
            claim_id=self.start.claim_id, number=state.stuck_count + 1, at=workflow.now(), reason=f"{code}: {message}"
        )
        state.stuck_count += 1
        try:
            await workflow.execute_activity_method(
                ClaimActivities.mark_stuck, mark, start_to_close_timeout=DB_TIMEOUT, retry_policy=MARK_RETRY
            )
        except ActivityError:
            workflow.logger.warning("claim %s is stuck and could not be marked: %s", self.start.claim_id, message)
        status = state.status
        await self._times_out(lambda: state.status != status, workflow.now() + STUCK_RETRY_EVERY, pausable=False)

    # Helpers.

    @asynccontextmanager
    async def _locked(self):
        """The lock, taken once the claim row exists (an Update may arrive before that).

        A write that fails for good refuses the action: its own changes were undone by `_record`.
        """
        await workflow.wait_condition(lambda: self.state.opened)
        async with self.lock:
            seq = self.state.seq
            try:
                yield
            except ActivityError as err:
                code, message = failure_of(err)
                if self.written > seq:  # events written together fail together: only an earlier write stands
                    message = f"the action was recorded, but what follows it was not: {message}"
                raise ApplicationError(message, type=code, non_retryable=True) from None

    async def _times_out(self, done: Callable[[], bool], due: datetime, pausable: bool = True) -> bool:
        """True if `due` passed before `done()` became true.

        A `pausable` wait stops while the claim is on legal hold, and `due` moves later by the time spent on
        hold meanwhile. (Waits whose deadline is a date told to someone, like the pro's, and the retries of a
        stuck claim, are not.)"""
        state = self.state
        if state.holds and pausable:
            held_before = state.held_for
            while True:
                if state.held is not None:
                    await workflow.wait_condition(lambda: done() or state.held is None)
                    if done():
                        return False
                remaining = due + (state.held_for - held_before) - workflow.now()
                if remaining <= timedelta(0):
                    return not done()
                try:
                    await workflow.wait_condition(lambda: done() or state.held is not None, timeout=remaining)
                except TimeoutError:
                    return True
                if done():
                    return False
        remaining = due - workflow.now()
        if remaining <= timedelta(0):
            return not done()
        try:
            await workflow.wait_condition(done, timeout=remaining)
        except TimeoutError:
            return True
        return False

    async def _sla_wait(
        self, key: str, sla: Callable[[Severity | None], timedelta], done: Callable[[], bool]
    ) -> tuple[datetime, bool]:
        """Waits for `done()` or the SLA counted from the wait `key`'s start: the deadline, and whether it passed first.

        A deadline already handled (`handled_due`) is not waited for again. The SLA follows the claim's
        severity: a new one waits again for the SLA it has, from the same start."""
        state = self.state
        while True:
            level = state.severity
            due = self._waiting_since(key) + sla(level)
            if state.handled_due == due:
                return due, False
            if await self._times_out(lambda: done() or state.severity != level, due):  # noqa: B023
                return self._waiting_since(key) + sla(level), True  # later if a hold stopped the wait
            if done() or state.severity == level:
                return due, False

    def _waiting_since(self, key: str) -> datetime:
        """When the wait named `key` began: the first time it is asked, the same after a retried step."""
        state = self.state
        if state.due_key != key:
            # A wait that begins during a hold counts only the rest of that hold.
            on_hold = workflow.now() - state.held_at if state.held_at is not None else timedelta(0)
            state.due_key, state.due_at, state.due_held_for = key, workflow.now(), state.held_for + on_hold
        return state.due_at + (state.held_for - state.due_held_for)  # later by the time on hold since

    def _caseworker(self) -> str:
        """The person who works the claim: whom a lead assigned, else who decided, else who opened it."""
        return self.state.owner or self.state.decided_by or self.start.opened_by.user_id

    async def _notify_s1(self, kind: str, message: str) -> None:
        """The lead on call hears of a severity s1 claim at once."""
        await self._notify("tier:lead", kind, message)

    async def _notify_approvers(self, kind: str) -> None:
        tier = self.state.tier.value
        amount = format_cents(self.state.decided_amount, self.start.request.currency)
        await self._notify(f"tier:{tier}", kind, f"Decision awaiting {tier} approval ({amount}).")

    async def _notify(
        self, recipient: str, kind: str, message: str, party: EvidenceSource | None = None, **link
    ) -> str | None:
        """Record a notification; one to the customer or the pro is then mailed to them, beside the claim's
        steps. Answers the notification's key when it is mailed."""
        await self._record(
            "notified",
            reason=f"{kind} to {recipient}",
            notification=Notification(recipient=recipient, kind=kind, message=message),
        )
        if party is None and recipient == self.start.request.customer_id:
            party = EvidenceSource.customer
        if not (self.state.mail_out and party is not None and kind in PARTY_MAIL):
            return None
        key = f"{self.start.claim_id}:{self.state.seq:05d}"
        order = MailOrder(claim_id=self.start.claim_id, key=key, kind=kind, party=party, **link)
        self.background.append(asyncio.create_task(self._mail(order)))
        return key

    async def _mail(self, order: MailOrder) -> None:
        """Sending checks the mail's row first, so a retry, local or not, never mails twice."""
        send = workflow.execute_local_activity_method if self.state.local_mail else workflow.execute_activity_method
        try:
            await send(MailActivities.send_mail, order, start_to_close_timeout=MAIL_TIMEOUT, retry_policy=MAIL_RETRY)
        except FailureError as err:  # an activity's error, or a local activity's cause
            workflow.logger.warning("claim %s: mail %s not sent: %s", order.claim_id, order.key, err.cause or err)

    async def _record(
        self,
        action: str,
        *,
        to_status: ClaimStatus | None = None,
        patch: dict | None = None,
        changes: dict | None = None,
        defer: bool = False,
        **fields,
    ) -> None:
        """Record one event; `changes` to the state hold only if it is recorded, like the status.

        `defer`: in a claim that records `together`, the event is written with the next one, which the caller
        records at once; if that write fails, both are undone.
        """
        state = self.state
        changes = changes or {}
        waiting_for = state.due_key
        undo = {name: getattr(state, name) for name in [*changes, "status"]}
        for name, value in changes.items():
            setattr(state, name, value)
        state.seq += 1
        assignee = self._assignee(to_status or state.status)
        event = ClaimEvent(
            key=f"{self.start.claim_id}:{state.seq:05d}",
            claim_id=self.start.claim_id,
            at=workflow.now(),
            action=action,
            from_status=state.status if to_status and state.opened else None,
            to_status=to_status,
            round=state.round,
            patch={"assignee": assignee, **(patch or {})},
            **fields,
        )
        if to_status is not None and state.status_leads_record:
            state.status = to_status
        self.pending.append((event, undo, waiting_for))
        if defer and state.together:
            return
        written, self.pending = self.pending, []
        try:
            await self._write([done for done, _, _ in written])
        except ActivityError:
            for _, undo, _ in reversed(written):
                for name, value in undo.items():
                    setattr(state, name, value)
            raise
        self.written = state.seq
        for done, _, waited_for in written:
            if done.to_status is not None:
                state.status = done.to_status
                # Every wait ends with a transition; a wait of the new status, begun while this was recorded, stays.
                if not state.holds or state.due_key == waited_for:
                    state.due_key = None
        updates = [
            sa.CLAIM_STATUS.value_set(state.status.value),
            sa.CLAIM_AMOUNT.value_set(state.decided_amount or self.start.request.amount_cents),
            sa.CLAIM_ASSIGNEE.value_set(assignee or ""),
        ]
        # A lean history upserts only a change: the workflow's info holds the attributes as they stand.
        current = workflow.info().typed_search_attributes
        if not state.lean or any(current.get(u.key) != u.value for u in updates):
            workflow.upsert_search_attributes(updates)

    async def _write(self, events: list[ClaimEvent]) -> None:
        """Record the events: by a local activity in a lean history, whose failure comes unwrapped (its cause
        alone), so it is wrapped here as an activity's is, for the callers that tell a failed write apart."""
        if not self.state.lean:
            (event,) = events
            await workflow.execute_activity_method(
                ClaimActivities.record_event, event, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
            )
            return
        record, written = (
            (ClaimActivities.record_event, events[0]) if len(events) == 1 else (ClaimActivities.record_events, events)
        )
        try:
            await workflow.execute_local_activity_method(
                record, written, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
            )
        except FailureError as err:
            raise ActivityError(
                err.message,
                scheduled_event_id=0,
                started_event_id=0,
                identity="",
                activity_type="record_event",
                activity_id="",
                retry_state=None,
            ) from err

    def _assignee(self, status: ClaimStatus) -> str | None:
        """Whose move it is: a person, an approval tier's queue, finance, or nobody."""
        if status == ClaimStatus.pending_approval:
            return f"tier:{self.state.tier.value}"
        if status == ClaimStatus.payout_failed:
            return "tier:finance"
        if status in (ClaimStatus.evidence_collection, ClaimStatus.specialist_review, ClaimStatus.mediation):
            return self._caseworker()
        return None
