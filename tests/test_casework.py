"""Per-claim access: only the claim's assignee, or a lead and above, works it; a lead reassigns it; everyone reads."""

import pytest

from schema.enums import Role
from tests.test_api import Desk, assert_error
from tests.test_api_payouts import transfer


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


CASEWORK = [
    ("/evidence", {"json": {"kind": "note", "source": "specialist", "note": "mine now"}}),
    ("/evidence/complete", {}),
    ("/decision", {"json": {"outcome": "deny", "reason_code": "excluded_peril", "rationale": "x"}}),
    ("/withdraw", {"json": {"reason": "settled"}}),
]


async def test_another_specialist_reads_but_cannot_work_the_claim(desk):
    other, other_h = desk.person(Role.specialist)
    claim = await desk.open()
    r = await desk.client.get(f"/claims/{claim['id']}", headers=other_h)
    assert r.status_code == 200
    for path, request in CASEWORK:
        message = await desk.refused(claim["id"], path, 403, "not_assignee", headers=other_h, **request)
        assert desk.specialist.user_id in message
    before = await desk.get(claim["id"])
    r = await desk.client.put(f"/claims/{claim['id']}/payout-details", json=transfer(), headers=other_h)
    assert_error(r, 403, "not_assignee")
    assert await desk.get(claim["id"]) == before


async def test_a_lead_works_any_claim(desk):
    lead_h = desk.person(Role.lead)[1]
    claim = await desk.open()
    r = await desk.client.post(f"/claims/{claim['id']}/evidence/complete", headers=lead_h)
    assert r.status_code == 200, r.text


async def test_a_lead_reassigns_and_the_new_assignee_works_it(desk):
    lead, lead_h = desk.person(Role.lead)
    newcomer, newcomer_h = desk.person(Role.specialist)
    claim = await desk.open()
    moved = await desk.hand_over(claim["id"], lead_h, newcomer.name)
    assert moved["assignee"] == newcomer.user_id, "a name is as good as an id"
    [entry] = [t for t in moved["timeline"] if t["action"] == "reassigned"]
    assert (entry["actor_id"], entry["reason"]) == (lead.user_id, f"to {newcomer.user_id}: theirs to work")
    assert claim["id"] in await desk.ids(newcomer_h, awaiting="me")
    assert claim["id"] not in await desk.ids(desk.specialist_h, awaiting="me")
    await desk.refused(claim["id"], "/evidence/complete", 403, "not_assignee")
    r = await desk.client.post(f"/claims/{claim['id']}/evidence/complete", headers=newcomer_h)
    assert r.status_code == 200 and r.json()["assignee"] == newcomer.user_id, r.text


async def test_who_may_reassign_and_to_whom(desk):
    lead_h = desk.person(Role.lead)[1]
    finance = desk.person(Role.finance)[0]
    claim = await desk.open()

    def to(who: str) -> dict:
        return {"json": {"assignee": who, "reason": "handover"}}

    await desk.refused(claim["id"], "/assignee", 403, "forbidden", **to(desk.specialist.user_id))
    message = await desk.refused(
        claim["id"], "/assignee", 422, "invalid_assignee", headers=lead_h, **to(finance.user_id)
    )
    assert "finance does no casework" in message
    await desk.refused(claim["id"], "/assignee", 422, "invalid_assignee", headers=lead_h, **to("u_nobody"))
    await desk.refused(claim["id"], "/assignee", 422, "invalid_request", headers=lead_h, json={"assignee": "x"})
    withdrawn = await desk.open()
    r = await desk.client.post(f"/claims/{withdrawn['id']}/withdraw", json={"reason": "x"}, headers=desk.specialist_h)
    assert r.json()["status"] == "withdrawn"
    await desk.refused(
        withdrawn["id"], "/assignee", 409, "invalid_state", headers=lead_h, **to(desk.specialist.user_id)
    )
