"""Users and their API tokens. Only a SHA-256 of a token is stored; the token is shown once.

A token lasts GUARANTEE_TOKEN_TTL_DAYS (default 90) from when it was made.
"""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from schema import tables
from schema.claims import Actor
from schema.enums import Role
from stack.config import token_ttl


class UserExists(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(sessions: sessionmaker, name: str, role: Role) -> tuple[Actor, str]:
    """Create a user; returns them and their new token."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a user name is 1 to 100 characters")
    token = f"gp_{secrets.token_urlsafe(24)}"
    user_id = f"u_{uuid.uuid4().hex[:10]}"
    try:
        with sessions.begin() as db:
            db.add(
                tables.User(
                    id=user_id,
                    name=name,
                    role=role,
                    token_hash=hash_token(token),
                    created_at=datetime.now(UTC),
                    active=True,
                    token_expires_at=datetime.now(UTC) + token_ttl(),
                )
            )
    except IntegrityError:
        raise UserExists(f"a user named {name!r} already exists") from None
    return Actor(user_id=user_id, name=name, role=role), token


def authenticate(sessions: sessionmaker, token: str) -> Actor | None:
    """The user whose token this is, if it has not expired and they are active; else None."""
    with sessions() as db:
        user = db.scalar(
            select(tables.User).where(
                tables.User.token_hash == hash_token(token),
                tables.User.active.is_(True),
                tables.User.token_expires_at > datetime.now(UTC),
            )
        )
    return user and Actor(user_id=user.id, name=user.name, role=Role(user.role))


def list_users(sessions: sessionmaker) -> list[tables.User]:
    with sessions() as db:
        return list(db.scalars(select(tables.User).order_by(tables.User.name)))
