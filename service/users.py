"""Users and their API tokens. Only a SHA-256 of a token is stored; the token is shown once.

A token lasts GUARANTEE_TOKEN_TTL_DAYS (default 90) from when it was made; `rotate_token` makes
a new one and the old one stops working. A deactivated user's token stops working at once, and
the claim activities refuse any event of theirs not yet recorded. Every change to a user is a
row in `user_changes`, with who made it: these functions run on the database directly (the
command line), so that is the operating-system user and host unless the caller says otherwise.
"""

import getpass
import hashlib
import os
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rules import roles
from rules.errors import DomainError
from schema import tables
from schema.claims import Actor
from schema.enums import STAFF_ROLES, Role
from stack.config import token_ttl


class UserError(DomainError, ValueError):
    """A change to a user that cannot be made: an unknown name, a deactivated user, no change at all.

    A ValueError for the command line, a DomainError (with its code) for the pages."""

    code = "invalid_user_change"

    def __init__(self, message: str):
        super().__init__(self.code, message)


class UserExists(UserError):
    code = "user_exists"


@dataclass(frozen=True)
class NewToken:
    actor: Actor
    token: str
    expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def operator() -> str:
    """Who is at this terminal: the operating-system user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _new_token() -> tuple[str, str, datetime]:
    token = f"gp_{secrets.token_urlsafe(24)}"
    return token, hash_token(token), datetime.now(UTC) + token_ttl()


def _record(db: Session, user_id: str, change: str, detail: str | None, by: str | None, reason: str | None) -> None:
    db.add(
        tables.UserChange(
            user_id=user_id, at=datetime.now(UTC), change=change, detail=detail, by=by or operator(), reason=reason
        )
    )


def add_user(
    sessions: sessionmaker, name: str, role: Role, by: str | None = None, password_hash: str | None = None
) -> tuple[Actor, str]:
    """Create a user; returns them and their new token. `password_hash` (from `sign_in.add_user`) is
    their web password, set in the same transaction."""
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("a user name is 1 to 100 characters")
    _check_staff_role(role)
    token, token_hash, expires_at = _new_token()
    user_id = f"u_{uuid.uuid4().hex[:10]}"
    try:
        with sessions.begin() as db:
            db.add(
                tables.User(
                    id=user_id,
                    name=name,
                    role=role,
                    token_hash=token_hash,
                    created_at=datetime.now(UTC),
                    active=True,
                    token_expires_at=expires_at,
                    password_hash=password_hash,
                )
            )
            db.flush()
            _record(db, user_id, "added", f"as {role.value}", by, None)
            if password_hash is not None:
                _record(db, user_id, "password_set", None, by, None)
    except IntegrityError:
        raise UserExists(f"a user named {name!r} already exists") from None
    return Actor(user_id=user_id, name=name, role=role), token


def _check_staff_role(role: Role) -> None:
    if role not in STAFF_ROLES:
        raise UserError(f"no user has the {role.value} role: it belongs to evidence links, made on a claim")


_USER = tables.User.__table__.c
# Every request asks it: a statement built once, and a plain row.
_SIGNED_IN = select(_USER.id, _USER.name, _USER.role).where(
    _USER.token_hash == bindparam("token_hash"),
    _USER.role != Role.party,
    _USER.active.is_(True),
    _USER.token_expires_at > bindparam("now"),
)


def authenticate(sessions: sessionmaker, token: str) -> Actor | None:
    """The user whose token this is, if it has not expired and they are active; else None."""
    with sessions() as db:
        user = db.connection().execute(_SIGNED_IN, {"token_hash": hash_token(token), "now": datetime.now(UTC)}).first()
    return user and Actor(user_id=user.id, name=user.name, role=Role(user.role))


def list_users(sessions: sessionmaker) -> list[tables.User]:
    with sessions() as db:
        return list(db.scalars(select(tables.User).where(tables.User.role != Role.party).order_by(tables.User.name)))


def find(sessions: sessionmaker, user: str) -> tables.User | None:
    """A user by id or by name."""
    with sessions() as db:
        return db.get(tables.User, user) or db.scalar(select(tables.User).where(tables.User.name == user))


def history(sessions: sessionmaker, name: str | None = None) -> list[tuple[tables.UserChange, str]]:
    """Changes to users (or to one user), oldest first, with the user's name."""
    query = select(tables.UserChange, tables.User.name).join(tables.User).order_by(tables.UserChange.id)
    with sessions() as db:
        if name is not None:
            query = query.where(tables.UserChange.user_id == _named(db, name).id)
        return [(change, user_name) for change, user_name in db.execute(query)]


