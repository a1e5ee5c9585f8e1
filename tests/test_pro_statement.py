"""The pro's statement (policy v3): asked by mail with a signed link, waited for until the deadline, reminded once."""

import re
import uuid

import httpx
import pytest

from mail.out import body_text, outbox_entry
from rules.errors import DomainError
from schema import tables
from schema.claims import Contacts, EvidenceAdd
from schema.enums import ClaimStatus, Role
from schema.names import claim_workflow_id
from schema.policy import load_policy
from service import claims, links, sign_in
from tests.test_claim_workflow import eventually, history_text, keep_history, new_claim
from web.app import create_web

V3 = load_policy("v3")
PRO = "pat.pro@example.com"


async def open_v3(stack, specialist, **contacts):
    ctx = stack.context(V3, stack.ctx.evidence.staging)
    contacts = Contacts(**({"customer_email": "cy@example.com", "pro_email": PRO} | contacts))
    return ctx, await claims.open_claim(ctx, specialist, new_claim(), contacts=contacts)


def mails(stack, claim_id: str, kind: str) -> list[tables.OutboundMail]:
    return [m for m in stack.rows(tables.OutboundMail, claim_id) if m.kind == kind]


def link_in(stack, row: tables.OutboundMail) -> str:
    text = body_text(outbox_entry(stack.outbox, row.message_id.strip("<>").split("@")[0]).message())
    return re.search(r"http://api/e/(\S+)", text).group(1)


async def test_the_statement_arrives_through_the_mailed_link(stack):
    specialist = stack.user(Role.specialist)
    ctx, claim = await open_v3(stack, specialist)
    await claims.request_pro_statement(ctx, claim.id, specialist)
    await eventually(lambda: [m.state for m in mails(stack, claim.id, "pro_statement_request")] == ["sent"], "the mail")
    [asked] = mails(stack, claim.id, "pro_statement_request")
    assert asked.to == PRO and asked.subject.startswith(f"[claim {claim.id}] ")
    [link_row] = stack.rows(tables.EvidenceLink, claim.id)
    assert (asked.link_id, link_row.party, link_row.created_by) == (link_row.id, "pro", specialist.user_id)
    requested_at = stack.rows(tables.AuditEntry, claim.id)[-2].at  # pro_statement_requested, then notified
    assert round((link_row.expires_at - requested_at).total_seconds() / 86400) == V3.pro_statement_days
    # The pro opens the link and sends their statement.
    link = await links.open_link(ctx, link_in(stack, asked))
    await links.add_evidence(ctx, link, EvidenceAdd(kind="note", source="customer", note="I fixed the pipe"))
    await eventually(lambda: "pro_statement_received" in stack.actions(claim.id), "the statement recorded")
    [evidence] = stack.rows(tables.Evidence, claim.id)
    assert evidence.source == "pro"
    assert stack.actions(claim.id)[-2:] == ["evidence_added", "pro_statement_received"]
    assert mails(stack, claim.id, "pro_statement_reminder") == []
    assert stack.claim(claim.id).status == ClaimStatus.evidence_collection  # the wait never blocked the claim


async def test_the_deadline_passes_after_one_reminder(stack):
    specialist = stack.user(Role.specialist)
    ctx, claim = await open_v3(stack, specialist)
    await claims.request_pro_statement(ctx, claim.id, specialist)
    with pytest.raises(DomainError) as refused:
        await claims.request_pro_statement(ctx, claim.id, specialist)
    assert refused.value.code == "already_requested"
    # Nothing arrives: the pro's deadline (5 days) passes, then the evidence window (14 days) closes the claim.
    assert await stack.result(claim.id) == ClaimStatus.closed_no_evidence
    handle = stack.client.get_workflow_handle(claim_workflow_id(claim.id))
    await keep_history(handle, "pro_statement_overdue")
    history = await history_text(handle)
    assert PRO not in history and "cy@example.com" not in history and "/e/" not in history, "no address, no link"
    actions = stack.actions(claim.id)
    assert actions == ["opened", "pro_statement_requested", "pro_statement_overdue", "evidence_window_closed"]
    [asked] = mails(stack, claim.id, "pro_statement_request")
    [reminded] = mails(stack, claim.id, "pro_statement_reminder")
    assert (reminded.to, reminded.state, reminded.attempts) == (PRO, "sent", 1)
    assert reminded.link_id == asked.link_id and link_in(stack, reminded) == link_in(stack, asked)
    assert reminded.message_id != asked.message_id
    audit = {a.event_key: a for a in stack.rows(tables.AuditEntry, claim.id)}
    requested = next(a for a in audit.values() if a.action == "pro_statement_requested").at
    overdue = next(a for a in audit.values() if a.action == "pro_statement_overdue").at
    assert round((overdue - requested).total_seconds() / 3600) == 24 * V3.pro_statement_days
    assert round((audit[reminded.notification_key].at - requested).total_seconds() / 3600) == 12 * V3.pro_statement_days
    # The customer was mailed as before: the reminders and the closing.
    assert {m.to for m in stack.rows(tables.OutboundMail, claim.id) if m.kind.startswith(("evidence", "claim"))} == {
        "cy@example.com"
    }


async def test_asking_needs_the_pros_address_and_the_v3_policy(stack):
    specialist = stack.user(Role.specialist)
    ctx, claim = await open_v3(stack, specialist, pro_email=None)
    with pytest.raises(DomainError) as refused:
        await claims.request_pro_statement(ctx, claim.id, specialist)
    assert refused.value.code == "no_pro_email"
    old = await claims.open_claim(stack.ctx, specialist, new_claim(), contacts=Contacts(pro_email=PRO))
    with pytest.raises(DomainError) as refused:
        await claims.request_pro_statement(stack.ctx, old.id, specialist)
    assert refused.value.code == "invalid_state" and "v1" in refused.value.message
    other = stack.user(Role.specialist)
    _, theirs = await open_v3(stack, specialist)
    with pytest.raises(DomainError) as refused:
        await claims.request_pro_statement(ctx, theirs.id, other)
    assert refused.value.code == "not_assignee"


async def test_the_claim_page_offers_asking_the_pro_once(stack):
    specialist = stack.user(Role.specialist)
    _, claim = await open_v3(stack, specialist)
    name = f"lead-{uuid.uuid4().hex[:6]}"
    sign_in.add_user(stack.sessions, name, Role.lead, "a long enough password")
    session = sign_in.sign_in(stack.sessions, name, "a long enough password")
    transport = httpx.ASGITransport(app=create_web(stack.context(V3, stack.ctx.evidence.staging)))
    cookies = {sign_in.COOKIE: session.token}
    async with httpx.AsyncClient(transport=transport, base_url="http://site", cookies=cookies) as web:
        page = await web.get(f"/cases/{claim.id}")
        assert page.status_code == 200 and "Ask the pro for a statement" in page.text
        done = await web.post(f"/cases/{claim.id}/pro-statement", data={"csrf": session.csrf})
        assert done.status_code == 303, done.text
        page = await web.get(f"/cases/{claim.id}")
        assert "Ask the pro for a statement" not in page.text
    await eventually(lambda: mails(stack, claim.id, "pro_statement_request"), "the mail to the pro")
