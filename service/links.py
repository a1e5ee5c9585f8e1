"""Signed links through which a claim's customer or pro adds evidence, without an account.

A specialist who works the claim (its assignee, or a lead and above) makes a link for one party.
The token in its URL is an HMAC, under a key derived from the service's signing key, of the link's
id, the claim's id, the party and the expiry; it is shown once, when the link is made, and never
stored. The `evidence_links` row makes the link revocable and says who made and revoked it.

A link acts as the user `link:<id>` (role `party`, named like "customer (link 12)"): a users row,
without token or password, so the evidence it adds names who added it like any other, the claim
activities believe it only while it is active, and revoking the link deactivates it at once.
Its evidence goes through `claims.add_evidence`, signed like every action, as the link's party.
"""

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from activities.links import _b64, _key, _unb64, insert_link, link_url, link_user, make_token  # noqa: F401
from rules.errors import DomainError
from rules.roles import check_casework, permit
from schema import tables
from schema.claims import Actor, ClaimDetail, EvidenceAdd, Strict
from schema.enums import Action, ClaimStatus, EvidenceSource, Role
from service import claims
from service.context import Context
from service.evidence import StagedFile
from service.offers import caseworker

LINK_DAYS = 7  # how long a link lasts unless its maker says otherwise
MAX_LINK_DAYS = 30
FORM_FOR = timedelta(hours=12)  # how long a link's page stays valid to post from


class LinkRequest(Strict):
    party: EvidenceSource = Field(description="customer or pro")
    days: int = Field(default=LINK_DAYS, ge=1, le=MAX_LINK_DAYS, strict=True)


class LinkView(BaseModel):
    """A link as its claim's people see it; `url` only in the answer that made it."""

    id: int
    claim_id: str
    party: EvidenceSource
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class OpenLink:
    """A link that checked out: its row's facts and the actor it adds evidence as."""

    id: int
    claim_id: str
    party: EvidenceSource
    expires_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(user_id=link_user(self.id), name=f"{self.party.value} (link {self.id})", role=Role.party)


# The token.


INVALID = DomainError("link_invalid", "This link is not valid. Ask the person handling your claim for a new one.")


