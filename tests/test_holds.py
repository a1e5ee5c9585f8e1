"""Legal holds on the time-skipping server: deadlines stop and resume, no payout starts, legal releases."""

import dataclasses
import uuid
from datetime import timedelta

import pytest

from mail.out import Mailer, Outbox
from rules.errors import DomainError
from schema import tables
from schema.claims import HoldPlacement, HoldRelease, HoldReleaseRequest, HoldRequest
from schema.enums import ClaimStatus, Role
from schema.names import claim_workflow_id
from service import claims
from tests.conftest import AUDIT_KEY, SIGNING_KEY
from tests.test_api import Desk, assert_error
from tests.test_claim_workflow import (
    APPROVE,
    PHOTO,
    POLICY,
    add_details,
    approve,
    eventually,
    keep_history,
    new_claim,
    open_,
    rejected,
    to_review,
)
from worker import build_worker
from workflows.claim import ClaimWorkflow


def placed(actor, code="attorney_letter", note="a letter from the customer's attorney"):
    return HoldPlacement(actor=actor, request=HoldRequest(reason_code=code, note=note))


def released(actor, note="cleared by counsel"):
    return HoldRelease(actor=actor, request=HoldReleaseRequest(note=note))


async def test_a_hold_stops_each_timer_and_it_resumes_with_the_time_left(stack):
    specialist, lead, legal = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.legal)
    # The evidence window: held 10 hours before it closes, for 100 hours; it closes 10 hours after the release.
    handle, claim_id = await open_(stack, specialist)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await add_details(stack, handle, specialist)
    await stack.env.sleep(POLICY.evidence_window() - timedelta(hours=10))
    await stack.act(handle, ClaimWorkflow.hold, placed(specialist))
    assert (stack.claim(claim_id).held, stack.claim(claim_id).hold_reason) == (True, "attorney_letter")
    await stack.env.sleep(timedelta(hours=100))
    assert stack.claim(claim_id).status == ClaimStatus.evidence_collection
    await stack.act(handle, ClaimWorkflow.release_hold, released(legal))
    assert stack.claim(claim_id).held is False
    await stack.env.sleep(timedelta(hours=9))
    assert stack.claim(claim_id).status == ClaimStatus.evidence_collection
    await stack.env.sleep(timedelta(hours=2))
    await eventually(lambda: stack.claim(claim_id).status == ClaimStatus.specialist_review, "the window closed")
    # The decision SLA: 25 hours in (the window closed an hour into the last 2), held for 200 hours,
    # breached 47 hours after the release.
    await stack.env.sleep(timedelta(hours=24))
    await stack.act(handle, ClaimWorkflow.hold, placed(lead, "police_report", "a police report was filed"))
    await stack.env.sleep(timedelta(hours=200))
    assert stack.claim(claim_id).sla_breaches == []
    await stack.act(handle, ClaimWorkflow.release_hold, released(legal))
    left = POLICY.decision_sla() - timedelta(hours=25)
    await stack.env.sleep(left - timedelta(hours=2))
    assert stack.claim(claim_id).sla_breaches == []
    await stack.env.sleep(timedelta(hours=3))
    await eventually(lambda: stack.claim(claim_id).sla_breaches == ["decision"], "the decision SLA, resumed")
    # The approval SLA: an hour before it escalates, held for 50 hours; it escalates an hour after the release.
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.env.sleep(POLICY.approval_sla() - timedelta(hours=1))
    await stack.act(handle, ClaimWorkflow.hold, placed(specialist, "regulator_inquiry", "the regulator asked"))
    await stack.env.sleep(timedelta(hours=50))
    assert stack.claim(claim_id).required_tier == "lead"
    await stack.act(handle, ClaimWorkflow.release_hold, released(legal))
    await stack.env.sleep(timedelta(hours=2))
    await eventually(lambda: stack.claim(claim_id).required_tier == "manager", "the escalation, resumed")
    manager = stack.user(Role.manager)
    await stack.act(handle, ClaimWorkflow.review, manager, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "held_and_resumed")
    assert [a for a in stack.actions(claim_id) if a.startswith("hold")] == ["hold_placed", "hold_released"] * 3


