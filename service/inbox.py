"""Email in: every message kept whole, then routed to its claim, to the intake inbox, or aside with a reason.

`receive` is the one way in, for the SMTP receiver and for `POST /inbound/email` alike:

- The raw bytes go to the evidence store by SHA-256 and a `messages` row records the message. Its
  Message-ID is unique: the same message again is recorded once, and answers the first record.
- Too many attachments (more than MAX_ATTACHMENTS) or one larger than an evidence file may be:
  `refused`, with the reason; nothing of it joins a claim.
- A claim reference (`mail.parse`: `[claim <id>]` in the subject, or a reply to one of our
  Message-IDs): from one of the claim's parties (`contacts.party_of`), it `joined` the claim: its
  text is a `message` note and each attachment an evidence file, from that party. From anyone else,
  or to a claim that no longer takes evidence: `quarantined`, with the reason.
- No reference: the intake `inbox`, where a specialist opens a claim from it (`open_claim`, which
  makes every attachment evidence from the customer) or dismisses it as not a claim, with a reason.

A joining message acts as the user `mail:<message row id>` (role `party`, named like
"customer (mail 12)"): one per message, not one per party, so every piece of evidence names the
exact message it came from (and so the raw bytes it was cut from), and the row is deactivated as
soon as the message has joined, so nothing else can ever act as it. Like an evidence link's
user, it has no token and no password.

Mail is personal data: its text and files reach the claim's workflow only as evidence does from
any other source (through the payload codec); the message itself stays in the database and the store.
"""

import asyncio
import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from mail import receiver
from mail.parse import Attachment, ParsedMail, parse
from rules.errors import DomainError
from rules.roles import permit
from rules.states import EVIDENCE_STATES
from schema import tables
from schema.claims import Actor, ClaimDetail, ClaimOpenBody, EvidenceAdd, FileRef, Strict
from schema.enums import Action, ClaimStatus, EvidenceKind, EvidenceSource, Role
from service import claims
from service import contacts as claim_contacts
from service.context import OUTAGES, Context
from service.evidence import MAX_BYTES, EvidenceMissing

MAX_ATTACHMENTS = 10
# A whole message, as it arrives: an evidence file's limit and room for the text and the encoding's
# headers. Attachments come base64-encoded (a third larger), so one file of about 19 MB fits.
MAX_MESSAGE_BYTES = MAX_BYTES + 1024 * 1024
NOTE_LIMIT = 10_000  # an evidence note's length


class MessageState(StrEnum):
    inbox = "inbox"
    joined = "joined"
    quarantined = "quarantined"
    refused = "refused"
    opened = "opened"
    dismissed = "dismissed"


class AttachmentView(BaseModel):
    index: int  # 1, 2, ...: its place in the message
    filename: str
    content_type: str
    size_bytes: int


class MessageView(BaseModel):
    id: int
    message_id: str
    via: str
    sender: str
    subject: str
    received_at: datetime
    size_bytes: int
    state: MessageState
    claim_id: str | None = None
    reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    attachments: list[AttachmentView] = []


class MessageDetail(MessageView):
    text: str


class InboxPage(BaseModel):
    items: list[MessageView]
    total: int
    limit: int
    offset: int


class DismissRequest(Strict):
    reason: str = Field(min_length=1, max_length=2_000)


class InboxClaimBody(ClaimOpenBody):
    """`POST /claims`'s fields; the message gives what is left out: its text the description (else its
    subject), its sender the customer's email, and `email` the channel."""

    description: str | None = Field(default=None, min_length=1, max_length=10_000)
    channel: str = "email"


def mail_user(message_row_id: int) -> str:
    return f"mail:{message_row_id}"


# Receiving.


