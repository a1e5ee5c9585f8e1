"""Evidence links' rows and tokens, made by the service (for a person) and by the mail activity (for the pro).

The token in a link's URL is an HMAC, under a key derived from the service's signing key, of the
link's id, the claim's id, the party and the expiry: made again from the row, it is the same every
time, so a mail sent again carries the same link. `service.links` says what links are for.
"""

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from schema import tables
from schema.enums import EvidenceSource, Role


def link_user(link_id: int) -> str:
    return f"link:{link_id}"


def _key(signing_key: bytes, purpose: str) -> bytes:
    """A key of its own for each use, so a link's MAC can never pass for a signed action's."""
    return hmac.new(signing_key, f"evidence-link:{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(signing_key: bytes, link_id: int, claim_id: str, party: EvidenceSource, expires_at: datetime) -> str:
    payload = json.dumps([link_id, claim_id, party.value, int(expires_at.timestamp())], separators=(",", ":"))
    mac = hmac.new(_key(signing_key, "token"), payload.encode(), hashlib.sha256).digest()
    return f"{_b64(payload.encode())}.{_b64(mac)}"


def insert_link(
    db: Session, claim_id: str, party: EvidenceSource, created_by: str, now: datetime, expires_at: datetime
) -> tables.EvidenceLink:
    """The link's row and its user, in the caller's transaction (also used by the mail that carries a link)."""
    row = tables.EvidenceLink(
        claim_id=claim_id, party=party.value, created_by=created_by, created_at=now, expires_at=expires_at
    )
    db.add(row)
    db.flush()
    db.add(
        tables.User(
            id=link_user(row.id),
            name=f"{party.value} (link {row.id})",
            role=Role.party.value,
            # No one holds a token for this row: a hash of a secret thrown away at once.
            token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            created_at=now,
            active=True,
            token_expires_at=row.expires_at,
        )
    )
    db.add(
        tables.UserChange(
            user_id=link_user(row.id),
            at=now,
            change="added",
            detail=f"evidence link for the {party.value} of claim {claim_id}",
            by=created_by,
            reason=None,
        )
    )
    db.flush()
    return row


def link_url(signing_key: bytes, row: tables.EvidenceLink, base_url: str) -> str:
    """The link's URL: made again from its row, the same every time (the token is a MAC of the row's facts)."""
    token = make_token(signing_key, row.id, row.claim_id, EvidenceSource(row.party), row.expires_at)
    return f"{base_url.rstrip('/')}/e/{token}"
