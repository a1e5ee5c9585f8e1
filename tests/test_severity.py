"""Severity: proposed at intake by policy v4's rules, changed by whoever works the claim; it shortens the SLAs."""

from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from rules.severity import propose
from schema import tables
from schema.claims import SeverityChange, SeverityRequest
from schema.enums import ClaimStatus, Role, Severity
from schema.names import claim_workflow_id
from schema.policy import load_policy
from service import claims, queues
from tests.test_api import Desk, assert_error
from tests.test_claim_workflow import APPROVE, approve, eventually, keep_history, new_claim, open_, rejected, to_review
from workflows.claim import ClaimWorkflow

V4 = load_policy("v4")


def test_the_policy_proposes_a_severity_from_type_amount_and_words():
    assert propose(load_policy("v3"), new_claim()) is None, "no severity before v4"
    assert propose(V4, new_claim(type="work_not_done", amount_cents=10_000)) == Severity.s4
    assert propose(V4, new_claim(amount_cents=10_000)) == Severity.s3
    assert propose(V4, new_claim(amount_cents=3_000_000)) == Severity.s2
    hurt = new_claim(type="work_not_done", amount_cents=10_000).model_copy(
        update={"description": "The pro's ladder fell and my son was HURT."}
    )
    assert propose(V4, hurt) == Severity.s1
    gasket = new_claim(amount_cents=10_000).model_copy(update={"description": "a gasket leaks"})
    assert propose(V4, gasket) == Severity.s3, "whole words only"


def test_severity_shortens_the_slas_of_v4_only():
    assert V4.decision_sla(Severity.s1) == timedelta(hours=4)
    assert V4.approval_sla(Severity.s1) == timedelta(hours=2)
    assert V4.decision_sla() == V4.decision_sla(None) == timedelta(hours=72)
    assert load_policy("v3").decision_sla(Severity.s1) == timedelta(hours=72)


def s1_claim(**kwargs):
    claim = new_claim(**kwargs)
    return claim.model_copy(update={"description": "a gas line left open; the customer was hurt"})


async def open_v4(stack, opener, request=None, **kwargs):
    ctx = stack.context(V4, stack.ctx.evidence.staging)
    claim = await claims.open_claim(ctx, opener, request or new_claim(**kwargs))
    return stack.client.get_workflow_handle(claim_workflow_id(claim.id)), claim.id


async def test_an_s1_claim_tells_the_lead_at_once_and_breaches_its_short_sla(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_v4(stack, specialist, s1_claim())
    assert stack.claim(claim_id).severity == "s1"
    await eventually(
        lambda: (
            [(n.recipient, n.kind) for n in stack.rows(tables.Notification, claim_id)] == [("tier:lead", "s1_opened")]
        ),
        "the lead told of the s1 claim",
    )
    await to_review(stack, handle, specialist)
    await stack.env.sleep(V4.decision_sla(Severity.s1) + timedelta(minutes=30))
    await eventually(lambda: stack.claim(claim_id).sla_breaches == ["decision"], "the s1 decision SLA")
    assert V4.decision_sla(Severity.s1) + timedelta(minutes=30) < V4.decision_sla(), "well before the usual SLA"
    overdue = [n.recipient for n in stack.rows(tables.Notification, claim_id) if n.kind == "decision_overdue"]
    assert overdue == ["tier:lead"]
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "severity_s1_sla")


async def test_a_new_severity_is_in_the_timeline_and_the_sla_follows_it(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_v4(stack, specialist, amount_cents=10_000)
    assert stack.claim(claim_id).severity == "s3"
    await to_review(stack, handle, specialist)
    await stack.env.sleep(timedelta(hours=3))
    assert stack.claim(claim_id).sla_breaches == []
    ctx = stack.context(V4, stack.ctx.evidence.staging)
    claim = await claims.set_severity(ctx, claim_id, specialist, SeverityRequest(severity="s1", reason="a child hurt"))
    assert claim.severity == Severity.s1
    [entry] = [t for t in claim.timeline if t.action == "severity_changed"]
    assert (entry.actor_id, entry.reason) == (specialist.user_id, "s3 to s1: a child hurt")
    assert "s1_raised" in [n.kind for n in stack.rows(tables.Notification, claim_id)]
    # Raised to s1 after 3 hours in review: the 4-hour SLA from the same start ends an hour later.
    await stack.env.sleep(timedelta(hours=1, minutes=30))
    await eventually(lambda: stack.claim(claim_id).sla_breaches == ["decision"], "the new, shorter SLA")
    same = SeverityChange(actor=specialist, request=SeverityRequest(severity="s1", reason="again"))
    assert "already s1" in await rejected(stack.act(handle, ClaimWorkflow.set_severity, same), "unchanged")
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "severity_changed")


async def test_claims_under_older_policies_have_no_severity(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    assert stack.claim(claim_id).severity is None
    with pytest.raises(Exception) as info:
        await claims.set_severity(stack.ctx, claim_id, specialist, SeverityRequest(severity="s1", reason="x"))
    assert getattr(info.value, "code", None) == "invalid_state"
    assert stack.claim(claim_id).severity is None


async def test_queues_put_the_most_severe_first(stack):
    specialist = stack.user(Role.specialist)
    minor = await open_v4(stack, specialist, type="work_not_done", amount_cents=10_000)
    urgent = await open_v4(stack, specialist, s1_claim())
    old = await open_(stack, specialist)
    ids = [w.claim.id for w in queues.casework(stack.sessions, specialist)]
    assert ids == [urgent[1], minor[1], old[1]]


@pytest.fixture
async def api4(stack, tmp_path):
    """The API with policy v4 as the current one: new claims get a severity."""
    transport = httpx.ASGITransport(app=create_app(stack.context(V4, tmp_path / "evidence")))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_the_api_changes_severity_and_sorts_by_it(api4, stack):
    desk = Desk(api4, stack)
    minor = await desk.open(type="work_not_done", amount_cents=10_000)
    urgent = await desk.open(description="someone stole the pro's tools from our garage: theft")
    assert (minor["severity"], urgent["severity"]) == ("s4", "s1")
    r = await api4.post(f"/claims/{minor['id']}/severity", json={"severity": "s2"}, headers=desk.specialist_h)
    assert_error(r, 422)
    for role in (Role.finance, Role.admin):
        r = await api4.post(
            f"/claims/{minor['id']}/severity", json={"severity": "s2", "reason": "x"}, headers=desk.person(role)[1]
        )
        assert_error(r, 403)
    assert (await desk.get(minor["id"]))["severity"] == "s4"
    r = await api4.post(
        f"/claims/{minor['id']}/severity", json={"severity": "s2", "reason": "no heat"}, headers=desk.specialist_h
    )
    assert r.status_code == 200, r.text
    assert r.json()["severity"] == "s2"
    assert r.json()["timeline"][-1]["action"] == "severity_changed"
    r = await api4.get(
        "/claims", params={"sort": "severity", "assignee": desk.specialist.user_id}, headers=desk.specialist_h
    )
    assert [c["id"] for c in r.json()["items"]] == [urgent["id"], minor["id"]]