def read_token(signing_key: bytes, token: str) -> tuple[int, str, EvidenceSource, datetime]:
    """The link id, claim id, party and expiry the token names; `link_invalid` if it was not made here."""
    try:
        payload_b64, mac_b64 = token.split(".")
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
    except (ValueError, UnicodeError):
        raise INVALID from None
    expected = hmac.new(_key(signing_key, "token"), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise INVALID
    try:
        link_id, claim_id, party, expires = json.loads(payload)
        if not isinstance(link_id, int) or not isinstance(claim_id, str) or not isinstance(expires, int):
            raise ValueError("not a link")
        return link_id, claim_id, EvidenceSource(party), datetime.fromtimestamp(expires, UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        raise INVALID from None


def form_check(signing_key: bytes, token: str, issued: int) -> str:
    """The link page's form field: a MAC of the token and when the page was served (no session to tie it to)."""
    return hmac.new(_key(signing_key, "form"), f"{token}\n{issued}".encode(), hashlib.sha256).hexdigest()


def form_ok(signing_key: bytes, token: str, sent: str | None, issued: str | None, now: datetime) -> bool:
    if not sent or not issued or not issued.isdigit():
        return False
    age = now - datetime.fromtimestamp(int(issued), UTC)
    fresh = timedelta(minutes=-5) <= age <= FORM_FOR
    return fresh and hmac.compare_digest(sent, form_check(signing_key, token, int(issued)))


# Making, listing and revoking links: the claim's caseworkers.


async def _check_may_link(ctx: Context, claim_id: str, actor: Actor) -> ClaimDetail:
    """Who may add evidence to the claim may ask its customer or pro for theirs."""
    permit(Action.add_evidence, actor.role)
    if actor.role == Role.party:
        raise DomainError("forbidden", "a link cannot make links")
    claim = await claims.get(ctx, claim_id)
    check_casework(caseworker(claim), actor)
    return claim


async def create(ctx: Context, claim_id: str, actor: Actor, request: LinkRequest, base_url: str) -> LinkView:
    """A new link; its URL is in this answer only."""
    claim = await _check_may_link(ctx, claim_id, actor)
    if claim.status != ClaimStatus.evidence_collection:
        raise DomainError("invalid_state", f"the claim is {claim.status.value}; it no longer collects evidence")
    if request.party not in (EvidenceSource.customer, EvidenceSource.pro):
        raise DomainError("invalid_request", "party: a link is for the customer or the pro")
    now = (await ctx.clock()).astimezone(UTC).replace(microsecond=0)
    row = await asyncio.to_thread(_insert, ctx.sessions, claim_id, request, actor, now)
    return _view(row).model_copy(update={"url": link_url(ctx.signing_key, row, base_url)})


def _insert(sessions: sessionmaker, claim_id: str, request: LinkRequest, actor: Actor, now: datetime):
    with sessions.begin() as db:
        row = insert_link(db, claim_id, request.party, actor.user_id, now, now + timedelta(days=request.days))
        db.expunge(row)
        return row


async def list_links(ctx: Context, claim_id: str, actor: Actor) -> list[LinkView]:
    permit(Action.read_claims, actor.role)
    await claims.get(ctx, claim_id)
    return await asyncio.to_thread(_rows, ctx.sessions, claim_id)


def _rows(sessions: sessionmaker, claim_id: str) -> list[LinkView]:
    link = tables.EvidenceLink
    with sessions() as db:
        return [_view(r) for r in db.scalars(select(link).where(link.claim_id == claim_id).order_by(link.id))]


def _view(row: tables.EvidenceLink) -> LinkView:
    return LinkView(
        id=row.id,
        claim_id=row.claim_id,
        party=EvidenceSource(row.party),
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


async def revoke(ctx: Context, claim_id: str, link_id: int, actor: Actor) -> LinkView:
    """The link stops working at once: its user is deactivated, so evidence not yet recorded is refused too."""
    await _check_may_link(ctx, claim_id, actor)
    now = await ctx.clock()
    return await asyncio.to_thread(_revoke, ctx.sessions, claim_id, link_id, actor, now)


def _revoke(sessions: sessionmaker, claim_id: str, link_id: int, actor: Actor, now: datetime) -> LinkView:
    with sessions.begin() as db:
        row = db.get(tables.EvidenceLink, link_id, with_for_update=True)
        if row is None or row.claim_id != claim_id:
            raise DomainError("not_found", f"claim {claim_id} has no link {link_id}")
        if row.revoked_at is None:
            row.revoked_at, row.revoked_by = now, actor.user_id
            user = db.get(tables.User, link_user(link_id), with_for_update=True)
            if user is not None and user.active:
                user.active = False
                db.add(
                    tables.UserChange(
                        user_id=user.id, at=now, change="deactivated", detail="link revoked", by=actor.user_id
                    )
                )
        db.flush()
        return _view(row)


# Using a link: the customer or the pro, with nothing but the token.


EXPIRED = "This link has expired. Ask the person handling your claim for a new one."
REVOKED = "This link no longer works. Ask the person handling your claim for a new one."
CLOSED = "This claim no longer takes evidence through this link. Thank you; the person handling it will be in touch."


async def open_link(ctx: Context, token: str) -> OpenLink:
    """The link the token names, if it may still add evidence now; else a refusal in plain words."""
    link_id, claim_id, party, expires_at = read_token(ctx.signing_key, token)
    row = await asyncio.to_thread(_row, ctx.sessions, link_id)
    if (
        row is None
        or row.claim_id != claim_id
        or row.party != party.value
        or int(row.expires_at.timestamp()) != int(expires_at.timestamp())
    ):
        raise INVALID
    if row.revoked_at is not None:
        raise DomainError("link_revoked", REVOKED)
    if await ctx.clock() >= row.expires_at:
        raise DomainError("link_expired", EXPIRED)
    claim = await asyncio.to_thread(_status, ctx.sessions, claim_id)
    if claim != ClaimStatus.evidence_collection:
        raise DomainError("link_closed", CLOSED)
    return OpenLink(row.id, claim_id, party, row.expires_at)


def _row(sessions: sessionmaker, link_id: int) -> tables.EvidenceLink | None:
    with sessions() as db:
        return db.get(tables.EvidenceLink, link_id)


def _status(sessions: sessionmaker, claim_id: str) -> str | None:
    with sessions() as db:
        return db.scalar(select(tables.Claim.status).where(tables.Claim.id == claim_id))


async def add_evidence(
    ctx: Context, link: OpenLink, evidence: EvidenceAdd, staged: StagedFile | None = None
) -> ClaimDetail:
    """Evidence from the link's party, as the link: signed and sent like any action on the claim."""
    evidence = evidence.model_copy(update={"source": link.party})
    try:
        return await claims.add_evidence(ctx, link.claim_id, link.actor, evidence, staged=staged)
    except DomainError as err:
        if err.code in ("invalid_state", "inactive_user"):  # the claim moved on, or the link was revoked meanwhile
            raise DomainError("link_closed", CLOSED) from None
        raise
