"""Users and their API tokens. Only a SHA-256 of a token is stored; the token is shown once."""

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
                )
            )
    except IntegrityError:
        raise UserExists(f"a user named {name!r} already exists") from None
    return Actor(user_id=user_id, name=name, role=role), token


def authenticate(sessions: sessionmaker, token: str) -> Actor | None:
    with sessions() as db:
        user = db.scalar(
            select(tables.User).where(tables.User.token_hash == hash_token(token), tables.User.active.is_(True))
        )
    return user and Actor(user_id=user.id, name=user.name, role=Role(user.role))


def list_users(sessions: sessionmaker) -> list[tables.User]:
    with sessions() as db:
        return list(db.scalars(select(tables.User).order_by(tables.User.name)))


def find(sessions: sessionmaker, user: str) -> tables.User | None:
    """A user by id or by name."""
    with sessions() as db:
        return db.get(tables.User, user) or db.scalar(select(tables.User).where(tables.User.name == user))
