"""Email in, with real parts: mail sent with `smtplib` to the SMTP receiver `guarantee up` starts, and raw
messages posted to `POST /inbound/email`, both through the same intake service to a real worker and database."""

import asyncio
import smtplib
import uuid
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from mail.names import claim_message_id, claim_reference
from schema import tables
from service import inbox
from stack.ports import bind
from tests.conftest import INBOUND_SECRET
from tests.test_api import Desk, assert_error, claim_body

PHOTO = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
INVOICE = b"%PDF-1.4 invoice for the countertop"


def mail(sender: str, subject: str, text: str = "The pro cracked my countertop.", files=(), **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "claims@guarantee.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    for filename, content, kind in files:
        maintype, subtype = kind.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def address() -> str:
    return f"ann-{uuid.uuid4().hex[:6]}@customer.example"


@pytest.fixture
async def receiver(api):
    """The receiver `up` starts, on a free port, wired to the API's context."""
    sock = bind(0)
    started = await inbox.start_receiver(api._transport.app.state.ctx, sock)
    yield started.port
    await started.stop()
    sock.close()


async def send(port: int, msg: EmailMessage | bytes, sender: str = "x@customer.example") -> None:
    def deliver():
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            if isinstance(msg, bytes):  # without announcing its SIZE
                smtp.ehlo()
                smtp.mail(sender)
                smtp.rcpt("claims@guarantee.example")
                code, answer = smtp.data(msg)
                if code != 250:
                    raise smtplib.SMTPDataError(code, answer)
            else:
                smtp.send_message(msg)

    await asyncio.to_thread(deliver)


def stored(stack, message_id: str) -> list[tables.Message]:
    with stack.sessions() as db:
        return list(db.scalars(select(tables.Message).where(tables.Message.message_id == message_id)))


def count(stack) -> int:
    with stack.sessions() as db:
        return db.scalar(select(func.count()).select_from(tables.Message))


@pytest.fixture
def desk(api, stack):
    return Desk(api, stack)


async def test_a_new_message_lands_in_the_inbox_and_becomes_a_claim_with_its_files(desk, stack, receiver):
    sender = address()
    files = [("crack.png", PHOTO, "image/png"), ("invoice.pdf", INVOICE, "application/pdf")]
    msg = mail(f"Ann <{sender}>", "My countertop", files=files)
    await send(receiver, msg)
    [row] = stored(stack, msg["Message-ID"])
    assert (row.state, row.sender, row.subject) == ("inbox", sender, "My countertop")
    assert [a["filename"] for a in row.attachments] == ["crack.png", "invoice.pdf"]

    r = await desk.client.get("/inbox", params={"state": "inbox"}, headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    assert row.id in [m["id"] for m in r.json()["items"]]
    r = await desk.client.get(f"/inbox/{row.id}", headers=desk.specialist_h)
    assert r.json()["text"] == "The pro cracked my countertop."

    body = {k: v for k, v in claim_body().items() if k not in ("description", "channel")}
    r = await desk.client.post(f"/inbox/{row.id}/claim", json=body, headers=desk.specialist_h)
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["description"] == "The pro cracked my countertop." and claim["channel"] == "email"
    files_in = [(e["file"]["filename"], e["source"], e["kind"]) for e in claim["evidence"] if e["file"]]
    assert files_in == [("crack.png", "customer", "photo"), ("invoice.pdf", "customer", "other")]
    store = desk.client._transport.app.state.ctx.evidence
    shas = [e["file"]["sha256"] for e in claim["evidence"] if e["file"]]
    assert [store.read(s) for s in shas] == [PHOTO, INVOICE]
    assert stored(stack, msg["Message-ID"])[0].state == "opened"
    assert stored(stack, msg["Message-ID"])[0].claim_id == claim["id"]

    again = await desk.client.post(f"/inbox/{row.id}/claim", json=body, headers=desk.specialist_h)
    assert_error(again, 409, "invalid_state")
    r = await desk.client.post(f"/inbox/{row.id}/dismiss", json={"reason": "spam"}, headers=desk.specialist_h)
    assert_error(r, 409, "invalid_state")


async def test_a_reply_from_the_customer_joins_the_claim_as_their_message(desk, stack, receiver):
    customer = address()
    claim = await desk.open(customer_email=customer)
    before = len(claim["evidence"])
    msg = mail(
        customer.upper(),
        f"Re: your claim {claim_reference(claim['id'])}",
        text="Here is the repair quote.",
        files=[("quote.pdf", INVOICE, "application/pdf")],
    )
    await send(receiver, msg)
    [row] = stored(stack, msg["Message-ID"])
    assert (row.state, row.claim_id, row.reason) == ("joined", claim["id"], None)
    after = await desk.get(claim["id"])
    new = after["evidence"][before:]
    assert [(e["kind"], e["source"]) for e in new] == [("message", "customer"), ("other", "customer")]
    assert "Here is the repair quote." in new[0]["note"]
    assert new[1]["file"]["filename"] == "quote.pdf"
    assert {e["added_by"] for e in new} == {f"mail:{row.id}"}
    with stack.sessions() as db:
        assert db.get(tables.User, f"mail:{row.id}").active is False  # used once, then closed


async def test_a_reply_to_our_message_id_joins_even_with_a_new_subject(desk, stack, receiver):
    customer = address()
    claim = await desk.open(customer_email=customer)
    msg = mail(customer, "photos", In_Reply_To=claim_message_id(claim["id"], "42"))
    await send(receiver, msg)
    assert stored(stack, msg["Message-ID"])[0].state == "joined"


async def test_the_same_message_twice_is_recorded_once(stack, receiver):
    msg = mail(address(), "Twice")
    await send(receiver, msg)
    await send(receiver, msg)
    assert len(stored(stack, msg["Message-ID"])) == 1


async def test_a_30_mb_message_is_refused_by_the_receiver_and_nothing_is_stored(stack, receiver):
    before = count(stack)
    msg = mail(address(), "Huge", files=[("big.bin", b"x" * 30_000_000, "application/octet-stream")])
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused:
        await send(receiver, msg)
    assert refused.value.smtp_code == 552
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # without SIZE announced: refused after DATA
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(receiver, raw)
    assert refused.value.smtp_code == 552
    assert count(stack) == before


async def test_mail_from_a_stranger_to_a_claim_is_quarantined_and_the_claim_unchanged(desk, stack, receiver):
    claim = await desk.open(customer_email=address())
    msg = mail(address(), f"{claim_reference(claim['id'])} pay me", files=[("x.png", PHOTO, "image/png")])
    await send(receiver, msg)
    [row] = stored(stack, msg["Message-ID"])
    assert (row.state, row.reason) == ("quarantined", f"sender is not a party to claim {claim['id']}")
    assert await desk.get(claim["id"]) == claim


async def test_too_many_attachments_are_refused_with_a_reason(stack, receiver):
    msg = mail(address(), "Many", files=[(f"{n}.txt", b"x", "text/plain") for n in range(11)])
    await send(receiver, msg)
    [row] = stored(stack, msg["Message-ID"])
    assert row.state == "refused" and "11 attachments" in row.reason


@pytest.mark.parametrize("secret", [None, "", "wrong", INBOUND_SECRET + "x"])
async def test_inbound_http_without_the_secret_is_refused_and_stores_nothing(desk, stack, secret):
    before = count(stack)
    headers = {"Content-Type": "message/rfc822"} | ({"X-Inbound-Secret": secret} if secret is not None else {})
    r = await desk.client.post("/inbound/email", content=bytes(mail(address(), "hi")), headers=headers)
    assert_error(r, 401, "unauthenticated")
    assert count(stack) == before


async def test_inbound_http_with_the_secret_routes_like_smtp(desk, stack):
    customer = address()
    claim = await desk.open(customer_email=customer)
    headers = {"Content-Type": "message/rfc822", "X-Inbound-Secret": INBOUND_SECRET}
    joined = mail(customer, f"Re: {claim_reference(claim['id'])}", text="more photos")
    r = await desk.client.post("/inbound/email", content=bytes(joined), headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["via"]) == ("joined", "http")
    new = mail(address(), "Another claim")
    r = await desk.client.post("/inbound/email", content=bytes(new), headers=headers)
    assert r.json()["state"] == "inbox"
    first = r.json()["id"]
    r = await desk.client.post("/inbound/email", content=bytes(new), headers=headers)
    assert r.json()["id"] == first
    r = await desk.client.post(f"/inbox/{first}/dismiss", json={"reason": "a question"}, headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["reason"], r.json()["decided_by"]) == (
        "dismissed",
        "a question",
        desk.specialist.user_id,
    )
