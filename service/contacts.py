"""The parties' email addresses on a claim: personal data, so kept in the database and out of Temporal.

Every change is a new row, so the claim keeps who set which address and when; the newest per
party is the one mail goes to and the one a message from that party is recognised by.
"""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema import tables
from schema.claims import Actor, Contacts
from schema.enums import EvidenceSource

PARTIES = (EvidenceSource.customer, EvidenceSource.pro)


def store(sessions: sessionmaker, claim_id: str, contacts: Contacts, actor: Actor) -> int:
    """Record the addresses given that differ from those in use; answers how many changed."""
    now, changed = datetime.now(UTC), 0
    with sessions.begin() as db:
        in_use = _current(db, claim_id)
        for party in PARTIES:
            email = getattr(contacts, f"{party.value}_email")
            if email and in_use.get(party) != email:
                db.add(tables.Contact(claim_id=claim_id, party=party, email=email, set_by=actor.user_id, set_at=now))
                changed += 1
    return changed


def current(sessions: sessionmaker, claim_id: str) -> dict[EvidenceSource, str]:
    with sessions() as db:
        return _current(db, claim_id)


def _current(db: Session, claim_id: str) -> dict[EvidenceSource, str]:
    c = tables.Contact
    newest = select(c.party, func.max(c.id)).where(c.claim_id == claim_id).group_by(c.party).subquery()
    rows = db.execute(select(c.party, c.email).join(newest, c.id == newest.c[1]))
    return {EvidenceSource(party): email for party, email in rows}


def party_of(sessions: sessionmaker, claim_id: str, address: str) -> EvidenceSource | None:
    """Which party of the claim writes from `address`, by the addresses in use; None for a stranger."""
    address = address.strip().lower()
    return next((party for party, email in current(sessions, claim_id).items() if email == address), None)
