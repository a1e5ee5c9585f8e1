"""The milestones a claim keeps for the KPI report: set by the activity as it records each event, and
backfilled by the migration that added them from the audit trail, to the same values.

Each test has a database of its own (SQLite, then PostgreSQL).
"""

from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import command

from activities.claims import MILESTONES, mark_milestones
from schema import tables
from schema.database import make_engine, make_sessions
from schema.enums import ClaimStatus as S
from tests.test_audit_chain import T0, Claims, alembic_config
from tests.test_audit_chain import own as own  # noqa: F401 (a fixture)
from tests.test_audit_chain import own_url as own_url  # noqa: F401 (a fixture)

COLUMNS = tuple(dict.fromkeys([c for columns in MILESTONES.values() for c in columns] + ["final_at"]))
M = timedelta(minutes=1)


def milestones(sessions, claim_id: str) -> dict:
    with sessions() as db:
        claim = db.get(tables.Claim, claim_id)
        return {column: getattr(claim, column) for column in COLUMNS}


def test_the_activity_sets_the_milestones_as_it_records_the_events(own, provider):
    claim_id, _ = Claims(own, provider).paid()  # opened at T0, an event a minute
    decided, approved, paid = T0 + 4 * M, T0 + 6 * M, T0 + 8 * M
    assert milestones(own, claim_id) == {
        "first_decided_at": decided,
        "last_decided_at": decided,
        "first_reviewed_at": approved,
        "first_confirmed_at": approved,
        "last_confirmed_at": approved,
        "last_approved_at": approved,
        "paid_at": paid,
        "final_at": paid,
    }


def test_the_migration_backfills_them_from_the_audit_trail_as_the_activity_would(own_url):  # noqa: F811
    command.upgrade(alembic_config(own_url), "0016")
    timeline = [  # decided, sent back, decided again, approved, refused by the provider, paid
        ("opened", S.evidence_collection),
        ("evidence_completed", S.specialist_review),
        ("decided", S.pending_approval),
        ("sent_back", S.specialist_review),
        ("decided", S.pending_approval),
        ("approved", S.approved),
        ("payout_failed", S.payout_failed),
        ("payout_retried", S.approved),
        ("paid", S.paid),
    ]
    claim = {
        "id": "c0ffee000015", "customer_id": "cus", "pro_id": "pro", "project_id": "prj", "type": "property_damage",
        "status": "paid", "amount_cents": 1000, "currency": "USD", "incident_date": T0.date(), "channel": "phone",
        "description": "-", "opened_by": "u_old", "opened_at": T0, "updated_at": T0 + 8 * M, "policy_version": "v1",
        "risk_flags": [], "eligibility_issues": [], "sla_breaches": [], "held": False,
    }  # fmt: skip
    claims_then = sa.table("claims", *(sa.column(c, tables.Claim.__table__.c[c].type) for c in claim))
    engine = make_engine(own_url)
    with engine.begin() as conn:
        user = {"id": "u_old", "name": "old-timer", "role": "specialist", "token_hash": "a" * 64, "active": True}
        conn.execute(tables.User.__table__.insert(), [user | {"created_at": T0, "token_expires_at": T0}])
        conn.execute(claims_then.insert(), [claim])
        for n, (action, status) in enumerate(timeline):
            row = {"claim_id": claim["id"], "event_key": f"{claim['id']}:{n:05d}", "at": T0 + n * M}
            conn.execute(tables.AuditEntry.__table__.insert(), [row | {"action": action, "to_status": status}])
    engine.dispose()

    command.upgrade(alembic_config(own_url), "head")
    expected = SimpleNamespace(**dict.fromkeys(COLUMNS))
    for n, (action, status) in enumerate(timeline):
        mark_milestones(expected, action, status, T0 + n * M)
    engine = make_engine(own_url)
    try:
        assert milestones(make_sessions(engine), claim["id"]) == vars(expected)
        assert expected.last_decided_at == T0 + 4 * M and expected.first_reviewed_at == T0 + 3 * M
    finally:
        engine.dispose()
