"""Signing in to the web app: passwords hashed with argon2id, server-side sessions, and a lock on guessing.

A session lives in an HttpOnly cookie as a random token; the database keeps only its SHA-256,
when it began and when it was last used. It ends after GUARANTEE_SESSION_IDLE_MINUTES without
use (30), after GUARANTEE_SESSION_HOURS in all (12), when the person signs out, or when their user
is deactivated. Five failed sign-ins in a row lock that name for 15 minutes; a success resets the
count. Every form the session posts carries its CSRF token.
"""

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from rules.errors import DomainError
from schema import tables
from schema.claims import Actor
from schema.enums import Role
from service import users
from service.users import UserError, _active, _record, hash_token

COOKIE = "gp_session"  # the web app's session cookie (HttpOnly, SameSite=Lax)
HASHER = PasswordHasher()  # argon2id, with the library's recommended cost
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
PASSWORD_LENGTH = (10, 200)
# Verified when the name is unknown, so a wrong name takes as long as a wrong password.
_DECOY = HASHER.hash(secrets.token_urlsafe(16))


def idle_timeout() -> timedelta:
    return timedelta(minutes=int(os.environ.get("GUARANTEE_SESSION_IDLE_MINUTES", "30")))


def absolute_timeout() -> timedelta:
    return timedelta(hours=int(os.environ.get("GUARANTEE_SESSION_HOURS", "12")))


@dataclass(frozen=True)
class WebSession:
    """A signed-in person, as a page sees them."""

    token: str
    actor: Actor
    csrf: str

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent, self.csrf)


def check_password(password: str) -> None:
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise UserError(f"a password is {low} to {high} characters")


def set_password(
    sessions: sessionmaker, name: str, password: str, by: str | None = None, reason: str | None = None
) -> int:
    """Set (or change) an active user's password; their open sessions end (how many is returned),
    and any lock is lifted."""
    check_password(password)
    hashed = HASHER.hash(password)
    now = datetime.now(UTC)
    with sessions.begin() as db:
        user = _active(db, name)
        if user.role == Role.party:  # an evidence link never signs in
            raise UserError(f"no user named {name!r}")
        user.password_hash, user.failed_sign_ins, user.locked_until = hashed, 0, None
        ended = db.execute(
            update(tables.WebSession)
            .where(tables.WebSession.user_id == user.id, tables.WebSession.ended_at.is_(None))
            .values(ended_at=now)
        ).rowcount
        _record(db, user.id, "password_set", None, by, reason)
    return ended


def add_user(sessions: sessionmaker, name: str, role: Role, password: str, by: str | None = None) -> tuple[Actor, str]:
    """A new user who signs in to the web app with `password`; returns them and their API token.

    The password is checked before anything is made: a refused one leaves no user behind."""
    check_password(password)
    return users.add_user(sessions, name, role, by=by, password_hash=HASHER.hash(password))


def password_matches(sessions: sessionmaker, name: str, password: str) -> bool:
    """Whether `password` is this active user's, for the command line (which holds the database anyway):
    no session begins, and a miss does not count toward the lock."""
    with sessions() as db:
        user = db.scalar(select(tables.User).where(tables.User.name == name.strip()))
        return user is not None and user.active and _verified(user, password)


def sign_in(sessions: sessionmaker, name: str, password: str, now: datetime | None = None) -> WebSession:
    """A new session for the right name and password; a DomainError (`sign_in_failed`, `locked`) otherwise.

    The refusal never says whether the name exists.
    """
    now = now or datetime.now(UTC)
    with sessions.begin() as db:
        user = db.scalar(select(tables.User).where(tables.User.name == name.strip()).with_for_update())
        if user is not None and user.locked_until is not None and user.locked_until > now:
            minutes = max(1, round((user.locked_until - now) / timedelta(minutes=1)))
            raise DomainError("locked", f"too many failed sign-ins: try again in {minutes} minutes")
        verified = _verified(user, password)
        if user is None or not user.active or not verified:
            if user is not None:
                user.failed_sign_ins += 1
                if user.failed_sign_ins >= LOCK_AFTER:
                    user.failed_sign_ins, user.locked_until = 0, now + LOCK_FOR
                    _record(db, user.id, "locked", f"{LOCK_AFTER} failed sign-ins in a row", "web", None)
        else:
            user.failed_sign_ins, user.locked_until = 0, None
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            db.add(
                tables.WebSession(id=hash_token(token), user_id=user.id, csrf=csrf, created_at=now, last_seen_at=now)
            )
            return WebSession(token, Actor(user_id=user.id, name=user.name, role=Role(user.role)), csrf)
    raise DomainError("sign_in_failed", "the name or the password is not right")


def _verified(user: tables.User | None, password: str) -> bool:
    """Always one argon2 verification, so an unknown name or a user without a password takes as long."""
    stored = user.password_hash if user is not None else None
    try:
        HASHER.verify(stored or _DECOY, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def current(sessions: sessionmaker, token: str | None, now: datetime | None = None) -> WebSession | None:
    """The session behind a cookie, if it is still open; using it keeps it from going idle."""
    if not token:
        return None
    now = now or datetime.now(UTC)
    with sessions.begin() as db:
        row = db.get(tables.WebSession, hash_token(token))
        if row is None or row.ended_at is not None:
            return None
        user = db.get(tables.User, row.user_id)
        idle = now - row.last_seen_at > idle_timeout()
        if idle or now - row.created_at > absolute_timeout() or not user.active:
            row.ended_at = now
            return None
        row.last_seen_at = now
        return WebSession(token, Actor(user_id=user.id, name=user.name, role=Role(user.role)), row.csrf)


def sign_out(sessions: sessionmaker, token: str | None) -> None:
    """The session ends on the server: its cookie opens nothing any more."""
    if token:
        with sessions.begin() as db:
            row = db.get(tables.WebSession, hash_token(token))
            if row is not None and row.ended_at is None:
                row.ended_at = datetime.now(UTC)
