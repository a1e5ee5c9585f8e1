"""Building the weekly digest and keeping it; mailing it to the configured addresses, at most once.

What goes in a digest (the KPIs, the new signals) is computed by the service layer: the worker hands
`compose` in, so activities import no service module. The digest's row records the leads and managers
it was for (by name, as they were when it was built) and the addresses it was mailed to: the
notifications table is the claims' (covered by their audit chains), so a digest adds nothing there.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from mail.names import MESSAGE_ID_DOMAIN
from mail.out import Mailer
from schema import tables
from schema.digests import DigestBody, DigestBuilt

MAIL_ATTEMPTS = 5  # the workflow's retry policy for the mail allows this many tries; the last marks it failed
RECIPIENT_ROLES = ("lead", "manager")


def digest_id(week_start: date) -> str:
    return f"digest-{week_start.isoformat()}"


class DigestActivities:
    def __init__(
        self, sessions: sessionmaker, mailer: Mailer, compose: Callable[[date], DigestBody], to: Sequence[str]
    ):
        self._sessions = sessions
        self._mailer = mailer
        self._compose = compose
        self._to = tuple(to)

    @activity.defn
    @classified
    def build_digest(self, week_start: date) -> DigestBuilt:
        """Safe to run again: the week's row is built anew (its mail state kept), never a second one."""
        body = self._compose(week_start)
        key = digest_id(week_start)
        with self._sessions.begin() as db:
            u = tables.User
            recipients = list(
                db.scalars(select(u.name).where(u.active.is_(True), u.role.in_(RECIPIENT_ROLES)).order_by(u.name))
            )
            row = db.get(tables.Digest, key, with_for_update=True)
            if row is None:
                row = tables.Digest(id=key, week_start=week_start, mailed_to=[], mail_state="pending")
                db.add(row)
            row.built_at, row.body, row.recipients = datetime.now(UTC), body.model_dump(mode="json"), recipients
        return DigestBuilt(id=key, week_start=week_start, new_signals=len(body.new_signals))

    @activity.defn
    @classified
    def mail_digest(self, key: str) -> str:
        """Mail the digest to GUARANTEE_DIGEST_TO unless it was sent already; answers its mail state."""
        with self._sessions.begin() as db:
            row = db.get(tables.Digest, key, with_for_update=True)
            if row is None:
                raise LookupError(f"no digest {key}")
            if row.mail_state == "sent":
                return "sent"
            if not self._to:
                row.mail_state, row.mail_error = "skipped", "no addresses: GUARANTEE_DIGEST_TO is not set"
                return "skipped"
            message = digest_message(self._mailer, key, row.week_start, DigestBody.model_validate(row.body), self._to)
        try:
            self._mailer.deliver(message)
        except Exception as err:  # the transport's failures are many (OSError, smtplib.SMTPException ...)
            last = _attempt() >= MAIL_ATTEMPTS
            self._mark(key, "failed" if last else "pending", f"{type(err).__name__}: {err}"[:1000])
            raise ApplicationError(f"digest not mailed: {err}", type="mail_not_sent", non_retryable=last) from None
        self._mark(key, "sent", None)
        return "sent"

    def _mark(self, key: str, state: str, error: str | None) -> None:
        with self._sessions.begin() as db:
            row = db.get(tables.Digest, key)
            row.mail_state, row.mail_error = state, error
            if state == "sent":
                row.mailed_to, row.mailed_at = list(self._to), datetime.now(UTC)


def _attempt() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:  # called outside an activity (a test)
        return 1


def digest_message(mailer: Mailer, key: str, week_start: date, body: DigestBody, to: Sequence[str]) -> EmailMessage:
    """One mail to every address, with a Message-ID fixed by the week: a resend is the same mail."""
    message = EmailMessage()
    message["From"] = mailer.sender
    message["To"] = ", ".join(to)
    week_end = week_start + timedelta(days=6)
    message["Subject"] = f"Weekly digest: {week_start.isoformat()} to {week_end.isoformat()}"
    message["Message-ID"] = f"<{key}@{MESSAGE_ID_DOMAIN}>"
    message["X-Guarantee-Notification"] = "weekly_digest"
    message.set_content(digest_text(body, f"{mailer.public_url}/digests/{key}"))
    return message


def digest_text(body: DigestBody, url: str) -> str:
    k, t = body.kpis, body.kpis.total
    lines = [
        "Hello,",
        "",
        f"The week {k.date_from} to {k.date_to} in figures:",
        "",
        f"  opened {t.opened}, resolved {t.resolved}, paid {t.paid}, denied {t.denied}, withdrawn {t.withdrawn}, "
        f"closed for no evidence {t.closed_no_evidence}, resolved by mediation {t.mediated}",
        "  SLA breaches: " + (", ".join(f"{n} {kind}" for kind, n in t.sla_breaches.items()) or "none"),
    ]
    for a in t.amounts:
        lines.append(
            f"  {a.currency}: claimed {a.claimed_cents / 100:,.2f}, approved {a.approved_cents / 100:,.2f}, "
            f"paid {a.paid_cents / 100:,.2f}"
        )
    for g in k.groups:
        lines.append(f"  {g.label}: opened {g.opened}, resolved {g.resolved}, paid {g.paid}")
    lines += ["", f"New signals this week ({len(body.new_signals)}):", ""]
    lines += [f"  {s.rule} {s.subject}: {s.detail} ({', '.join(s.claim_ids[:10])})" for s in body.new_signals]
    if not body.new_signals:
        lines.append("  none")
    lines += ["", f"The whole digest: {url}", "", "The guarantee team"]
    return "\n".join(lines)
