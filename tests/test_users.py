"""Users: tokens that expire, deactivation, new tokens and new roles, each recorded; and a deactivated
user's token tried everywhere, the way someone who still holds it would."""

import io
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from temporalio.exceptions import ApplicationError

import starter
from activities.claims import ClaimActivities
from rules.errors import DomainError
from schema import tables
from schema.claims import EvidenceAdd
from schema.database import make_engine, make_sessions, migrate
from schema.enums import Role
from schema.events import ClaimEvent
from service import sign_in
from service.users import (
    UserError,
    UserExists,
    add_user,
    authenticate,
    deactivate,
    find,
    history,
    rotate_token,
    set_role,
)
from tests.conftest import AUDIT_KEY
from tests.test_access import EXPECTED, PUBLIC
from tests.test_api import Desk, assert_error, auth
from tests.test_records import opened_event


def name(role: str = "user") -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}"


def expires_at(sessions, user_id: str) -> datetime:
    with sessions() as db:
        return db.get(tables.User, user_id).token_expires_at


def expire(sessions, user_id: str) -> None:
    with sessions.begin() as db:
        db.execute(
            update(tables.User)
            .where(tables.User.id == user_id)
            .values(token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_a_token_lasts_the_configured_days_and_then_stops_working(sessions, monkeypatch):
    monkeypatch.setenv("GUARANTEE_TOKEN_TTL_DAYS", "5")
    before = datetime.now(UTC)
    actor, token = add_user(sessions, name(), Role.specialist)
    assert before + timedelta(days=5) <= expires_at(sessions, actor.user_id) <= datetime.now(UTC) + timedelta(days=5)
    assert authenticate(sessions, token) == actor
    expire(sessions, actor.user_id)
    assert authenticate(sessions, token) is None

    monkeypatch.delenv("GUARANTEE_TOKEN_TTL_DAYS")
    actor, _ = add_user(sessions, name(), Role.lead)
    assert expires_at(sessions, actor.user_id) - before >= timedelta(days=90)
    for bad in ("0", "-3", "ninety", "1.5", "3651"):
        monkeypatch.setenv("GUARANTEE_TOKEN_TTL_DAYS", bad)
        with pytest.raises(ValueError, match="GUARANTEE_TOKEN_TTL_DAYS is a whole number of days from 1 to 3650"):
            add_user(sessions, name(), Role.lead)


@pytest.fixture
def users_cli(db_url, tmp_path, monkeypatch, capsys):
    """`guarantee users ...` on the test database; returns (exit status, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GUARANTEE_HOME", str(tmp_path / "home"))

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = starter.main(["users", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def token_in(out: str) -> str:
    return out.split("token (shown once): ")[1].split()[0]


def test_deactivate_rotate_token_and_set_role_are_each_recorded(users_cli, sessions):
    who = name("sam")
    token = token_in(users_cli("add", who, "--role", "specialist")[1])

    code, out, _ = users_cli("rotate-token", who, "--reason", "laptop stolen")
    assert code == 0 and out.startswith(f"new token for {who} (specialist), expires ")
    new_token = token_in(out)
    assert authenticate(sessions, token) is None, "the old token stops working"
    assert authenticate(sessions, new_token).name == who

    code, out, _ = users_cli("set-role", who, "--role", "lead")
    assert (code, out.split(";")[0]) == (0, f"{who} is now lead (was specialist)")
    assert authenticate(sessions, new_token).role == Role.lead

    code, out, _ = users_cli("deactivate", who, "--reason", "left the team")
    assert code == 0 and out.startswith(f"deactivated {who} (lead), id u_")
    assert authenticate(sessions, new_token) is None

    code, out, _ = users_cli("history", who, "--json")
    changes = json.loads(out)
    assert [(c["change"], c["detail"], c["reason"]) for c in changes] == [
        ("added", "as specialist", None),
        ("token_rotated", changes[1]["detail"], "laptop stolen"),
        ("role_changed", "specialist -> lead", None),
        ("deactivated", None, "left the team"),
    ]
    assert all(c["by"].startswith("cli:") and "@" in c["by"] for c in changes), "who ran the command"
    listed = users_cli("list")[1]
    assert any(line.split()[:2] == [who, "lead"] and " no " in line for line in listed.splitlines())

    with pytest.raises(DBAPIError, match="user_changes is append-only"):
        with sessions.begin() as db:
            db.execute(text("UPDATE user_changes SET reason = 'routine' WHERE reason = 'left the team'"))


def test_user_commands_refuse_in_one_line(users_cli):
    who = name("kim")
    users_cli("add", who, "--role", "lead")
    assert users_cli("set-role", who, "--role", "lead") == (1, "", f"error: {who} is a lead already\n")
    users_cli("deactivate", who)
    for command in (["deactivate"], ["rotate-token"], ["set-role", "--role", "admin"]):
        assert users_cli(*command, who) == (1, "", f"error: {who} is deactivated\n")
        assert users_cli(*command, "nobody-here") == (1, "", "error: no user named 'nobody-here'\n")
    assert users_cli("history", "nobody-here") == (1, "", "error: no user named 'nobody-here'\n")
    assert users_cli("set-role", who, "--role", "boss")[0] == 2


def test_a_web_password_from_stdin_when_adding_and_changing_it_ends_every_session(users_cli, sessions):
    who = name("pat")
    code, out, _ = users_cli("add", who, "--role", "lead", "--password-stdin", stdin="a fine long password\n")
    assert code == 0 and out.startswith(f"created {who} (lead), id u_") and "token (shown once): gp_" in out
    first = sign_in.sign_in(sessions, who, "a fine long password")
    assert first.actor.name == who

    code, out, _ = users_cli("set-password", who, "--password-stdin", "--reason", "forgot it", stdin="new one, long\n")
    assert (code, out) == (0, f"new password for {who}; 1 open web session ended\n")
    assert sign_in.current(sessions, first.token) is None, "signed out everywhere"
    with pytest.raises(DomainError, match="the name or the password is not right"):
        sign_in.sign_in(sessions, who, "a fine long password")
    assert sign_in.sign_in(sessions, who, "new one, long").actor.name == who

    changes = [(c.change, c.reason, c.by.startswith("cli:")) for c, _ in history(sessions, who)]
    assert changes == [("added", None, True), ("password_set", None, True), ("password_set", "forgot it", True)]


def test_a_refused_password_changes_nothing(users_cli, sessions):
    who = name("lee")
    for typed in ("", "\n", "short\n", "x" * 201 + "\n"):
        code, out, err = users_cli("add", who, "--role", "specialist", "--password-stdin", stdin=typed)
        assert (code, out, err) == (1, "", "error: a password is 10 to 200 characters\n")
        assert find(sessions, who) is None, "no user without the password asked for"

    users_cli("add", who, "--role", "specialist", "--password-stdin", stdin="the first password\n")
    session = sign_in.sign_in(sessions, who, "the first password")
    assert users_cli("set-password", who, "--password-stdin", stdin="short\n") == (
        1,
        "",
        "error: a password is 10 to 200 characters\n",
    )
    assert users_cli("set-password", "nobody-here", "--password-stdin", stdin="long enough password\n") == (
        1,
        "",
        "error: no user named 'nobody-here'\n",
    )
    assert users_cli("set-password", who, stdin="long enough password\n")[0] == 2, "--password-stdin is required"
    assert sign_in.current(sessions, session.token) is not None, "still signed in"
    assert [c.change for c, _ in history(sessions, who)] == ["added", "password_set"]

    users_cli("deactivate", who)
    assert users_cli("set-password", who, "--password-stdin", stdin="long enough password\n") == (
        1,
        "",
        f"error: {who} is deactivated\n",
    )


def test_nobody_deactivates_or_demotes_themselves_and_the_last_admin_stays_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url)
    engine = make_engine(url)
    fresh = make_sessions(engine)
    try:
        ann, _ = add_user(fresh, "ann", Role.admin)
        bob, _ = add_user(fresh, "bob", Role.specialist)
        for change in (lambda: deactivate(fresh, "ann"), lambda: set_role(fresh, "ann", Role.finance)):
            with pytest.raises(DomainError, match="ann is the last active admin") as refused:
                change()
            assert refused.value.code == "last_admin"
        with pytest.raises(DomainError, match="you cannot deactivate yourself") as refused:
            deactivate(fresh, "bob", actor_id=bob.user_id)
        assert refused.value.code == "own_account"

        set_role(fresh, "bob", Role.admin, actor_id=ann.user_id)
        with pytest.raises(DomainError, match="you cannot take the admin role from yourself"):
            set_role(fresh, "ann", Role.lead, actor_id=ann.user_id)
        with pytest.raises(DomainError, match="you cannot deactivate yourself"):
            deactivate(fresh, "ann", actor_id=ann.user_id)
        assert [c.change for c, _ in history(fresh, "ann")] == ["added"], "nothing recorded for a refusal"
        deactivate(fresh, "ann", actor_id=bob.user_id, by=f"web:{bob.user_id}")
        with pytest.raises(DomainError, match="bob is the last active admin"):
            set_role(fresh, "bob", Role.lead, actor_id=ann.user_id)
    finally:
        engine.dispose()


def bearer_variants(token: str) -> list[dict]:
    """The token as sent by someone hoping a lax parser or a cache lets it through."""
    return [
        auth(token),
        {"Authorization": f"bearer {token}"},
        {"Authorization": f"BEARER {token}"},
        {"Authorization": f"Bearer  {token}"},
        {"Authorization": f"Bearer {token} "},
        {"Authorization": f"Bearer {token.upper()}"},
        {"Authorization": f"Bearer {token}", "X-Forwarded-User": "admin"},
    ]


async def test_a_deactivated_users_token_opens_nothing_and_their_pending_actions_are_refused(api, stack, sessions):
    desk = Desk(api, stack)
    mallory, mallory_token = stack.user_with_token(Role.specialist)
    eve, eve_token = stack.user_with_token(Role.admin)
    claim = await desk.open(auth(mallory_token))
    r = await api.get("/audit/verify", headers=auth(eve_token))
    assert r.status_code == 200, "Eve is an admin, for now"
    # A request that got past authentication just before the deactivation: its event is on its way.
    pending = ClaimEvent(
        key=f"{claim['id']}:90001",
        claim_id=claim["id"],
        at=datetime.now(UTC),
        action="evidence_added",
        actor=mallory,
        evidence=EvidenceAdd(kind="note", source="specialist", note="the customer withdrew, close it"),
    )

    stack.user(Role.admin)  # the last active admin is never deactivated: Eve is not the last
    deactivate(sessions, mallory.name, reason="left the company")
    deactivate(sessions, eve.name, reason="left the company")

    before = await desk.get(claim["id"])
    for (method, path), by_role in EXPECTED.items():
        if by_role is PUBLIC:
            continue
        url = path.replace("{claim_id}", claim["id"]).replace("{reconciliation_id}", "reconciliation-x")
        for token in (mallory_token, eve_token):
            for headers in bearer_variants(token):
                r = await api.request(method, url, json={"reason": "x"}, headers=headers)
                assert_error(r, 401, "unauthenticated")
    assert await desk.get(claim["id"]) == before

    with pytest.raises(ApplicationError) as refused:
        ClaimActivities(sessions, AUDIT_KEY).record_event(pending)
    assert refused.value.type == "inactive_user" and refused.value.non_retryable
    assert refused.value.message == f"refused: {mallory.name} ({mallory.user_id}) is deactivated"
    assert await desk.get(claim["id"]) == before, "nothing of the refused event was written"

    # No way back in through the user commands either.
    with pytest.raises(UserError, match="is deactivated"):
        rotate_token(sessions, mallory.name)
    with pytest.raises(UserError, match="is deactivated"):
        set_role(sessions, mallory.name, Role.admin)
    with pytest.raises(UserExists):
        add_user(sessions, mallory.name, Role.specialist)
    assert authenticate(sessions, mallory_token) is None


async def test_an_expired_token_opens_nothing(api, stack, sessions):
    actor, token = stack.user_with_token(Role.finance)
    assert (await api.get("/users/me", headers=auth(token))).status_code == 200
    expire(sessions, actor.user_id)
    for path in ("/users/me", "/claims", "/payouts"):
        message = assert_error(await api.get(path, headers=auth(token)), 401, "unauthenticated")
    assert message == "the token is not valid (unknown, expired, or its user deactivated)"


def record(stack, event: ClaimEvent) -> None:
    ClaimActivities(stack.sessions, AUDIT_KEY).record_event(event)


def refusal(stack, event: ClaimEvent) -> str:
    with pytest.raises(ApplicationError) as refused:
        record(stack, event)
    assert refused.value.type == "inactive_user" and refused.value.non_retryable
    return refused.value.message


def evidence_by(opened: ClaimEvent, actor, n: int = 2) -> ClaimEvent:
    return ClaimEvent(
        key=f"{opened.claim_id}:{n:05d}",
        claim_id=opened.claim_id,
        at=opened.at,
        action="evidence_added",
        actor=actor,
        evidence=EvidenceAdd(kind="note", source="pro", note="late"),
    )


def test_events_are_recorded_only_for_existing_active_users_in_their_role(stack):
    opened = opened_event(stack)
    ghost = opened.actor.model_copy(update={"user_id": "u_nobody"})
    assert refusal(stack, opened.model_copy(update={"actor": ghost})) == "refused: there is no user u_nobody"
    assert stack.claim(opened.claim_id) is None, "nothing written, not even the claim"

    record(stack, opened)
    lead = stack.user(Role.lead)
    record(stack, evidence_by(opened, lead, 2))
    set_role(stack.sessions, lead.name, Role.manager)
    message = refusal(stack, evidence_by(opened, lead, 3))
    assert message == f"refused: {lead.name} ({lead.user_id}) is a manager now, not a lead"
    record(stack, evidence_by(opened, lead.model_copy(update={"role": Role.manager}), 4))
    deactivate(stack.sessions, lead.name)
    refusal(stack, evidence_by(opened, lead.model_copy(update={"role": Role.manager}), 5))
    record(stack, evidence_by(opened, lead, 2))  # recorded before: delivered again, it is a no-op, not a refusal
    assert [(e.action, e.actor_id) for e in stack.rows(tables.AuditEntry, opened.claim_id)] == [
        ("opened", opened.actor.user_id),
        ("evidence_added", lead.user_id),
        ("evidence_added", lead.user_id),
    ]


@pytest.mark.parametrize(
    "table,column",
    [
        (tables.Decision, "decided_by"),
        (tables.Approval, "approver_id"),
        (tables.Evidence, "added_by"),
        (tables.PayoutDetail, "added_by"),
        (tables.AuditEntry, "actor_id"),
    ],
)
def test_the_people_in_claim_records_are_users(stack, table, column):
    """The database itself refuses a record naming someone who is not a user."""
    opened = opened_event(stack)
    record(stack, opened)
    values = {
        tables.Decision: dict(round=0, outcome="deny", rationale="x", decided_at=opened.at),
        tables.Approval: dict(round=0, verdict="approve", note="", approver_role="lead", at=opened.at),
        tables.Evidence: dict(kind="note", source="pro", added_at=opened.at),
        tables.PayoutDetail: dict(method="transfer", destination="acct_x", added_at=opened.at),
        tables.AuditEntry: dict(at=opened.at, action="noted"),
    }[table]
    if table is not tables.PayoutDetail:
        values["event_key"] = f"{opened.claim_id}:ghost"
    with pytest.raises(IntegrityError):
        with stack.sessions.begin() as db:
            db.add(table(claim_id=opened.claim_id, **values, **{column: "u_ghost"}))
    with stack.sessions() as db:
        assert db.scalar(select(table).where(getattr(table, column) == "u_ghost")) is None


def test_the_demo_seed_gives_its_saved_user_a_new_token_once_the_old_one_has_expired(sessions):
    from cli.demo import _users

    first = _users(sessions, {})
    expire(sessions, first["lead"]["user_id"])
    second = _users(sessions, first)
    assert second["lead"]["user_id"] == first["lead"]["user_id"], "the same demo lead, not a new one"
    assert authenticate(sessions, first["lead"]["token"]) is None
    assert authenticate(sessions, second["lead"]["token"]).user_id == first["lead"]["user_id"]
    assert {role: user for role, user in second.items() if role != "lead"} == {
        role: user for role, user in first.items() if role != "lead"
    }
    assert second["lead"]["password"] == first["lead"]["password"], "the password still works: it stays"


def test_the_demo_seed_gives_each_user_a_web_password_and_a_new_one_when_the_saved_one_stops_working(sessions):
    from cli.demo import _users

    first = _users(sessions, {})
    passwords = {user["password"] for user in first.values()}
    assert len(passwords) == len(first) and all(len(p) >= sign_in.PASSWORD_LENGTH[0] for p in passwords)
    for user in first.values():
        assert sign_in.sign_in(sessions, user["name"], user["password"]).actor.user_id == user["user_id"]
    sign_in.set_password(sessions, first["admin"]["name"], "changed by someone")
    second = _users(sessions, first)
    assert second["admin"]["password"] != first["admin"]["password"]
    assert sign_in.sign_in(sessions, first["admin"]["name"], second["admin"]["password"])
    assert second["admin"]["token"] == first["admin"]["token"], "the token still works: it stays"
    assert [c.change for c, _ in history(sessions, first["admin"]["name"])][-1] == "password_set"
