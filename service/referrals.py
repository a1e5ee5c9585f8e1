"""Referrals: whoever works a claim hands a question to another team; someone there takes it and answers.

A referral is its own record beside the claim, not a step of the claim's process: the claim goes
on (or waits, by its own rules) while the team works, and the asker sees the answer on the claim
and on their home page.
"""

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from rules import referrals as rules
from rules.errors import DomainError
from rules.roles import check_casework, permit
from schema import tables
from schema.claims import Actor
from schema.enums import Action, ReferralStatus, Team
from schema.referrals import ReferralAnswer, ReferralRequest, ReferralView
from service import claims, offers
from service.context import Context

LIMIT = 200


def _view(row: tables.Referral) -> ReferralView:
    return ReferralView.model_validate(row, from_attributes=True)


async def refer(ctx: Context, claim_id: str, actor: Actor, request: ReferralRequest) -> ReferralView:
    """A question for `request.team`, asked by whoever works the claim, in any state (a court's request
    can come after the payout)."""
    permit(Action.refer, actor.role)
    claim = await claims.get(ctx, claim_id)
    check_casework(offers.caseworker(claim), actor)

    def store() -> ReferralView:
        with ctx.sessions.begin() as db:
            row = tables.Referral(
                claim_id=claim_id,
                team=request.team,
                note=request.note,
                status=ReferralStatus.open,
                referred_by=actor.user_id,
                referred_at=datetime.now(UTC),
            )
            db.add(row)
            db.flush()
            return _view(row)

    return await asyncio.to_thread(store)


def listed(
    sessions: sessionmaker,
    actor: Actor,
    team: Team | None = None,
    status: ReferralStatus | None = None,
    referred_by: str | None = None,
    claim_id: str | None = None,
) -> list[ReferralView]:
    """Referrals, oldest first: a team's queue reads from the top."""
    permit(Action.read_claims, actor.role)
    r = tables.Referral
    query = select(r).order_by(r.referred_at, r.id).limit(LIMIT)
    for column, value in ((r.team, team), (r.status, status), (r.referred_by, referred_by), (r.claim_id, claim_id)):
        if value is not None:
            query = query.where(column == value)
    with sessions() as db:
        return [_view(row) for row in db.scalars(query)]


def take(sessions: sessionmaker, referral_id: int, actor: Actor) -> ReferralView:
    permit(Action.handle_referral, actor.role)
    with sessions.begin() as db:
        row = _locked(db, referral_id)
        rules.check_take(ReferralStatus(row.status), row.referred_by, actor)
        row.status, row.owner, row.taken_at = ReferralStatus.taken, actor.user_id, datetime.now(UTC)
        return _view(row)


def answer(sessions: sessionmaker, referral_id: int, actor: Actor, reply: ReferralAnswer) -> ReferralView:
    permit(Action.handle_referral, actor.role)
    with sessions.begin() as db:
        row = _locked(db, referral_id)
        rules.check_answer(ReferralStatus(row.status), row.owner, actor)
        row.status, row.answer, row.answered_at = ReferralStatus.answered, reply.answer, datetime.now(UTC)
        return _view(row)


def _locked(db, referral_id: int) -> tables.Referral:
    row = db.get(tables.Referral, referral_id, with_for_update=True)
    if row is None:
        raise DomainError("not_found", f"no referral {referral_id}")
    return row
