"""Payout details in the database; the claim's workflow only ever sees their reference."""

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import sessionmaker

from schema import tables
from schema.claims import Actor, PayoutDetails, PayoutDetailsRef


def store(sessions: sessionmaker, claim_id: str | None, details: PayoutDetails, actor: Actor) -> PayoutDetailsRef:
    """`claim_id` None for details given with a claim being opened: its first step takes them."""
    with sessions.begin() as db:
        row = tables.PayoutDetail(
            claim_id=claim_id,
            method=details.method,
            destination=details.destination,
            added_by=actor.user_id,
            added_at=datetime.now(UTC),
        )
        db.add(row)
        db.flush()
        return PayoutDetailsRef(id=row.id, method=details.method)


def discard(sessions: sessionmaker, ref: PayoutDetailsRef) -> None:
    """Remove details the workflow refused, so a refused request leaves nothing behind."""
    with sessions.begin() as db:
        db.delete(db.get(tables.PayoutDetail, ref.id))


def discard_untaken(sessions: sessionmaker, ref: PayoutDetailsRef) -> None:
    """Remove details given with a claim that did not take them: it was open already (the same claim_id again)."""
    row = tables.PayoutDetail
    with sessions.begin() as db:
        db.execute(delete(row).where(row.id == ref.id, row.claim_id.is_(None)))
