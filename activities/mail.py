"""Sending a claim's notifications to its customer or pro as email, at most once per notification.

Each notification has one `outbound_mail` row (its key is unique) and one Message-ID. The activity
reads the row first: a mail already sent is not sent again, however often the activity is retried
or the workflow replayed. What it cannot rule out: the transport accepted the mail and the worker
died before the row said `sent`; the retry then sends it again, with the same Message-ID, so the
recipient's mail program (and we) can see it is the same mail.

Addresses and mail text never pass through Temporal: the order carries the claim id, the kind and
the notification key; the address comes from the claim's contacts, the text from the notification
row and the claim.
"""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import links
from activities.errors import classified
from mail.names import claim_message_id, claim_reference
from mail.out import Mailer
from schema import tables
from schema.enums import EvidenceSource
from schema.events import MailOrder

# The workflow's retry policy for sends allows this many tries; the last one marks the mail failed.
MAIL_ATTEMPTS = 12

SUBJECTS = {
    "evidence_reminder": "Reminder: please send your evidence",
    "claim_closed": "Your guarantee claim was closed",
    "claim_denied": "Decision on your guarantee claim",
    "payout_sent": "Your guarantee claim was paid",
    "pro_statement_request": "Your statement on a guarantee claim, please",
    "pro_statement_reminder": "Reminder: your statement on a guarantee claim",
    "mediation_agreed": "Your agreement with the pro",
    "claim_resolved": "Your guarantee claim was resolved",
}


class MailActivities:
    def __init__(self, sessions: sessionmaker, mailer: Mailer, signing_key: bytes):
        self._sessions = sessions
        self._mailer = mailer
        self._signing_key = signing_key

    @activity.defn
    @classified
    def send_mail(self, order: MailOrder) -> str:
        """Build and send the mail for one notification, unless it was sent already; answers its state."""
        message = self._prepare(order)
        if isinstance(message, str):
            return message  # sent before, or nothing to send
        try:
            self._mailer.deliver(message)
        except Exception as err:  # the transport's failures are many (OSError, smtplib.SMTPException ...)
            last = _attempt() >= MAIL_ATTEMPTS
            self._mark(order.key, "failed" if last else "queued", f"{type(err).__name__}: {err}"[:1000])
            raise ApplicationError(f"mail not sent: {err}", type="mail_not_sent", non_retryable=last) from None
        self._mark(order.key, "sent", None)
        return "sent"

    def _prepare(self, order: MailOrder):
        """The message to send, with its row queued and this try counted; or the state, if there is nothing to send."""
        now = datetime.now(UTC)
        with self._sessions.begin() as db:
            row = db.scalar(
                select(tables.OutboundMail).where(tables.OutboundMail.notification_key == order.key).with_for_update()
            )
            if row is not None and row.state in ("sent", "skipped"):
                return row.state
            claim = db.get(tables.Claim, order.claim_id)
            if claim is None:
                raise LookupError(f"claim {order.claim_id} is not in the database")
            to = _address(db, order.claim_id, order.party)
            if row is None:
                row = tables.OutboundMail(
                    notification_key=order.key,
                    claim_id=order.claim_id,
                    kind=order.kind,
                    message_id=claim_message_id(order.claim_id, order.key),
                    state="queued",
                    attempts=0,
                    queued_at=now,
                )
                db.add(row)
            if not to:
                row.state, row.last_error = "skipped", f"no {order.party.value} email on file"
                return "skipped"
            url = self._link(db, order, row, now)
            message = build_message(self._mailer, order, claim, to, _text(db, order.key), url)
            row.to, row.subject = to, message["Subject"]
            row.attempts += 1
            row.state = "queued"
            return message

    def _link(self, db: Session, order: MailOrder, row: tables.OutboundMail, now: datetime) -> str | None:
        """The evidence link the mail carries: made once (and kept on the row), the same URL on every try."""
        link_id = row.link_id
        if link_id is None and order.link_of is not None:
            link_id = db.scalar(
                select(tables.OutboundMail.link_id).where(tables.OutboundMail.notification_key == order.link_of)
            )
        if link_id is None and order.link_until is not None and order.link_by is not None:
            link_id = links.insert_link(db, order.claim_id, order.party, order.link_by, now, order.link_until).id
        if link_id is None:
            return None
        row.link_id = link_id
        return links.link_url(self._signing_key, db.get(tables.EvidenceLink, link_id), self._mailer.public_url)

    def _mark(self, key: str, state: str, error: str | None) -> None:
        with self._sessions.begin() as db:
            row = db.scalar(select(tables.OutboundMail).where(tables.OutboundMail.notification_key == key))
            row.state, row.last_error = state, error
            if state == "sent":
                row.sent_at = datetime.now(UTC)


def _attempt() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:  # called outside an activity (a test)
        return 1


def _address(db: Session, claim_id: str, party: EvidenceSource) -> str | None:
    """The party's address in use: the newest set (as `service.contacts` reads it)."""
    c = tables.Contact
    newest = select(c.email).where(c.claim_id == claim_id, c.party == party.value).order_by(c.id.desc()).limit(1)
    return db.scalar(newest)


def _text(db: Session, key: str) -> str:
    note = db.scalar(select(tables.Notification.message).where(tables.Notification.event_key == key))
    return note or ""


def build_message(mailer: Mailer, order: MailOrder, claim: tables.Claim, to: str, text: str, url: str | None):
    """The mail for one notification: `[claim <id>]` in the subject, a Message-ID fixed by the notification."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = mailer.sender
    message["To"] = to
    message["Subject"] = f"{claim_reference(order.claim_id)} {SUBJECTS.get(order.kind, 'About your guarantee claim')}"
    message["Message-ID"] = claim_message_id(order.claim_id, order.key)
    message["X-Guarantee-Notification"] = order.kind
    lines = ["Hello,", "", f"This is about guarantee claim {order.claim_id} (project {claim.project_id}).", ""]
    if text:
        lines += [text, ""]
    if url:
        lines += [
            "Please send your statement and any photos or documents through this link:",
            "",
            f"  {url}",
            "",
            "The link works for you alone; please do not pass it on.",
            "",
        ]
    lines += ["You can reply to this email; keep the claim reference in the subject.", "", "The guarantee team"]
    message.set_content("\n".join(lines))
    return message
