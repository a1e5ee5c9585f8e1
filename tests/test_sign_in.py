"""Signing in, as the web app does it: argon2id passwords, sessions that end, and a lock on guessing."""

from datetime import UTC, datetime, timedelta

import pytest

from rules.errors import DomainError
from schema import tables
from schema.enums import Role
from service import sign_in, users
from service.users import UserError


@pytest.fixture
def person(stack):
    actor, _ = stack.user_with_token(Role.specialist)
    sign_in.set_password(stack.sessions, actor.name, "correct horse battery")
    return actor


def refused(code: str, call, *args) -> str:
    with pytest.raises(DomainError) as info:
        call(*args)
    assert info.value.code == code, info.value
    return info.value.message


def test_the_password_is_kept_as_an_argon2id_hash(stack, person):
    with stack.sessions() as db:
        stored = db.get(tables.User, person.user_id).password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    with pytest.raises(UserError, match="10 to 200 characters"):
        sign_in.set_password(stack.sessions, person.name, "short")
    with pytest.raises(UserError, match="no user named"):
        sign_in.set_password(stack.sessions, "nobody-at-all", "long enough password")


def test_a_session_opens_with_the_right_password_and_ends_on_sign_out(stack, person):
    session = sign_in.sign_in(stack.sessions, person.name, "correct horse battery")
    assert session.actor.user_id == person.user_id and len(session.csrf) >= 32
    assert sign_in.current(stack.sessions, session.token).actor == session.actor
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("forged") and not session.csrf_ok(None)
    sign_in.sign_out(stack.sessions, session.token)
    assert sign_in.current(stack.sessions, session.token) is None, "ended on the server, not only in the browser"
    with stack.sessions() as db:
        assert db.get(tables.WebSession, users.hash_token(session.token)).ended_at is not None
        assert db.get(tables.WebSession, session.token) is None, "only a hash of the token is stored"


def test_a_wrong_name_and_a_wrong_password_read_the_same(stack, person):
    wrong_password = refused("sign_in_failed", sign_in.sign_in, stack.sessions, person.name, "not the password")
    wrong_name = refused("sign_in_failed", sign_in.sign_in, stack.sessions, "no-such-person", "whatever it is")
    assert wrong_password == wrong_name


def test_five_failures_in_a_row_lock_the_name_for_a_while(stack, person):
    now = datetime.now(UTC)
    for _ in range(4):
        refused("sign_in_failed", sign_in.sign_in, stack.sessions, person.name, "guess", now)
    sign_in.sign_in(stack.sessions, person.name, "correct horse battery", now)  # a success resets the count
    for _ in range(5):
        refused("sign_in_failed", sign_in.sign_in, stack.sessions, person.name, "guess", now)
    message = refused("locked", sign_in.sign_in, stack.sessions, person.name, "correct horse battery", now)
    assert "try again in 15 minutes" in message
    later = now + sign_in.LOCK_FOR + timedelta(seconds=1)
    assert sign_in.sign_in(stack.sessions, person.name, "correct horse battery", later).actor.user_id == person.user_id
    assert [c.change for c, _ in users.history(stack.sessions, person.name)].count("locked") == 1


def test_a_session_ends_when_idle_too_long_or_open_too_long(stack, person):
    start = datetime.now(UTC)
    idle = sign_in.sign_in(stack.sessions, person.name, "correct horse battery", start)
    assert sign_in.current(stack.sessions, idle.token, start + timedelta(minutes=29)) is not None
    assert sign_in.current(stack.sessions, idle.token, start + timedelta(minutes=29 + 31)) is None
    busy = sign_in.sign_in(stack.sessions, person.name, "correct horse battery", start)
    at = start
    while at < start + sign_in.absolute_timeout() - timedelta(minutes=20):
        at += timedelta(minutes=20)
        assert sign_in.current(stack.sessions, busy.token, at) is not None
    assert (
        sign_in.current(stack.sessions, busy.token, start + sign_in.absolute_timeout() + timedelta(minutes=1)) is None
    )


def test_deactivation_and_a_new_password_end_every_session(stack, person):
    first = sign_in.sign_in(stack.sessions, person.name, "correct horse battery")
    sign_in.set_password(stack.sessions, person.name, "another good password")
    assert sign_in.current(stack.sessions, first.token) is None
    second = sign_in.sign_in(stack.sessions, person.name, "another good password")
    users.deactivate(stack.sessions, person.name)
    assert sign_in.current(stack.sessions, second.token) is None
    refused("sign_in_failed", sign_in.sign_in, stack.sessions, person.name, "another good password")
