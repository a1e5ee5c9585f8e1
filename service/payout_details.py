"""Payout details in the database; the claim's workflow only ever sees their reference."""

from datetime import UTC, datetime

from sqlalchemy.orm import sessionmaker

from schema import tables
from schema.claims import Actor, PayoutDetails, PayoutDetailsRef


def store(sessions: sessionmaker, claim_id: str, details: PayoutDetails, actor: Actor) -> PayoutDetailsRef:
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
