"""Outgoing mail: the customer's notifications reach them by email, once each, named for their claim."""

import email
import html
import smtplib
import socket
import uuid
from email import policy

import httpx
import pytest
from aiosmtpd.controller import Controller

from activities.mail import MailActivities
from mail.names import claim_message_id, claim_reference
from mail.out import MailConfigError, Mailer, Outbox, SmtpOut, body_text, mail_id, outbox_entries, outbox_entry
from schema import tables
from schema.claims import Contacts
from schema.enums import ClaimStatus, EvidenceSource, Role
from schema.events import MailOrder
from schema.names import claim_workflow_id
from service import claims, sign_in
from stack.config import Settings
from tests.conftest import SIGNING_KEY
from tests.test_claim_workflow import keep_history, new_claim
from web.app import create_web


def test_names_are_what_the_mail_in_parser_looks_for():
    assert claim_reference("abc123") == "[claim abc123]"
    assert claim_message_id("abc123", "abc123:00007") == "<claim-abc123.00007@guarantee.local>"
    assert claim_message_id("abc123", "x y:z") == "<claim-abc123.x-y-z@guarantee.local>"


def test_smtp_settings_are_read_from_a_url():
    assert SmtpOut.from_url("smtp://mail.local:2525") == SmtpOut("mail.local", 2525, "none")
    assert SmtpOut.from_url("smtp+starttls://ann:p%40ss@mail.example.com") == SmtpOut(
        "mail.example.com", 587, "starttls", "ann", "p@ss"
    )
    assert SmtpOut.from_url("smtps://mail.example.com").port == 465
    with pytest.raises(MailConfigError):
        SmtpOut.from_url("http://mail.example.com")


async def test_the_customer_is_mailed_the_reminders_and_the_closing(stack):
    """No evidence arrives: every reminder and the closing reach the customer's address, in the outbox."""
    specialist = stack.user(Role.specialist)
    contacts = Contacts(customer_email="ana@example.com", pro_email="bob@example.com")
    claim = await claims.open_claim(stack.ctx, specialist, new_claim(), contacts=contacts)
    assert await stack.result(claim.id) == ClaimStatus.closed_no_evidence
    rows = stack.rows(tables.OutboundMail, claim.id)
    await keep_history(stack.client.get_workflow_handle(claim_workflow_id(claim.id)), "mailed_no_evidence")
    reminders = len(stack.ctx.policy.evidence.reminder_hours)
    assert [r.kind for r in rows] == ["evidence_reminder"] * reminders + ["claim_closed"]
    assert {(r.to, r.state, r.attempts) for r in rows} == {("ana@example.com", "sent", 1)}
    notes = {n.event_key for n in stack.rows(tables.Notification, claim.id)}
    assert {r.notification_key for r in rows} <= notes
    for row in rows:
        assert row.message_id == claim_message_id(claim.id, row.notification_key)
        entry = outbox_entry(stack.outbox, row.message_id.strip("<>").split("@")[0])
        message = entry.message()
        assert message["Subject"].startswith(f"[claim {claim.id}] ") and message["Subject"] == row.subject
        assert (message["To"], message["Message-ID"]) == ("ana@example.com", row.message_id)
    closing = outbox_entry(stack.outbox, rows[-1].message_id.strip("<>").split("@")[0]).message()
    assert "no evidence arrived" in body_text(closing)
    assert claim.id in {e.id.split(".")[0].removeprefix("claim-") for e in outbox_entries(stack.outbox)}


async def test_without_an_address_nothing_is_sent(stack):
    specialist = stack.user(Role.specialist)
    claim = await claims.open_claim(stack.ctx, specialist, new_claim())
    assert await stack.result(claim.id) == ClaimStatus.closed_no_evidence
    rows = stack.rows(tables.OutboundMail, claim.id)
    assert rows and {(r.state, r.to, r.last_error) for r in rows} == {("skipped", None, "no customer email on file")}


class Received:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    received = Received()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpOut("127.0.0.1", port, "none"), received
    controller.stop()


class Flaky:
    """A transport that fails its first `failures` deliveries, then hands mail to `then`."""

    def __init__(self, failures: int, then):
        self.failures, self.then = failures, then

    def deliver(self, message):
        if self.failures:
            self.failures -= 1
            raise smtplib.SMTPServerDisconnected("connection lost")
        self.then.deliver(message)


