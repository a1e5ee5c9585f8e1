"""Referrals: a claim's question handed to another team, taken by one person there and answered.

The asker never answers their own question, and only who took a referral answers it.
"""

import pytest

from schema.enums import Role
from tests.test_api import Desk, assert_error


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def refer(desk: Desk, claim_id: str, headers: dict | None = None, **body) -> dict:
    r = await desk.client.post(
        f"/claims/{claim_id}/referrals",
        json={"team": "legal", "note": "the customer's lawyer wrote"} | body,
        headers=headers or desk.specialist_h,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_question_to_legal_is_taken_answered_and_seen_by_its_asker(desk):
    claim = await desk.open()
    asked = await refer(desk, claim["id"])
    assert (asked["status"], asked["owner"], asked["referred_by"]) == ("open", None, desk.specialist.user_id)
    await refer(desk, claim["id"], team="pro_quality", note="third claim against this pro")

    legal = await desk.client.get("/referrals", params={"team": "legal", "status": "open"}, headers=desk.specialist_h)
    assert asked["id"] in [r["id"] for r in legal.json()]
    assert all(r["team"] == "legal" for r in legal.json())

    counsel, counsel_h = desk.person(Role.lead)
    taken = await desk.client.post(f"/referrals/{asked['id']}/take", headers=counsel_h)
    assert (taken.json()["status"], taken.json()["owner"]) == ("taken", counsel.user_id)
    answered = await desk.client.post(
        f"/referrals/{asked['id']}/answer", json={"answer": "pay; the letter makes no claim"}, headers=counsel_h
    )
    assert answered.status_code == 200, answered.text
    on_claim = await desk.client.get("/referrals", params={"claim_id": claim["id"]}, headers=desk.specialist_h)
    assert [(r["team"], r["status"], r["answer"]) for r in on_claim.json()] == [
        ("legal", "answered", "pay; the letter makes no claim"),
        ("pro_quality", "open", None),
    ]


async def test_nobody_answers_their_own_question_or_someone_elses_referral(desk):
    """An insider who asks legal and then answers themselves would manufacture legal cover."""
    claim = await desk.open()
    asked = await refer(desk, claim["id"])
    r = await desk.client.post(f"/referrals/{asked['id']}/take", headers=desk.specialist_h)
    assert "someone on the team answers it" in assert_error(r, 403, "conflict_of_interest")
    r = await desk.client.post(f"/referrals/{asked['id']}/answer", json={"answer": "fine"}, headers=desk.specialist_h)
    assert_error(r, 409, "invalid_state")

    _, owner_h = desk.person(Role.manager)
    _, other_h = desk.person(Role.finance)
    assert (await desk.client.post(f"/referrals/{asked['id']}/take", headers=owner_h)).status_code == 200
    r = await desk.client.post(f"/referrals/{asked['id']}/take", headers=other_h)
    assert_error(r, 409, "invalid_state")
    r = await desk.client.post(f"/referrals/{asked['id']}/answer", json={"answer": "pay"}, headers=other_h)
    assert "only the person who took this referral" in assert_error(r, 403, "not_assignee")
    [still] = (await desk.client.get("/referrals", params={"claim_id": claim["id"]}, headers=other_h)).json()
    assert (still["status"], still["answer"]) == ("taken", None)


async def test_only_whoever_works_the_claim_refers_it_and_bad_requests_change_nothing(desk):
    claim = await desk.open()
    _, stranger = desk.person(Role.specialist)
    r = await desk.client.post(
        f"/claims/{claim['id']}/referrals", json={"team": "legal", "note": "x"}, headers=stranger
    )
    assert_error(r, 403, "not_assignee")
    _, finance = desk.person(Role.finance)
    r = await desk.client.post(f"/claims/{claim['id']}/referrals", json={"team": "legal", "note": "x"}, headers=finance)
    assert_error(r, 403, "forbidden")
    for body in ({"team": "marketing", "note": "x"}, {"team": "legal", "note": ""}, {"team": "legal"}):
        r = await desk.client.post(f"/claims/{claim['id']}/referrals", json=body, headers=desk.specialist_h)
        assert_error(r, 422, "invalid_request")
    r = await desk.client.post("/claims/nope/referrals", json={"team": "legal", "note": "x"}, headers=desk.specialist_h)
    assert_error(r, 404, "not_found")
    r = await desk.client.post("/referrals/999999/take", headers=finance)
    assert_error(r, 404, "not_found")
    listed = await desk.client.get("/referrals", params={"claim_id": claim["id"]}, headers=desk.specialist_h)
    assert listed.json() == []