async def test_a_hold_survives_a_restart_of_the_worker(stack, provider, tmp_path):
    """The worker stops while the claim is held, and the held time passes with no worker at all. A new worker,
    which knows the claim only from its history and the database, keeps it held, then resumes its deadline."""
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    ctx = dataclasses.replace(stack.ctx, task_queue=queue)

    def worker():
        mailer = Mailer(Outbox(tmp_path / "outbox"), "claims@guarantee.test", "http://api")
        return build_worker(
            stack.client,
            stack.sessions,
            provider,
            SIGNING_KEY,
            task_queue=queue,
            audit_key=AUDIT_KEY,
            mailer=mailer,
            max_cached_workflows=0,
        )

    specialist, lead, legal = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.legal)
    async with worker():
        claim = await claims.open_claim(ctx, specialist, new_claim())
        handle = stack.client.get_workflow_handle(claim_workflow_id(claim.id))
        await to_review(stack, handle, specialist)
        await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
        await stack.env.sleep(POLICY.approval_sla() - timedelta(hours=1))
        await stack.act(handle, ClaimWorkflow.hold, placed(specialist, "police_report", "a police report was filed"))
    await stack.env.sleep(timedelta(hours=30))
    async with worker():
        assert (stack.claim(claim.id).held, stack.claim(claim.id).required_tier) == (True, "lead")
        await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "on_legal_hold")
        await stack.env.sleep(timedelta(hours=30))
        assert stack.claim(claim.id).required_tier == "lead", "no escalation while held, across the restart"
        await stack.act(handle, ClaimWorkflow.release_hold, released(legal))
        await stack.env.sleep(timedelta(minutes=50))
        assert stack.claim(claim.id).required_tier == "lead", "the hour left is not over yet"
        await stack.env.sleep(timedelta(minutes=20))
        await eventually(lambda: stack.claim(claim.id).required_tier == "manager", "the escalation, resumed")
        await stack.act(handle, ClaimWorkflow.review, stack.user(Role.manager), APPROVE)
        assert await stack.result(claim.id) == ClaimStatus.paid
    await keep_history(handle, "held_across_a_restart")


async def test_an_approval_is_refused_on_hold_and_only_legal_releases(stack):
    specialist, lead, legal = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.legal)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.hold, placed(specialist, "attorney_letter"))
    assert await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "on_legal_hold") == "on legal hold"
    for who in (specialist, lead, stack.user(Role.director)):
        await rejected(stack.act(handle, ClaimWorkflow.release_hold, released(who)), "forbidden")
    await rejected(stack.act(handle, ClaimWorkflow.hold, placed(lead)), "already_held")
    ctx = stack.ctx
    with pytest.raises(DomainError) as info:
        await claims.release_hold(ctx, claim_id, lead, HoldReleaseRequest(note="x"))
    assert info.value.code == "forbidden"
    assert stack.claim(claim_id).held is True
    claim = await claims.release_hold(ctx, claim_id, legal, HoldReleaseRequest(note="cleared"))
    assert not claim.held
    entries = [(t.action, t.actor_role) for t in claim.timeline if t.action.startswith("hold")]
    assert entries == [("hold_placed", "specialist"), ("hold_released", "legal")]
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "approval_refused_on_hold")


async def test_a_claim_released_after_an_injury_hold_needs_legal_to_approve_too(stack):
    specialist, lead, legal = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.legal)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.hold, placed(specialist, "injury", "the customer was hurt"))
    await stack.act(handle, ClaimWorkflow.release_hold, released(legal))
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert stack.claim(claim_id).status == ClaimStatus.pending_approval, "legal has not approved yet"
    await stack.act(handle, ClaimWorkflow.review, legal, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "legal_tier")
    roles = [a.approver_role for a in stack.rows(tables.Approval, claim_id)]
    assert roles == ["lead", "legal"]


async def test_legal_approves_only_claims_that_need_it(stack):
    specialist, legal = stack.user(Role.specialist), stack.user(Role.legal)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await rejected(stack.act(handle, ClaimWorkflow.review, legal, APPROVE), "insufficient_authority")