async def test_a_retried_send_goes_out_once_over_smtp(stack, smtp_server):
    smtp, received = smtp_server
    specialist = stack.user(Role.specialist)
    claim = await claims.open_claim(
        stack.ctx, specialist, new_claim(), contacts=Contacts(customer_email="cara@example.com")
    )
    mail = MailActivities(stack.sessions, Mailer(Flaky(1, smtp), "claims@guarantee.test", "http://api"), SIGNING_KEY)
    order = MailOrder(claim_id=claim.id, key=f"{claim.id}:test-1", kind="evidence_reminder", party="customer")
    with pytest.raises(Exception, match="mail not sent"):
        mail.send_mail(order)
    [row] = stack.rows(tables.OutboundMail, claim.id)
    assert (row.state, row.attempts, row.last_error) == ("queued", 1, "SMTPServerDisconnected: connection lost")
    assert mail.send_mail(order) == "sent"
    assert mail.send_mail(order) == "sent"  # a retry after the send: nothing goes out again
    [(to, message)] = received.messages
    assert to == ["cara@example.com"]
    assert message["Message-ID"] == claim_message_id(claim.id, order.key)
    assert message["Message-ID"] == f"<claim-{claim.id}.test-1@guarantee.local>"
    assert message["Subject"] == f"[claim {claim.id}] Reminder: please send your evidence"
    [row] = stack.rows(tables.OutboundMail, claim.id)
    assert (row.state, row.attempts, row.last_error, row.to) == ("sent", 2, None, "cara@example.com")
    assert row.sent_at is not None
    # The pro has no address on file: skipped, and skipped again.
    order = order.model_copy(update={"key": f"{claim.id}:test-2", "party": EvidenceSource.pro})
    assert mail.send_mail(order) == mail.send_mail(order) == "skipped"
    assert len(received.messages) == 1


def test_the_outbox_refuses_ids_outside_it(tmp_path):
    assert outbox_entry(tmp_path, "../secret") is None and outbox_entry(tmp_path, "") is None
    assert outbox_entries(tmp_path / "none") == []
    Outbox(tmp_path)  # a folder is all it needs


async def web_page(stack, role: Role, path: str, monkeypatch) -> httpx.Response:
    """A page of the web app, signed in as a new person of `role`, with the stack's outbox as the configured one."""
    monkeypatch.setenv("GUARANTEE_HOME", str(stack.outbox.parent))
    monkeypatch.setattr(Settings, "outbox_dir", property(lambda _: stack.outbox))
    name = f"{role.value}-{uuid.uuid4().hex[:6]}"
    sign_in.add_user(stack.sessions, name, role, "a long enough password")
    session = sign_in.sign_in(stack.sessions, name, "a long enough password")
    transport = httpx.ASGITransport(app=create_web(stack.ctx))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://site", cookies={sign_in.COOKIE: session.token}
    ) as c:
        return await c.get(path)


async def test_the_outbox_page_shows_the_mail_to_casework_and_admins(stack, monkeypatch):
    specialist = stack.user(Role.specialist)
    claim = await claims.open_claim(
        stack.ctx, specialist, new_claim(), contacts=Contacts(customer_email="dee@example.com")
    )
    assert await stack.result(claim.id) == ClaimStatus.closed_no_evidence
    last = stack.rows(tables.OutboundMail, claim.id)[-1]
    page = await web_page(stack, Role.lead, "/outbox", monkeypatch)
    assert page.status_code == 200 and "dee@example.com" in page.text and 'href="/outbox"' in page.text
    one = await web_page(stack, Role.admin, f"/outbox/{mail_id(last.message_id)}", monkeypatch)
    assert one.status_code == 200 and "no evidence arrived" in one.text and html.escape(last.message_id) in one.text
    refused = await web_page(stack, Role.finance, "/outbox", monkeypatch)
    assert refused.status_code == 403 and "dee@example.com" not in refused.text
    missing = await web_page(stack, Role.admin, "/outbox/claim-nothing.1", monkeypatch)
    assert missing.status_code == 404