def _named(db: Session, name: str, lock: bool = False) -> tables.User:
    query = select(tables.User).where(tables.User.name == name.strip())
    user = db.scalar(query.with_for_update() if lock else query)
    if user is None or user.role == Role.party:  # an evidence link's row: managed on its claim
        raise UserError(f"no user named {name!r}")
    return user


def _active(db: Session, name: str) -> tables.User:
    user = _named(db, name, lock=True)
    if not user.active:
        raise UserError(f"{user.name} is deactivated")
    return user


def _keeps_an_admin(db: Session, user: tables.User, role_after: Role | None, actor_id: str | None) -> None:
    """The rule that there is always an admin, and that nobody locks themselves out (`rules.roles`)."""
    others = db.scalar(
        select(func.count())
        .select_from(tables.User)
        .where(tables.User.role == Role.admin.value, tables.User.active.is_(True), tables.User.id != user.id)
    )
    roles.check_keeps_an_admin(user.name, Role(user.role), role_after, user.id == actor_id, others)


def deactivate(
    sessions: sessionmaker,
    name: str,
    by: str | None = None,
    reason: str | None = None,
    actor_id: str | None = None,
) -> Actor:
    """Their token stops working at once, and their web sessions; their actions not yet recorded are refused.

    `actor_id` is the user making the change, when it is one (the web pages): nobody deactivates
    themselves, and the last active admin is never deactivated."""
    with sessions.begin() as db:
        user = _active(db, name)
        _keeps_an_admin(db, user, None, actor_id)
        user.active = False
        _record(db, user.id, "deactivated", None, by, reason)
        return Actor(user_id=user.id, name=user.name, role=Role(user.role))


def rotate_token(sessions: sessionmaker, name: str, by: str | None = None, reason: str | None = None) -> NewToken:
    """A new token for an active user; the old one stops working."""
    token, token_hash, expires_at = _new_token()
    with sessions.begin() as db:
        user = _active(db, name)
        user.token_hash, user.token_expires_at = token_hash, expires_at
        _record(db, user.id, "token_rotated", f"expires {expires_at:%Y-%m-%d %H:%M} UTC", by, reason)
        actor = Actor(user_id=user.id, name=user.name, role=Role(user.role))
    return NewToken(actor, token, expires_at)


def set_role(
    sessions: sessionmaker,
    name: str,
    role: Role,
    by: str | None = None,
    reason: str | None = None,
    actor_id: str | None = None,
) -> str:
    """Give an active user another role; returns the role they had. Their actions not yet recorded
    under the old role are refused. Nobody (`actor_id`) takes the admin role from themselves, and
    the last active admin stays one."""
    _check_staff_role(role)
    with sessions.begin() as db:
        user = _active(db, name)
        before = user.role
        if before == role:
            raise UserError(f"{user.name} is a {role.value} already")
        _keeps_an_admin(db, user, role, actor_id)
        user.role = role
        _record(db, user.id, "role_changed", f"{before} -> {role.value}", by, reason)
    return before


def names(sessions: sessionmaker, ids: set[str]) -> dict[str, str]:
    """People's names by user id, for pages that show who did what."""
    ids = {i for i in ids if i and i.startswith(("u_", "link:", "mail:"))}  # people, evidence links, emails
    if not ids:
        return {}
    with sessions() as db:
        return dict(db.execute(select(tables.User.id, tables.User.name).where(tables.User.id.in_(ids))).all())


def caseworkers(sessions: sessionmaker) -> list[tables.User]:
    """Active people who do casework: whom a lead may assign a claim to."""
    casework = [role.value for role in (Role.specialist, Role.lead, Role.manager, Role.director)]
    with sessions() as db:
        query = select(tables.User).where(tables.User.active.is_(True), tables.User.role.in_(casework))
        return list(db.scalars(query.order_by(tables.User.name)))
