"""Outgoing mail as staff read it: every mail's row, and, kept in the outbox folder, the mail itself.

Casework roles and admins read it (`OUTBOX_READERS`): the mails carry customers' and pros' addresses.
"""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mail.out import OutboxEntry, mail_id, outbox_entry
from rules.errors import DomainError
from rules.roles import CASEWORK
from schema import tables
from schema.claims import Actor
from schema.enums import Role

OUTBOX_READERS = CASEWORK | {Role.admin}
LISTED = 200


@dataclass(frozen=True)
class MailView:
    id: str
    row: tables.OutboundMail
    entry: OutboxEntry | None  # the mail itself, when it is in the outbox folder


def check_reader(actor: Actor) -> None:
    if actor.role not in OUTBOX_READERS:
        raise DomainError("forbidden", "outgoing mail is read by casework roles and admins")


def recent(sessions: sessionmaker, folder: Path, limit: int = LISTED) -> list[MailView]:
    m = tables.OutboundMail
    with sessions() as db:
        rows = list(db.scalars(select(m).order_by(m.id.desc()).limit(limit)))
    return [MailView(mail_id(r.message_id), r, outbox_entry(folder, mail_id(r.message_id))) for r in rows]


def one(sessions: sessionmaker, folder: Path, id: str) -> MailView:
    m = tables.OutboundMail
    with sessions() as db:
        row = db.scalar(select(m).where(m.message_id == f"<{id}@guarantee.local>"))
    if row is None:
        raise DomainError("not_found", f"no outgoing mail {id!r}")
    return MailView(id, row, outbox_entry(folder, id))