async def test_the_api_holds_and_releases_as_each_role_allows(api, stack):
    desk = Desk(api, stack)
    claim = await desk.in_review()
    url = f"/claims/{claim['id']}"
    body = {"reason_code": "attorney_letter", "note": "a letter came"}
    for role in (Role.finance, Role.admin, Role.legal):
        assert_error(await api.post(f"{url}/hold", json=body, headers=desk.person(role)[1]), 403)
    assert_error(await api.post(f"{url}/hold", json=body), 401)
    assert_error(
        await api.post(f"{url}/hold", json={"reason_code": "rain", "note": "x"}, headers=desk.specialist_h), 422
    )
    assert (await desk.get(claim["id"]))["held"] is False
    r = await api.post(f"{url}/hold", json=body, headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    assert (r.json()["held"], r.json()["hold_reason"]) == (True, "attorney_letter")
    r = await api.get(
        "/claims", params={"held": "true", "assignee": desk.specialist.user_id}, headers=desk.specialist_h
    )
    assert [c["id"] for c in r.json()["items"]] == [claim["id"]]
    before = await desk.get(claim["id"])
    for role in (Role.specialist, Role.lead, Role.manager, Role.director, Role.finance, Role.admin):
        r = await api.post(f"{url}/hold/release", json={"note": "x"}, headers=desk.person(role)[1])
        assert_error(r, 403)
    assert await desk.get(claim["id"]) == before
    r = await api.post(f"{url}/hold/release", json={"note": "cleared"}, headers=desk.person(Role.legal)[1])
    assert r.status_code == 200, r.text
    assert r.json()["held"] is False
    trail = [(t["action"], t["actor_role"]) for t in r.json()["timeline"] if t["action"].startswith("hold")]
    assert trail == [("hold_placed", "specialist"), ("hold_released", "legal")]


async def test_legal_waits_on_the_holds_and_the_payouts_a_release_held_back(api, stack):
    """`awaiting=me` for legal: every claim on hold, and each decision to pay after an injury or legal-threat
    hold until legal approves it; not a denial, not a payout legal approved, not one after another kind of hold."""
    desk = Desk(api, stack)
    legal_h, lead_h = desk.person(Role.legal)[1], desk.person(Role.lead)[1]

    async def post(url: str, body: dict, headers: dict) -> dict:
        r = await api.post(url, json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def held_then_released(code: str) -> str:
        claim = await desk.in_review()
        await post(f"/claims/{claim['id']}/hold", {"reason_code": code, "note": "counsel reads it"}, desk.specialist_h)
        await post(f"/claims/{claim['id']}/hold/release", {"note": "cleared"}, legal_h)
        return claim["id"]

    held = await desk.open()
    await post(f"/claims/{held['id']}/hold", {"reason_code": "police_report", "note": "a report"}, desk.specialist_h)
    to_pay, to_deny, other = [await held_then_released(code) for code in ("injury", "legal_threat", "attorney_letter")]
    for claim_id in (to_pay, other):
        await desk.decide(claim_id, outcome="approve", amount_cents=10_000, rationale="ok")
        await desk.approve(claim_id, lead_h)
    await desk.decide(to_deny, outcome="deny", reason_code="excluded_peril", rationale="not covered")
    mine = set(await desk.ids(legal_h, awaiting="me", limit=200))
    assert held["id"] in mine and to_pay in mine
    assert not {to_deny, other} & mine
    assert to_pay not in await desk.ids(lead_h, awaiting="me", limit=200), "the lead approved already"
    assert (await desk.get(held["id"]))["held_since"] is not None
    await desk.approve(to_pay, legal_h)
    assert to_pay not in await desk.ids(legal_h, awaiting="me", limit=200)
    # Paid: and no payout is left in flight as the session's worker stops, which kept the time-skipping server
    # from skipping for the next test (the PostgreSQL run of this file's first test, run alone).
    assert await stack.result(to_pay) == ClaimStatus.paid, "legal's approval lets the payout go"
