"""Writes that can never succeed: refused at once, the lock released, and a stuck process shown and retried.

Finding: a database write that always failed held the claim's lock forever, and every later action
on that claim hung. Here the database itself refuses one kind of event for one claim (a trigger),
as a broken constraint or a bad row would.
"""

import contextlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from schema import tables
from schema.enums import Role
from tests.test_api import Desk, assert_error
from tests.test_claim_workflow import POLICY, eventually


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


@contextlib.contextmanager
def database_refuses(stack, claim_id: str, action: str):
    """While inside, the database refuses to record `action` events of this claim."""
    name = f"refuse_{uuid.uuid4().hex[:8]}"
    when = f"NEW.claim_id = '{claim_id}' AND NEW.action = '{action}'"
    engine = stack.sessions.kw["bind"]
    if engine.dialect.name == "sqlite":
        create = [f"CREATE TRIGGER {name} BEFORE INSERT ON audit_trail WHEN {when} "
                  "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"]  # fmt: skip
        drop = [f"DROP TRIGGER {name}"]
    else:
        create = [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF {when} THEN "
            "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
            f"CREATE TRIGGER {name} BEFORE INSERT ON audit_trail FOR EACH ROW EXECUTE FUNCTION {name}()",
        ]
        drop = [f"DROP TRIGGER {name} ON audit_trail", f"DROP FUNCTION {name}()"]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))


async def test_an_action_the_database_refuses_is_refused_and_the_claim_still_answers(desk, stack):
    claim = await desk.in_review()
    with database_refuses(stack, claim["id"], "decided"):
        decision = {"outcome": "approve", "amount_cents": 10_000, "rationale": "ok"}
        message = await desk.refused(claim["id"], "/decision", 500, "not_recorded", json=decision)
        assert "refused by the test" in message
        assert stack.rows(tables.Decision, claim["id"]) == []
        note = {"kind": "note", "source": "specialist", "note": "the lock is free"}
        r = await desk.client.post(f"/claims/{claim['id']}/evidence", json=note, headers=desk.specialist_h)
        assert r.status_code == 201, r.text
    decided = await desk.decide(claim["id"], outcome="approve", amount_cents=10_000, rationale="ok")
    assert decided["required_tier"] == "lead"


async def test_a_step_that_cannot_be_recorded_leaves_the_claim_visibly_stuck_until_it_can(desk, stack):
    finance_h = desk.person(Role.finance)[1]
    claim = await desk.open()
    r = await desk.client.post(
        f"/claims/{claim['id']}/evidence",
        json={"kind": "photo", "source": "customer", "note": "x"},
        headers=desk.specialist_h,
    )
    assert r.status_code == 201
    with database_refuses(stack, claim["id"], "evidence_window_closed"):
        await stack.env.sleep(POLICY.evidence_window() + timedelta(minutes=5))
        await eventually(lambda: stack.claim(claim["id"]).stuck_reason is not None, "the claim to be marked stuck")
        stuck = await desk.get(claim["id"])
        assert stuck["status"] == "evidence_collection" and "refused by the test" in stuck["stuck_reason"]
        told = {(n["recipient"], n["kind"]) for n in stuck["notifications"]}
        assert {("tier:finance", "claim_stuck"), ("tier:admin", "claim_stuck")} <= told
        assert claim["id"] in await desk.ids(finance_h, stuck="true", limit=500)
        r = await desk.client.post(
            f"/claims/{claim['id']}/evidence", json={"kind": "note", "source": "specialist", "note": "still here"},
            headers=desk.specialist_h,
        )  # fmt: skip
        assert r.status_code == 201, "the lock is free while the step waits"
    await stack.env.sleep(timedelta(hours=1, minutes=5))
    await eventually(lambda: stack.claim(claim["id"]).status == "specialist_review", "the step to be tried again")
    moving = await desk.get(claim["id"])
    assert (moving["stuck_reason"], moving["stuck_since"]) == (None, None)
    assert claim["id"] not in await desk.ids(finance_h, stuck="true", limit=500)
    assert_error(await desk.client.get("/claims?stuck=maybe", headers=finance_h), 422)