async def receive(ctx: Context, raw: bytes, via: str = "smtp") -> MessageView:
    """Store and route one raw message; the same Message-ID again answers the first record."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DomainError("too_large", f"a message is at most {MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
    digest = hashlib.sha256(raw).hexdigest()
    mail = parse(raw, fallback_id=f"sha256:{digest}")
    seen = await asyncio.to_thread(_by_message_id, ctx.sessions, mail.message_id)
    if seen is not None:
        return seen
    await asyncio.to_thread(ctx.evidence.put, raw)
    state, claim_id, reason, party = await _route(ctx, mail)
    now = datetime.now(UTC)
    try:
        row_id = await asyncio.to_thread(
            _insert, ctx.sessions, mail, digest, len(raw), via, now, state, claim_id, reason, party
        )
    except IntegrityError:  # the same message, recorded meanwhile by another delivery
        seen = await asyncio.to_thread(_by_message_id, ctx.sessions, mail.message_id)
        if seen is None:
            raise
        return seen
    if state == MessageState.joined:
        await _join(ctx, row_id, mail, claim_id, party)
    return await asyncio.to_thread(_view_of, ctx.sessions, row_id)


async def _route(ctx: Context, mail: ParsedMail) -> tuple[MessageState, str | None, str | None, EvidenceSource | None]:
    too_many = len(mail.attachments) > MAX_ATTACHMENTS
    if too_many:
        why = f"{len(mail.attachments)} attachments; a message may bring at most {MAX_ATTACHMENTS}"
        return MessageState.refused, mail.claim_id, why, None
    for a in mail.attachments:
        if a.size > MAX_BYTES:
            limit = MAX_BYTES // (1024 * 1024)
            why = f"attachment {a.filename!r} is {a.size / 1_000_000:.1f} MB; evidence files are at most {limit} MB"
            return MessageState.refused, mail.claim_id, why, None
    claim_id = mail.claim_id
    if claim_id is None:
        return MessageState.inbox, None, None, None
    status = await asyncio.to_thread(_claim_status, ctx.sessions, claim_id)
    if status is None:
        return MessageState.quarantined, claim_id, f"it names claim {claim_id}, which does not exist", None
    party = (
        await asyncio.to_thread(claim_contacts.party_of, ctx.sessions, claim_id, mail.sender) if mail.sender else None
    )
    if party is None:
        return MessageState.quarantined, claim_id, f"sender is not a party to claim {claim_id}", None
    if ClaimStatus(status) not in EVIDENCE_STATES:
        return MessageState.quarantined, claim_id, f"claim {claim_id} is {status}; it no longer takes evidence", party
    return MessageState.joined, claim_id, None, party


def _claim_status(sessions: sessionmaker, claim_id: str) -> str | None:
    with sessions() as db:
        return db.scalar(select(tables.Claim.status).where(tables.Claim.id == claim_id))


def _insert(sessions, mail: ParsedMail, digest, size, via, now, state, claim_id, reason, party) -> int:
    with sessions.begin() as db:
        row = tables.Message(
            message_id=mail.message_id,
            sha256=digest,
            size_bytes=size,
            via=via,
            sender=mail.sender[:254],
            subject=mail.subject,
            received_at=now,
            state=state.value,
            claim_id=claim_id,
            reason=reason,
            attachments=[
                {"filename": a.filename, "content_type": a.content_type, "size_bytes": a.size} for a in mail.attachments
            ],
        )
        db.add(row)
        db.flush()
        if state == MessageState.joined:
            user_id = mail_user(row.id)
            db.add(
                tables.User(
                    id=user_id,
                    name=f"{party.value} (mail {row.id})",
                    role=Role.party.value,
                    token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),  # no one holds a token
                    created_at=now,
                    active=True,
                    token_expires_at=now,
                )
            )
            db.flush()
            detail = f"the {party.value} of claim {claim_id}, by email (message {row.id})"
            db.add(tables.UserChange(user_id=user_id, at=now, change="added", detail=detail, by="mail"))
        return row.id


async def _join(ctx: Context, row_id: int, mail: ParsedMail, claim_id: str, party: EvidenceSource) -> None:
    """The message's text and files as the party's evidence; then its user is deactivated."""
    actor = Actor(user_id=mail_user(row_id), name=f"{party.value} (mail {row_id})", role=Role.party)
    try:
        await _add_all(ctx, claim_id, actor, row_id, mail, party, note=True)
    except DomainError as err:
        reason = f"claim {claim_id} refused it: {err.message}"
        await asyncio.to_thread(_set_state, ctx.sessions, row_id, MessageState.joined, MessageState.quarantined, reason)
    finally:
        await asyncio.to_thread(_deactivate, ctx.sessions, mail_user(row_id))


async def _add_all(
    ctx: Context, claim_id: str, actor: Actor, row_id: int, mail: ParsedMail, source: EvidenceSource, note: bool
) -> ClaimDetail | None:
    """The text as a `message` note (when `note`), and each attachment as a file; each sent once (its update id)."""
    claim = None
    if note:
        text = (
            f"Email: {mail.subject}\n\n{mail.text}".strip() if mail.subject else mail.text or "(an email without text)"
        )
        if len(text) > NOTE_LIMIT:
            cut = "\n\n[cut here: the whole text is the file email-text.txt]"
            text = text[: NOTE_LIMIT - len(cut)] + cut
            full = Attachment(filename="email-text.txt", content_type="text/plain", content=mail.text.encode())
            mail = mail.model_copy(update={"attachments": [*mail.attachments, full]})
        evidence = EvidenceAdd(kind=EvidenceKind.message, source=source, note=text)
        claim = await claims.add_evidence(ctx, claim_id, actor, evidence, update_id=f"mail-{row_id}-text")
    for n, a in enumerate(mail.attachments, start=1):
        staged = ctx.evidence.stage()
        try:
            staged.write(a.content)
            staged.finish()
        except BaseException:
            staged.discard()
            raise
        ref = FileRef(sha256=staged.sha256, filename=a.filename, content_type=a.content_type, size_bytes=a.size)
        note_text = f"attached to the email {mail.subject!r}" if mail.subject else "attached to an email"
        evidence = EvidenceAdd(kind=_kind(a.content_type), source=source, note=note_text[:NOTE_LIMIT], file=ref)
        claim = await claims.add_evidence(ctx, claim_id, actor, evidence, update_id=f"mail-{row_id}-{n}", staged=staged)
    return claim


def _kind(content_type: str) -> EvidenceKind:
    major = content_type.split("/")[0]
    return {"image": EvidenceKind.photo, "video": EvidenceKind.video}.get(major, EvidenceKind.other)


def _set_state(sessions, row_id: int, was: MessageState, to: MessageState, reason: str | None, **more) -> bool:
    with sessions.begin() as db:
        m = tables.Message
        done = db.execute(
            update(m).where(m.id == row_id, m.state == was.value).values(state=to.value, reason=reason, **more)
        )
        return done.rowcount == 1


def _deactivate(sessions, user_id: str) -> None:
    with sessions.begin() as db:
        user = db.get(tables.User, user_id, with_for_update=True)
        if user is not None and user.active:
            user.active = False
            now = datetime.now(UTC)
            db.add(tables.UserChange(user_id=user_id, at=now, change="deactivated", detail="message joined", by="mail"))


# Reading.


def _view(row: tables.Message) -> MessageView:
    return MessageView(
        id=row.id,
        message_id=row.message_id,
        via=row.via,
        sender=row.sender,
        subject=row.subject,
        received_at=row.received_at,
        size_bytes=row.size_bytes,
        state=MessageState(row.state),
        claim_id=row.claim_id,
        reason=row.reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        attachments=[AttachmentView(index=n, **a) for n, a in enumerate(row.attachments or [], start=1)],
    )


def _by_message_id(sessions: sessionmaker, message_id: str) -> MessageView | None:
    with sessions() as db:
        row = db.scalar(select(tables.Message).where(tables.Message.message_id == message_id))
        return row and _view(row)


def _view_of(sessions: sessionmaker, row_id: int) -> MessageView | None:
    with sessions() as db:
        row = db.get(tables.Message, row_id)
        return row and _view(row)


def list_messages(
    sessions: sessionmaker, actor: Actor, state: MessageState | None = None, limit: int = 50, offset: int = 0
) -> InboxPage:
    """Messages, newest first; `state` picks one state (the inbox itself: `inbox`)."""
    permit(Action.open, actor.role)  # the intake inbox is for those who open claims
    m = tables.Message
    where = [m.state == state.value] if state else []
    with sessions() as db:
        total = db.scalar(select(func.count()).select_from(m).where(*where))
        rows = db.scalars(
            select(m).where(*where).order_by(m.received_at.desc(), m.id.desc()).limit(limit).offset(offset)
        )
        return InboxPage(items=[_view(r) for r in rows], total=total, limit=limit, offset=offset)


async def get(ctx: Context, actor: Actor, row_id: int) -> MessageDetail:
    """The message with its text, read again from its raw bytes."""
    permit(Action.open, actor.role)
    view = await asyncio.to_thread(_view_of, ctx.sessions, row_id)
    if view is None:
        raise DomainError("not_found", f"no message {row_id}")
    mail = await asyncio.to_thread(_parsed, ctx, view)
    return MessageDetail(**view.model_dump(), text=mail.text)


def _parsed(ctx: Context, view: MessageView) -> ParsedMail:
    try:
        raw = ctx.evidence.read(_sha256(ctx, view.id))
    except EvidenceMissing:
        raise DomainError("message_lost", f"message {view.id}'s stored copy is missing from the store") from None
    return parse(raw, fallback_id=view.message_id)


def _sha256(ctx: Context, row_id: int) -> str:
    with ctx.sessions() as db:
        return db.scalar(select(tables.Message.sha256).where(tables.Message.id == row_id))


async def attachment(ctx: Context, actor: Actor, row_id: int, index: int) -> Attachment:
    """One attachment of the message (1 is the first)."""
    permit(Action.open, actor.role)
    view = await asyncio.to_thread(_view_of, ctx.sessions, row_id)
    if view is None:
        raise DomainError("not_found", f"no message {row_id}")
    mail = await asyncio.to_thread(_parsed, ctx, view)
    if not 1 <= index <= len(mail.attachments):
        raise DomainError("not_found", f"message {row_id} has no attachment {index}")
    return mail.attachments[index - 1]


# Acting on the inbox.


async def open_claim(ctx: Context, actor: Actor, row_id: int, body: InboxClaimBody) -> ClaimDetail:
    """A claim from a message in the inbox, with every attachment as the customer's evidence.

    The message turns `opened` first (only one person wins: a second open is refused, `invalid_state`),
    naming the claim id it opens; if opening is refused, it goes back to the inbox keeping that id, so
    trying again after an outage opens the same claim and never a second one.
    """
    permit(Action.open, actor.role)
    view = await asyncio.to_thread(_view_of, ctx.sessions, row_id)
    if view is None:
        raise DomainError("not_found", f"no message {row_id}")
    mail = await asyncio.to_thread(_parsed, ctx, view)
    fields = body.model_dump(exclude_none=True)
    fields.setdefault("description", (mail.text or mail.subject or "(an email without text)")[:NOTE_LIMIT])
    if mail.sender and not body.customer_email:
        fields["customer_email"] = mail.sender
    try:
        full = ClaimOpenBody.model_validate(fields)
    except ValueError as err:
        raise DomainError("invalid_request", str(err).splitlines()[-1] if str(err) else "invalid") from None
    claim_id = view.claim_id or uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    won = await asyncio.to_thread(
        _set_state, ctx.sessions, row_id, MessageState.inbox, MessageState.opened, None,
        claim_id=claim_id, decided_by=actor.user_id, decided_at=now,
    )  # fmt: skip
    if not won:
        raise DomainError(
            "invalid_state", f"message {row_id} is {view.state.value}; only a message in the inbox opens a claim"
        )
    contacts = full.contacts if full.customer_email or full.pro_email else None
    try:
        await claims.open_claim(ctx, actor, full.claim, full.payout, claim_id=claim_id, contacts=contacts)
    except BaseException:
        await asyncio.to_thread(
            _set_state, ctx.sessions, row_id, MessageState.opened, MessageState.inbox, None,
            claim_id=claim_id, decided_by=None, decided_at=None,
        )  # fmt: skip
        raise
    claim = await _add_all(ctx, claim_id, actor, row_id, mail, EvidenceSource.customer, note=False)
    return claim or await claims.get(ctx, claim_id)


async def dismiss(ctx: Context, actor: Actor, row_id: int, request: DismissRequest) -> MessageView:
    """Not a claim: the message leaves the inbox, with who said so and why."""
    permit(Action.open, actor.role)
    view = await asyncio.to_thread(_view_of, ctx.sessions, row_id)
    if view is None:
        raise DomainError("not_found", f"no message {row_id}")
    won = await asyncio.to_thread(
        _set_state, ctx.sessions, row_id, MessageState.inbox, MessageState.dismissed, request.reason,
        decided_by=actor.user_id, decided_at=datetime.now(UTC),
    )  # fmt: skip
    if not won:
        raise DomainError(
            "invalid_state", f"message {row_id} is {view.state.value}; only a message in the inbox is dismissed"
        )
    return await asyncio.to_thread(_view_of, ctx.sessions, row_id)


# The SMTP receiver, wired to this service.


def _is_outage(err: BaseException) -> bool:
    return isinstance(err, OUTAGES)


async def start_receiver(ctx: Context, sock) -> receiver.Receiver:
    """SMTP on the listening `sock`: every message goes to `receive`; larger than MAX_MESSAGE_BYTES: 552."""
    return await receiver.start(lambda raw: receive(ctx, raw, "smtp"), sock, MAX_MESSAGE_BYTES, _is_outage)
