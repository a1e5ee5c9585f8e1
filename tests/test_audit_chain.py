"""The audit chain: rows edited, deleted or inserted behind the product's back are each named.

Each test has a database of its own (SQLite, then PostgreSQL), since it drops the append-only
triggers and rewrites history there with plain SQL, as someone with database access would.
Claims are written by the real activities, event by event, as their workflows would.
"""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

import starter
from activities.claims import ClaimActivities
from activities.payouts import PayoutActivities
from api.app import create_app
from audit.chain import ChainBroken
from cli import show
from schema import tables
from schema.claims import ApprovalRequest, ClaimOpen, ClaimStart, DecisionRequest, EvidenceAdd, PayoutDetails
from schema.database import MIGRATIONS, make_engine, make_sessions, migrate
from schema.enums import STAFF_ROLES, ClaimStatus, Role
from schema.events import ClaimEvent, Notification, PayoutOrder, StuckMark
from schema.policy import load_policy
from service import audit, payout_details
from service.context import Context
from service.evidence import EvidenceStore
from service.users import add_user
from tests.conftest import AUDIT_KEY, SIGNING_KEY, _postgres_database
from tests.test_api import assert_error, auth

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def own_url(db_url, tmp_path):
    """A database of this test's own, on the same kind of server as `db_url`."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'own.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def own(own_url):
    migrate(own_url)
    engine = make_engine(own_url)
    yield make_sessions(engine)
    engine.dispose()


class Claims:
    """Writes claims the way their workflows do: one event at a time through the activities."""

    def __init__(self, sessions, provider):
        self.sessions = sessions
        self.activities = ClaimActivities(sessions, AUDIT_KEY)
        self.payouts = PayoutActivities(sessions, provider)
        tag = uuid.uuid4().hex[:6]
        self.specialist = add_user(sessions, f"spec-{tag}", Role.specialist)[0]
        self.lead = add_user(sessions, f"lead-{tag}", Role.lead)[0]

    def paid(self) -> tuple[str, dict[str, str]]:
        """A claim taken to paid; returns its id and its event keys by action."""
        claim_id = uuid.uuid4().hex[:12]
        keys: dict[str, str] = {}

        def record(action: str, **fields) -> None:
            key = f"{claim_id}:{len(keys) + 1:05d}"
            at = T0 + timedelta(minutes=len(keys))
            self.activities.record_event(ClaimEvent(key=key, claim_id=claim_id, at=at, action=action, **fields))
            keys[action] = key

        request = ClaimOpen(
            customer_id="cus_chain",
            pro_id="pro_chain",
            project_id=f"prj_{claim_id}",
            type="property_damage",
            amount_cents=50_000,
            currency="USD",
            incident_date=T0.date(),
            channel="phone",
            description="a cracked countertop",
        )
        spec = self.specialist
        start = ClaimStart(claim_id=claim_id, request=request, opened_by=spec, opened_at=T0, policy=load_policy("v1"))
        record("opened", actor=spec, to_status=ClaimStatus.evidence_collection, opened=start)
        record("evidence_added", actor=spec, evidence=EvidenceAdd(kind="note", source="customer", note="photos sent"))
        details = PayoutDetails(method="transfer", account_id=f"acct_{claim_id}")
        ref = payout_details.store(self.sessions, claim_id, details, spec)
        record("payout_details_added", actor=spec, reason=f"transfer #{ref.id}", payout_details_id=ref.id)
        record("evidence_completed", actor=spec, to_status=ClaimStatus.specialist_review)
        decision = DecisionRequest(outcome="approve", amount_cents=40_000, rationale="matches the quote")
        record("decided", actor=spec, decision=decision, to_status=ClaimStatus.pending_approval)
        record("notified", notification=Notification(recipient="tier:lead", kind="approval_needed", message="look"))
        approval = ApprovalRequest(verdict="approve", note="fine")
        record("approved", actor=self.lead, approval=approval, to_status=ClaimStatus.approved)
        record("payout_started", to_status=ClaimStatus.paying)
        order = PayoutOrder(
            claim_id=claim_id, attempt=1, payout_details_id=ref.id, amount_cents=40_000, currency="USD", at=T0
        )
        outcome = self.payouts.pay_claim(order)
        assert outcome.paid
        record("paid", to_status=ClaimStatus.paid, reason=outcome.provider_ref)
        return claim_id, keys


def sql(sessions, statement: str, **params):
    with sessions.begin() as db:
        return db.execute(text(statement), params)


def one(sessions, statement: str, **params):
    return sql(sessions, statement, **params).scalar_one()


def drop_append_only_triggers(sessions) -> None:
    """What someone with database access does first."""
    if sessions.kw["bind"].dialect.name == "sqlite":
        sql(sessions, "DROP TRIGGER audit_trail_no_update")
        sql(sessions, "DROP TRIGGER audit_trail_no_delete")
    else:
        sql(sessions, "DROP TRIGGER audit_trail_append_only ON audit_trail")


def audit_id(sessions, event_key: str) -> int:
    return one(sessions, "SELECT id FROM audit_trail WHERE event_key = :k", k=event_key)


def found(report) -> set[tuple]:
    return {(p.claim_id, p.table, p.row_id, p.event_key, p.kind) for p in report.problems}


def test_every_kind_of_tampering_is_named_by_claim_row_and_kind(own, provider):
    claims = Claims(own, provider)
    intact, _ = claims.paid()
    names = ["audit", "claim", "evidence", "decision", "approval", "details", "payout", "no_decision", "middle", "last",
             "rewound", "forged", "forged_child"]  # fmt: skip
    c = {name: claims.paid() for name in names}
    assert audit.verify(own, AUDIT_KEY).intact, "nothing has been touched yet"
    drop_append_only_triggers(own)
    expected = set()

    def edited(name: str, table: str, action: str, statement: str) -> None:
        claim_id, keys = c[name]
        key = keys[action]
        row_id = audit_id(own, key) if table == "audit_trail" else claim_id if table == "claims" else None
        if row_id is None:
            row_id = one(own, "SELECT covers_id FROM audit_trail WHERE event_key = :k", k=key)
        sql(own, statement, id=row_id, claim=claim_id)
        expected.add((claim_id, table, row_id, key, "edited"))

    edited("audit", "audit_trail", "decided", "UPDATE audit_trail SET reason = 'all fine' WHERE id = :id")
    edited("claim", "claims", "opened", "UPDATE claims SET amount_cents = 5000000 WHERE id = :id")
    edited("evidence", "evidence", "evidence_added", "UPDATE evidence SET note = 'no photos' WHERE id = :id")
    edited("decision", "decisions", "decided", "UPDATE decisions SET amount_cents = 4000000 WHERE id = :id")
    specialist = claims.specialist.user_id
    edited("approval", "approvals", "approved", f"UPDATE approvals SET approver_id = '{specialist}' WHERE id = :id")
    edited("details", "payout_details", "payout_details_added",
           "UPDATE payout_details SET destination = 'acct_mallory' WHERE id = :id")  # fmt: skip
    edited("payout", "payouts", "paid", "UPDATE payouts SET amount_cents = 4000000 WHERE id = :id")

    claim_id, keys = c["no_decision"]
    decision_id = one(own, "SELECT id FROM decisions WHERE event_key = :k", k=keys["decided"])
    sql(own, "DELETE FROM decisions WHERE id = :id", id=decision_id)
    expected.add((claim_id, "decisions", decision_id, keys["decided"], "deleted"))

    claim_id, keys = c["middle"]
    sql(own, "DELETE FROM audit_trail WHERE event_key = :k", k=keys["evidence_completed"])
    expected.add((claim_id, "audit_trail", None, None, "deleted"))

    claim_id, keys = c["last"]
    sql(own, "DELETE FROM audit_trail WHERE event_key = :k", k=keys["paid"])
    expected.add((claim_id, "audit_trail", None, None, "deleted"))

    # Deleting the last row and winding the head back to the row before: the head's seal gives it away.
    claim_id, keys = c["rewound"]
    sql(own, "DELETE FROM audit_trail WHERE event_key = :k", k=keys["paid"])
    before = one(own, "SELECT chain_hash FROM audit_trail WHERE event_key = :k", k=keys["payout_started"])
    sql(own, "UPDATE audit_heads SET seq = seq - 1, hash = :h WHERE claim_id = :c", h=before, c=claim_id)
    expected.add((claim_id, "audit_heads", claim_id, None, "edited"))

    # Forged rows: one made to look sealed, next in the chain; one with no seal at all.
    claim_id, keys = c["forged"]
    head = one(own, "SELECT hash FROM audit_heads WHERE claim_id = :c", c=claim_id)
    forged = {"claim": claim_id, "at": T0 + timedelta(days=1), "actor": claims.lead.user_id}
    sql(own, "INSERT INTO audit_trail (claim_id, event_key, at, actor_id, actor_role, action, reason, chain_seq, "
             "prev_hash, row_mac, chain_hash) VALUES (:claim, :key, :at, :actor, 'lead', 'approved', 'ok', 10, :prev, "
             ":mac, :mac)", key=f"{claim_id}:00010", prev=head, mac="f" * 64, **forged)  # fmt: skip
    sql(own, "INSERT INTO audit_trail (claim_id, event_key, at, actor_id, actor_role, action) "
             "VALUES (:claim, :key, :at, :actor, 'lead', 'sent_back')", key=f"{claim_id}:00011", **forged)  # fmt: skip
    for key in (f"{claim_id}:00010", f"{claim_id}:00011"):
        expected.add((claim_id, "audit_trail", audit_id(own, key), key, "inserted"))

    claim_id, keys = c["forged_child"]
    sql(own, "INSERT INTO decisions (claim_id, event_key, round, outcome, amount_cents, rationale, decided_by, "
             "decided_at) VALUES (:c, :k, 0, 'approve', 9000000, 'x', :by, :at)",
        c=claim_id, k=f"{claim_id}:00099", by=specialist, at=T0)  # fmt: skip
    forged_decision = one(own, "SELECT id FROM decisions WHERE event_key = :k", k=f"{claim_id}:00099")
    expected.add((claim_id, "decisions", forged_decision, f"{claim_id}:00099", "inserted"))

    report = audit.verify(own, AUDIT_KEY)
    print("\n".join(show.audit_problem(p.model_dump()) for p in report.problems))
    assert found(report) == expected
    assert not report.intact and report.total_problems == len(expected) and report.claims == 14
    assert intact not in {p.claim_id for p in report.problems}
    assert audit.verify(own, AUDIT_KEY, [intact]).intact, "an untouched claim is intact"
    by_claim = {p.claim_id: p for p in report.problems}
    middle, keys = c["middle"]
    assert by_claim[middle].detail == f"chain position 4 is missing, after event {keys['payout_details_added']}"
    assert by_claim[c["last"][0]].detail == "chain position 9 is missing, after event " + c["last"][1]["payout_started"]


def test_a_claim_that_was_stuck_verifies_intact(own, provider):
    """The notices `mark_stuck` sends finance and admin are no event of the claim: not taken for forged rows."""
    claims = Claims(own, provider)
    claim_id, _ = claims.paid()
    claims.activities.mark_stuck(StuckMark(claim_id=claim_id, number=1, at=T0, reason="not_recorded: database down"))
    assert len(own_rows(own, tables.Notification, claim_id)) == 3  # the lead told of the decision, finance, admin
    report = audit.verify(own, AUDIT_KEY)
    assert report.intact, report.problems


def own_rows(sessions, table, claim_id: str) -> list:
    with sessions() as db:
        return list(db.scalars(select(table).where(table.claim_id == claim_id)))


def test_a_writer_refuses_to_extend_a_chain_that_was_cut(own, provider):
    """A new link on a cut chain would hide the cut: the activity fails (and is retried), writing nothing."""
    claims = Claims(own, provider)
    claim_id, keys = claims.paid()
    drop_append_only_triggers(own)
    sql(own, "DELETE FROM audit_trail WHERE event_key = :k", k=keys["paid"])
    event = ClaimEvent(
        key=f"{claim_id}:00042",
        claim_id=claim_id,
        at=T0 + timedelta(days=1),
        action="notified",
        notification=Notification(recipient="cus_chain", kind="payout_sent", message="sent"),
    )
    with pytest.raises(ChainBroken, match=f"newest audit row of claim {claim_id}"):
        claims.activities.record_event(event)
    with own() as db:
        assert db.scalar(select(tables.Notification.id).where(tables.Notification.event_key == event.key)) is None


async def test_guarantee_audit_verify_exits_0_when_intact_and_3_naming_each_problem(own, own_url, provider, monkeypatch,
                                                                                    tmp_path, capsys):  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", own_url)
    monkeypatch.setenv("GUARANTEE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GUARANTEE_AUDIT_KEY", AUDIT_KEY)
    claims = Claims(own, provider)
    (first, _), (second, keys) = claims.paid(), claims.paid()

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = starter.main(list(argv))
        out, err = capsys.readouterr()
        assert err == ""
        return code, out

    assert run("audit", "verify") == (0, "audit trail intact: 2 claims, 18 audit rows checked\n")
    drop_append_only_triggers(own)
    sql(own, "UPDATE audit_trail SET reason = 'nothing to see' WHERE event_key = :k", k=keys["approved"])
    sql(own, "DELETE FROM audit_trail WHERE event_key = :k", k=keys["paid"])
    code, out = run("audit", "verify")
    row = audit_id(own, keys["approved"])
    assert code == starter.EXIT_TAMPERED == 3
    assert out.splitlines() == [
        f"edited: claim {second}, audit_trail {row} (event {keys['approved']}): its fields differ from what was sealed",
        f"deleted: claim {second}, audit_trail: chain position 9 is missing, after event {keys['payout_started']}",
        "2 problems in 1 claim (2 claims, 17 audit rows checked)",
    ]
    assert run("audit", "verify", "--claim", first) == (0, "audit trail intact: 1 claim, 9 audit rows checked\n")
    capsys.readouterr()
    assert starter.main(["audit", "verify", "--claim", "c0ffee000000"]) == 1
    assert capsys.readouterr().err == "error: no claim 'c0ffee000000'\n"
    code, out = run("audit", "verify", "--json")
    assert code == 3 and '"kind": "deleted"' in out and '"intact": false' in out

    monkeypatch.setenv("GUARANTEE_AUDIT_KEY", "not-the-key")
    code, out = run("audit", "verify", "--claim", first)
    assert code == 3 and out.count("inserted: ") == 9 and "note: no sealed row verifies with this key" in out


async def test_get_audit_verify_answers_admins_with_the_problems(own, provider, stack, tmp_path):
    claims = Claims(own, provider)
    claim_id, keys = claims.paid()
    evidence = EvidenceStore(own, tmp_path / "evidence")
    ctx = Context(stack.client, own, load_policy("v1"), evidence, SIGNING_KEY, audit_key=AUDIT_KEY)
    tokens = {role: add_user(own, f"{role.value}-{uuid.uuid4().hex[:6]}", role)[1] for role in STAFF_ROLES}
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.get("/audit/verify", headers=auth(tokens[Role.admin]))
        assert r.status_code == 200, r.text
        assert r.json() == {"intact": True, "claims": 1, "rows": 9, "total_problems": 0, "problems": [], "note": None}
        for role in set(STAFF_ROLES) - {Role.admin}:
            assert_error(await client.get("/audit/verify", headers=auth(tokens[role])), 403, "forbidden")

        drop_append_only_triggers(own)
        sql(own, "UPDATE payouts SET provider_ref = 'tr_elsewhere' WHERE claim_id = :c", c=claim_id)
        r = await client.get("/audit/verify", headers=auth(tokens[Role.admin]), params={"limit": 5})
        payout_id = one(own, "SELECT id FROM payouts WHERE claim_id = :c", c=claim_id)
        assert r.json()["intact"] is False and r.json()["total_problems"] == 1
        assert r.json()["problems"] == [
            {
                "claim_id": claim_id,
                "table": "payouts",
                "row_id": payout_id,
                "event_key": keys["paid"],
                "kind": "edited",
                "detail": f"differs from what event {keys['paid']} sealed",
            }
        ]


async def test_claims_worked_through_the_api_verify_intact(stack, api):
    """What the real workflow writes (through retries, payout failures and new details) is sealed as it is read."""
    from tests.test_api import Desk
    from tests.test_api_payouts import refused_payouts, status_becomes

    desk = Desk(api, stack)
    try:
        [claim] = await refused_payouts(desk, stack.stub.control)
    finally:
        stack.stub.control.clear_faults()
    _, finance = desk.person(Role.finance)
    body = {"reason": "new account", "payout": {"method": "transfer", "account_id": f"acct_{uuid.uuid4().hex[:8]}"}}
    r = await api.post(f"/claims/{claim['id']}/payout/retry", json=body, headers=finance)
    assert r.status_code == 200, r.text
    await desk.decide(claim["id"], outcome="approve", amount_cents=10_000, rationale="decided again, new account")
    await desk.approve(claim["id"], desk.person(Role.lead)[1])
    await status_becomes(desk, claim["id"], "paid")
    report = audit.verify(stack.sessions, AUDIT_KEY, [claim["id"]])
    assert report.intact, report.problems
    with stack.sessions() as db:
        covers = dict(
            db.execute(
                select(tables.AuditEntry.action, tables.AuditEntry.covers).where(
                    tables.AuditEntry.claim_id == claim["id"], tables.AuditEntry.covers.is_not(None)
                )
            ).all()
        )
    assert {
        "opened": "claims",
        "payout_details_added": "payout_details",
        "decided": "decisions",
        "payout_failed": "payouts",
        "payout_retried": "payout_details",
        "paid": "payouts",
        "notified": "notifications",
    }.items() <= covers.items()
    everything = audit.verify(stack.sessions, AUDIT_KEY)
    assert everything.intact, everything.problems[:5]


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def test_rows_from_before_the_chain_are_adopted_once_and_only_those(own_url):
    """An installation upgraded to the chain: its old rows verify once `seal-legacy` adopts them, and its old
    tokens expire 90 days after their user was made."""
    command.upgrade(alembic_config(own_url), "0003")
    engine = make_engine(own_url)
    made = datetime.now(UTC) - timedelta(days=100)
    user = {"id": "u_old", "name": "old-timer", "role": "specialist", "token_hash": "a" * 64, "active": True}
    claim = {
        "id": "c0ffee000001", "customer_id": "cus", "pro_id": "pro", "project_id": "prj", "type": "property_damage",
        "status": "evidence_collection", "amount_cents": 1000, "currency": "USD", "incident_date": made.date(),
        "channel": "phone", "description": "-", "opened_by": "u_old", "opened_at": made, "updated_at": made,
        "policy_version": "v1", "risk_flags": [], "eligibility_issues": [], "sla_breaches": [],
    }  # fmt: skip
    # The users table as it was at 0003 (the model has grown since).
    users_then = sa.table(
        "users", *(sa.column(c) for c in ("id", "name", "role", "token_hash")),
        sa.column("created_at", tables.UtcDateTime()), sa.column("active", sa.Boolean()),
    )  # fmt: skip
    # The claims table as it was at 0003: only the columns given (the model's later ones have defaults).
    claims_then = sa.table("claims", *(sa.column(c, tables.Claim.__table__.c[c].type) for c in claim))
    with engine.begin() as conn:
        conn.execute(users_then.insert(), [user | {"created_at": made}])
        conn.execute(claims_then.insert(), [claim])
        for n, action in enumerate(("opened", "evidence_added"), 1):
            conn.execute(
                tables.AuditEntry.__table__.insert(),
                [{"claim_id": claim["id"], "event_key": f"{claim['id']}:{n:05d}", "at": made, "action": action}],
            )
    engine.dispose()

    migrate(own_url)
    engine = make_engine(own_url)
    sessions = make_sessions(engine)
    try:
        with sessions() as db:
            assert db.get(tables.User, "u_old").token_expires_at == made + timedelta(days=90)
        with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as db:
            db.execute(text("UPDATE audit_trail SET reason = 'x'"))
        report = audit.verify(sessions, AUDIT_KEY)
        assert [(p.event_key, p.kind) for p in report.problems] == [
            ("c0ffee000001:00001", "inserted"),
            ("c0ffee000001:00002", "inserted"),
        ]
        assert "not sealed: forged, or written before the chain existed" in report.problems[0].detail

        assert audit.seal_legacy(sessions, AUDIT_KEY) == 2
        assert audit.verify(sessions, AUDIT_KEY).intact
        # The claim goes on: its next event is the first link of its chain.
        spec = {"user_id": "u_old", "name": "old-timer", "role": Role.specialist}
        evidence = ClaimEvent(
            key=f"{claim['id']}:00003", claim_id=claim["id"], at=datetime.now(UTC), action="evidence_added",
            actor=spec, evidence=EvidenceAdd(kind="note", source="pro", note="later"),
        )  # fmt: skip
        ClaimActivities(sessions, AUDIT_KEY).record_event(evidence)
        assert audit.verify(sessions, AUDIT_KEY).intact

        # A row slipped in later without a seal is not taken for an old one, however often it is asked.
        sql(sessions, "INSERT INTO audit_trail (claim_id, event_key, at, action) VALUES (:c, :k, :at, 'withdrawn')",
            c=claim["id"], k=f"{claim['id']}:00004", at=made)  # fmt: skip
        assert audit.seal_legacy(sessions, AUDIT_KEY) == 0
        drop_append_only_triggers(sessions)
        sql(sessions, "UPDATE audit_trail SET action = 'closed' WHERE event_key = :k", k=f"{claim['id']}:00002")
        second, fourth = f"{claim['id']}:00002", f"{claim['id']}:00004"
        assert found(audit.verify(sessions, AUDIT_KEY)) == {
            (claim["id"], "audit_trail", audit_id(sessions, second), second, "edited"),
            (claim["id"], "audit_trail", audit_id(sessions, fourth), fourth, "inserted"),
        }
    finally:
        engine.dispose()
    command.downgrade(alembic_config(own_url), "0003")
    migrate(own_url)
