"""The HTTP API against a real worker and database: the contract's routes, rules and errors.

Every refused action is checked twice: the answer (status, `{"error": {"code", "message"}}`) and
the claim itself, read back whole, which must be exactly as it was before the request.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from api.app import create_app
from schema.claims import AMOUNT_LIMIT_CENTS
from schema.enums import ClaimType, EvidenceKind, EvidenceSource, Role
from schema.policy import ClaimTypeRule, load_policy

MONEY_MOVING = {"approved", "paying", "paid"}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def today() -> date:
    return datetime.now(UTC).date()


def claim_body(**overrides) -> dict:
    """A valid claim; ids are fresh so no other claim makes it ineligible or flagged."""
    tag = uuid.uuid4().hex[:8]
    body = {
        "customer_id": f"cus_{tag}",
        "pro_id": f"pro_{tag}",
        "project_id": f"prj_{tag}",
        "type": "property_damage",
        "amount_cents": 80_000,
        "currency": "USD",
        "incident_date": today().isoformat(),
        "channel": "phone",
        "description": "the pro cracked the countertop",
        "payout": {"method": "transfer", "account_id": f"acct_{tag}"},
    }
    return body | overrides


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> str:
    """The contract's error shape, exactly; returns the message."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip(), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


class Desk:
    """People with tokens, and shortcuts that walk claims through the API."""

    def __init__(self, client: httpx.AsyncClient, stack):
        self.client, self.stack = client, stack
        self.specialist, self.specialist_h = self.person(Role.specialist)

    def person(self, role: Role):
        actor, token = self.stack.user_with_token(role)
        return actor, auth(token)

    async def open(self, headers: dict | None = None, **overrides) -> dict:
        r = await self.client.post("/claims", json=claim_body(**overrides), headers=headers or self.specialist_h)
        assert r.status_code == 201, r.text
        return r.json()

    async def in_review(self, headers: dict | None = None, **overrides) -> dict:
        claim = await self.open(headers, **overrides)
        r = await self.client.post(f"/claims/{claim['id']}/evidence/complete", headers=headers or self.specialist_h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "specialist_review"
        return r.json()

    async def pending(
        self, amount_cents: int = 80_000, decider: dict | None = None, opener: dict | None = None, **overrides
    ) -> dict:
        """A claim whose approval of `amount_cents` awaits an approver."""
        overrides.setdefault("amount_cents", amount_cents)
        claim = await self.in_review(opener, **overrides)
        if opener is not None and decider is None:
            await self.hand_over(claim["id"], opener, self.specialist.user_id)
        return await self.decide(claim["id"], decider, outcome="approve", amount_cents=amount_cents, rationale="ok")

    async def hand_over(self, claim_id: str, lead: dict, to: str) -> dict:
        """A lead gives the claim's casework to someone else."""
        r = await self.client.post(
            f"/claims/{claim_id}/assignee", json={"assignee": to, "reason": "theirs to work"}, headers=lead
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def decide(self, claim_id: str, headers: dict | None = None, **decision) -> dict:
        r = await self.client.post(f"/claims/{claim_id}/decision", json=decision, headers=headers or self.specialist_h)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending_approval"
        return r.json()

    async def approve(self, claim_id: str, headers: dict, verdict: str = "approve") -> dict:
        r = await self.client.post(f"/claims/{claim_id}/approval", json={"verdict": verdict}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def get(self, claim_id: str) -> dict:
        r = await self.client.get(f"/claims/{claim_id}", headers=self.specialist_h)
        assert r.status_code == 200, r.text
        return r.json()

    async def ids(self, headers: dict | None = None, **params) -> list[str]:
        page = await self.page(headers, **params)
        return [c["id"] for c in page["items"]]

    async def page(self, headers: dict | None = None, **params) -> dict:
        r = await self.client.get("/claims", params=params, headers=headers or self.specialist_h)
        assert r.status_code == 200, r.text
        return r.json()

    async def refused(
        self, claim_id: str, path: str, status: int, code: str, headers: dict | None = None, **request
    ) -> str:
        """POST to the claim, expect the error, and find the claim exactly as it was."""
        before = await self.get(claim_id)
        r = await self.client.post(f"/claims/{claim_id}{path}", headers=headers or self.specialist_h, **request)
        message = assert_error(r, status, code)
        after = await self.get(claim_id)
        for field in ("status", "decisions", "approvals", "evidence", "required_tier", "approved_amount_cents"):
            assert after[field] == before[field], field
        assert len(after["timeline"]) == len(before["timeline"])
        assert after == before
        return message


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


@pytest.fixture
async def big_desk(stack, tmp_path):
    """The API under a policy whose property_damage cap ($500,000) is above a director's limit."""
    v1 = load_policy("v1")
    types = {**v1.claim_types, ClaimType.property_damage: ClaimTypeRule(cap_cents=50_000_000, filing_window_days=14)}
    policy = v1.model_copy(update={"version": "v1-big-cap", "claim_types": types})
    transport = httpx.ASGITransport(app=create_app(stack.context(policy, tmp_path / "evidence")))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Desk(client, stack)


async def finish(stack, claim_id: str) -> str:
    """Let the claim's workflow run to its end (time may skip) and return its final status."""
    return await stack.result(claim_id)


# The whole way through.


async def test_claim_through_the_api_to_paid_then_final(desk, stack):
    api, lead_h = desk.client, desk.person(Role.lead)[1]
    r = await api.post("/claims", json=claim_body(currency="usd"), headers=desk.specialist_h)
    assert r.status_code == 201, r.text
    claim = r.json()
    claim_id = claim["id"]
    assert claim["status"] == "evidence_collection"
    assert claim["currency"] == "USD"
    assert claim["opened_by"] == desk.specialist.user_id
    assert claim["assignee"] == desk.specialist.user_id
    assert claim["eligibility_issues"] == []
    assert claim["policy_version"] == "v1"
    r = await api.post(
        f"/claims/{claim_id}/evidence",
        files={"file": ("crack.jpg", b"\xff\xd8jpeg", "image/jpeg")},
        data={"kind": "photo", "source": "customer", "note": "kitchen"},
        headers=desk.specialist_h,
    )
    assert r.status_code == 201, r.text
    evidence = r.json()["evidence"]
    assert evidence[0]["file"]["size_bytes"] == 6
    assert evidence[0]["file"]["filename"] == "crack.jpg"
    assert evidence[0]["note"] == "kitchen"
    r = await api.post(
        f"/claims/{claim_id}/evidence",
        json={"kind": "estimate", "source": "pro", "note": "$750"},
        headers=desk.specialist_h,
    )
    assert r.status_code == 201, r.text
    assert [e["kind"] for e in r.json()["evidence"]] == ["photo", "estimate"]
    r = await api.post(f"/claims/{claim_id}/evidence/complete", headers=desk.specialist_h)
    assert r.json()["status"] == "specialist_review"
    claim = await desk.decide(claim_id, outcome="approve", amount_cents=75_000, rationale="quote matches")
    assert claim["required_tier"] == "lead"
    assert claim["assignee"] == "tier:lead"
    assert claim["approved_amount_cents"] == 75_000
    assert claim["decisions"][0]["decided_by"] == desk.specialist.user_id
    claim = await desk.approve(claim_id, lead_h)
    assert claim["status"] in MONEY_MOVING
    assert await finish(stack, claim_id) == "paid"
    paid = await desk.get(claim_id)
    assert paid["status"] == "paid"
    assert [(p["amount_cents"], p["currency"], p["status"]) for p in paid["payouts"]] == [(75_000, "USD", "paid")]
    actions = [t["action"] for t in paid["timeline"] if t["action"] != "notified"]
    assert actions[:3] == ["opened", "payout_details_added", "evidence_added"]
    assert actions[-2:] == ["payout_started", "paid"]

    # Final: nothing changes a paid claim, least of all a withdrawal after the money left.
    message = await desk.refused(claim_id, "/withdraw", 409, "invalid_state", json={"reason": "changed my mind"})
    assert "paid" in message
    await desk.refused(
        claim_id,
        "/decision",
        409,
        "invalid_state",
        json={"outcome": "deny", "reason_code": "over_cap", "rationale": "x"},
    )
    await desk.refused(claim_id, "/approval", 409, "invalid_state", headers=lead_h, json={"verdict": "send_back"})
    await desk.refused(
        claim_id, "/evidence", 409, "invalid_state", json={"kind": "note", "source": "specialist", "note": "late"}
    )
    await desk.refused(claim_id, "/evidence/complete", 409, "invalid_state")

    # A second claim for the project already paid cannot be approved.
    again = await desk.in_review(project_id=paid["project_id"])
    assert "project_already_paid" in again["eligibility_issues"]
    message = await desk.refused(
        again["id"], "/decision", 422, "ineligible", json={"outcome": "approve", "amount_cents": 100, "rationale": "x"}
    )
    assert "project_already_paid" in message


async def test_denial_is_confirmed_by_a_lead_and_ends_the_claim(desk):
    lead_h = desk.person(Role.lead)[1]
    claim = await desk.in_review()
    claim = await desk.decide(claim["id"], outcome="deny", reason_code="excluded_peril", rationale="storm damage")
    assert claim["required_tier"] == "lead"
    assert claim["approved_amount_cents"] is None
    assert claim["decisions"][0]["reason_code"] == "excluded_peril"
    claim = await desk.approve(claim["id"], lead_h)
    assert claim["status"] == "denied"
    assert claim["payouts"] == []
    assert [n["kind"] for n in claim["notifications"]][-1] == "claim_denied"
    await desk.refused(claim["id"], "/approval", 409, "invalid_state", headers=lead_h, json={"verdict": "approve"})
    await desk.refused(claim["id"], "/withdraw", 409, "invalid_state", json={"reason": "x"})


async def test_send_back_returns_the_claim_for_a_new_decision(desk):
    lead_h = desk.person(Role.lead)[1]
    claim = await desk.pending(90_000)
    r = await desk.client.post(
        f"/claims/{claim['id']}/approval", json={"verdict": "send_back", "note": "check the invoice"}, headers=lead_h
    )
    assert r.status_code == 200, r.text
    claim = r.json()
    assert claim["status"] == "specialist_review"
    assert claim["required_tier"] is None and claim["approved_amount_cents"] is None
    assert [(a["verdict"], a["note"], a["round"]) for a in claim["approvals"]] == [
        ("send_back", "check the invoice", 1)
    ]
    claim = await desk.decide(claim["id"], outcome="approve", amount_cents=60_000, rationale="invoice says 600")
    assert [(d["round"], d["amount_cents"]) for d in claim["decisions"]] == [(1, 90_000), (2, 60_000)]
    assert (await desk.approve(claim["id"], lead_h))["status"] in MONEY_MOVING


@pytest.mark.parametrize("stage", ["evidence_collection", "specialist_review", "pending_approval"])
async def test_withdraw_before_money_moves(desk, stage):
    claim = {
        "evidence_collection": desk.open,
        "specialist_review": desk.in_review,
        "pending_approval": desk.pending,
    }[stage]
    claim = await claim()
    assert claim["status"] == stage
    r = await desk.client.post(
        f"/claims/{claim['id']}/withdraw", json={"reason": "customer settled"}, headers=desk.specialist_h
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    assert r.json()["timeline"][-1]["reason"] == "customer settled"
    await desk.refused(claim["id"], "/withdraw", 409, "invalid_state", json={"reason": "again"})


# The rules: each refused with a 4xx and a clear reason, the claim untouched.


async def test_decide_only_in_specialist_review(desk):
    decision = {"outcome": "approve", "amount_cents": 10_000, "rationale": "fine"}
    claim = await desk.open()
    message = await desk.refused(claim["id"], "/decision", 409, "invalid_state", json=decision)
    assert "evidence_collection" in message
    claim = await desk.pending()
    message = await desk.refused(claim["id"], "/decision", 409, "invalid_state", json=decision)
    assert "pending_approval" in message


async def test_approve_only_in_pending_approval(desk):
    lead_h = desk.person(Role.lead)[1]
    for claim in (await desk.open(), await desk.in_review()):
        for verdict in ("approve", "send_back"):
            message = await desk.refused(
                claim["id"], "/approval", 409, "invalid_state", headers=lead_h, json={"verdict": verdict}
            )
            assert claim["status"] in message


async def test_evidence_is_completed_only_once(desk):
    claim = await desk.in_review()
    await desk.refused(claim["id"], "/evidence/complete", 409, "invalid_state")


@pytest.mark.parametrize(
    "type, cap, cap_text",
    [
        ("property_damage", 10_000_000, "100,000.00"),
        ("work_not_done", 250_000, "2,500.00"),
        ("not_as_agreed", 250_000, "2,500.00"),
    ],
)
async def test_approved_amount_above_the_type_cap(desk, type, cap, cap_text):
    claim = await desk.in_review(type=type, amount_cents=cap + 100_000)
    message = await desk.refused(
        claim["id"],
        "/decision",
        422,
        "over_cap",
        json={"outcome": "approve", "amount_cents": cap + 1, "rationale": "x"},
    )
    assert cap_text in message and type in message
    claim = await desk.decide(claim["id"], outcome="approve", amount_cents=cap, rationale="the cap")
    assert claim["approved_amount_cents"] == cap


async def test_approved_amount_above_the_amount_claimed(desk):
    claim = await desk.in_review(amount_cents=80_000)
    message = await desk.refused(
        claim["id"],
        "/decision",
        422,
        "over_claimed",
        json={"outcome": "approve", "amount_cents": 80_001, "rationale": "x"},
    )
    assert "800.01" in message and "800.00" in message
    claim = await desk.decide(claim["id"], outcome="approve", amount_cents=80_000, rationale="all of it")
    assert claim["approved_amount_cents"] == 80_000


@pytest.mark.parametrize(
    "decision, code",
    [
        ({"outcome": "deny", "rationale": "no"}, "reason_required"),
        ({"outcome": "deny", "reason_code": None, "rationale": "no"}, "reason_required"),
        ({"outcome": "deny", "reason_code": "over_cap", "amount_cents": 100, "rationale": "no"}, "invalid_amount"),
        ({"outcome": "approve", "rationale": "yes"}, "amount_required"),
        ({"outcome": "approve", "amount_cents": 100, "reason_code": "over_cap", "rationale": "yes"}, "invalid_reason"),
    ],
)
async def test_decision_must_match_its_outcome(desk, decision, code):
    claim = await desk.in_review()
    message = await desk.refused(claim["id"], "/decision", 422, code, json=decision)
    if code == "reason_required":
        assert "reason_code" in message


async def test_ineligible_claim_cannot_be_approved_only_denied(desk):
    late = (today() - timedelta(days=15)).isoformat()
    claim = await desk.in_review(incident_date=late)
    assert claim["eligibility_issues"] == ["outside_filing_window"]
    message = await desk.refused(
        claim["id"],
        "/decision",
        422,
        "ineligible",
        json={"outcome": "approve", "amount_cents": 1_000, "rationale": "x"},
    )
    assert "outside_filing_window" in message
    claim = await desk.decide(claim["id"], outcome="deny", reason_code="outside_filing_window", rationale="too late")
    assert claim["status"] == "pending_approval"


@pytest.mark.parametrize("type, days_ago", [("property_damage", 14), ("work_not_done", 45), ("not_as_agreed", 15)])
async def test_inside_the_filing_window_is_eligible(desk, type, days_ago):
    claim = await desk.in_review(type=type, incident_date=(today() - timedelta(days=days_ago)).isoformat())
    assert claim["eligibility_issues"] == []
    await desk.decide(claim["id"], outcome="approve", amount_cents=1_000, rationale="ok")


@pytest.mark.parametrize(
    "type, amount, tier, role, allowed",
    [
        ("work_not_done", 250_000, "lead", Role.lead, True),
        ("property_damage", 250_001, "manager", Role.lead, False),
        ("property_damage", 2_500_000, "manager", Role.manager, True),
        ("property_damage", 2_500_001, "director", Role.manager, False),
        ("property_damage", 10_000_000, "director", Role.director, True),
        ("property_damage", 1_000, "lead", Role.finance, False),
        ("property_damage", 1_000, "lead", Role.director, True),
    ],
)
async def test_approver_needs_the_authority_for_the_amount(desk, type, amount, tier, role, allowed):
    approver, approver_h = desk.person(role)
    claim = await desk.pending(amount, type=type)
    assert claim["required_tier"] == tier
    assert claim["assignee"] == f"tier:{tier}"
    if allowed:
        claim = await desk.approve(claim["id"], approver_h)
        assert claim["status"] in MONEY_MOVING
        assert [(a["approver_id"], a["approver_role"]) for a in claim["approvals"]] == [(approver.user_id, role.value)]
    else:
        for verdict in ("approve", "send_back"):
            message = await desk.refused(
                claim["id"], "/approval", 403, "insufficient_authority", headers=approver_h, json={"verdict": verdict}
            )
            assert tier in message and role.value in message


async def test_above_a_directors_limit_a_director_and_finance_both_approve(big_desk, stack):
    desk = big_desk
    director, director_h = desk.person(Role.director)
    other_director_h = desk.person(Role.director)[1]
    finance_h = desk.person(Role.finance)[1]
    claim = await desk.pending(10_000_001)
    claim_id = claim["id"]
    assert claim["policy_version"] == "v1-big-cap"
    assert claim["required_tier"] == "director_and_finance"
    for role in (Role.lead, Role.manager):
        await desk.refused(
            claim_id,
            "/approval",
            403,
            "insufficient_authority",
            headers=desk.person(role)[1],
            json={"verdict": "approve"},
        )
    for h in (director_h, other_director_h, finance_h):
        assert claim_id in await desk.ids(h, awaiting="me", limit=500)

    claim = await desk.approve(claim_id, director_h)
    assert claim["status"] == "pending_approval"
    assert [a["approver_id"] for a in claim["approvals"]] == [director.user_id]
    await desk.refused(claim_id, "/approval", 409, "already_approved", headers=director_h, json={"verdict": "approve"})
    message = await desk.refused(
        claim_id, "/approval", 409, "already_approved", headers=other_director_h, json={"verdict": "approve"}
    )
    assert "finance" in message
    # Only finance can move it now, so only finance is waiting on it.
    assert claim_id not in await desk.ids(director_h, awaiting="me", limit=500)
    assert claim_id not in await desk.ids(other_director_h, awaiting="me", limit=500)
    assert claim_id in await desk.ids(finance_h, awaiting="me", limit=500)

    claim = await desk.approve(claim_id, finance_h)
    assert claim["status"] in MONEY_MOVING
    assert [a["approver_role"] for a in claim["approvals"]] == ["director", "finance"]
    assert await finish(stack, claim_id) == "paid"
    assert (await desk.get(claim_id))["payouts"][0]["amount_cents"] == 10_000_001


@pytest.mark.parametrize("role", [Role.lead, Role.manager, Role.director])
async def test_nobody_approves_a_decision_they_made(desk, role):
    decider, decider_h = desk.person(role)
    claim = await desk.pending(1_000, decider=decider_h)
    assert claim["decisions"][0]["decided_by"] == decider.user_id
    for verdict in ("approve", "send_back"):
        message = await desk.refused(
            claim["id"], "/approval", 403, "conflict_of_interest", headers=decider_h, json={"verdict": verdict}
        )
        assert "decision" in message
    assert claim["id"] not in await desk.ids(decider_h, awaiting="me", limit=500)


@pytest.mark.parametrize("role", [Role.lead, Role.manager, Role.director])
async def test_nobody_approves_a_claim_they_opened(desk, role):
    opener, opener_h = desk.person(role)
    claim = await desk.open(opener_h)
    assert claim["opened_by"] == opener.user_id
    assert (await desk.hand_over(claim["id"], opener_h, desk.specialist.user_id))["assignee"] == desk.specialist.user_id
    r = await desk.client.post(f"/claims/{claim['id']}/evidence/complete", headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    claim = await desk.decide(claim["id"], outcome="approve", amount_cents=1_000, rationale="ok")
    message = await desk.refused(
        claim["id"], "/approval", 403, "conflict_of_interest", headers=opener_h, json={"verdict": "approve"}
    )
    assert "opened" in message
    assert claim["id"] not in await desk.ids(opener_h, awaiting="me", limit=500)


async def test_roles_outside_their_part_are_forbidden(desk):
    finance_h, admin_h = desk.person(Role.finance)[1], desk.person(Role.admin)[1]
    for h, role in ((finance_h, "finance"), (admin_h, "admin")):
        r = await desk.client.post("/claims", json=claim_body(), headers=h)
        assert role in assert_error(r, 403, "forbidden")
    claim = await desk.pending()
    message = await desk.refused(claim["id"], "/approval", 403, "forbidden", json={"verdict": "approve"})
    assert "specialist" in message
    for path, body in [
        ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "x"}),
        ("/withdraw", {"reason": "x"}),
        ("/evidence", {"kind": "note", "source": "specialist", "note": "x"}),
        ("/evidence/complete", None),
    ]:
        await desk.refused(claim["id"], path, 403, "forbidden", headers=finance_h, json=body)
    # Staff who may not act may still read.
    r = await desk.client.get(f"/claims/{claim['id']}", headers=finance_h)
    assert r.status_code == 200 and r.json()["id"] == claim["id"]


# Bad input: always a 4xx in the contract's shape, never a 500, and nothing changes.

DROP = object()
TOMORROW = (today() + timedelta(days=1)).isoformat()

BAD_CLAIMS = [
    ("amount_cents", "100", "invalid_request"),
    ("amount_cents", True, "invalid_request"),
    ("amount_cents", 100.0, "invalid_request"),
    ("amount_cents", 1.5, "invalid_request"),
    ("amount_cents", -5, "invalid_request"),
    ("amount_cents", 0, "invalid_request"),
    ("amount_cents", 10**30, "invalid_request"),
    ("amount_cents", AMOUNT_LIMIT_CENTS + 1, "invalid_request"),
    ("amount_cents", 100_000_001, "amount_too_large"),
    ("amount_cents", None, "invalid_request"),
    ("amount_cents", [100], "invalid_request"),
    ("amount_cents", {"cents": 100}, "invalid_request"),
    ("amount_cents", DROP, "invalid_request"),
    ("type", "fire", "invalid_request"),
    ("type", "", "invalid_request"),
    ("type", "PROPERTY_DAMAGE", "invalid_request"),
    ("type", DROP, "invalid_request"),
    ("channel", "fax", "invalid_request"),
    ("channel", 3, "invalid_request"),
    ("currency", "EUR", "unsupported_currency"),
    ("currency", "US", "invalid_request"),
    ("currency", "US$", "invalid_request"),
    ("currency", 840, "invalid_request"),
    ("currency", "", "invalid_request"),
    ("incident_date", TOMORROW, "incident_in_future"),
    ("incident_date", "2100-12-31", "incident_in_future"),  # inside the bounds: the rule answers
    # Outside 2000-01-01..2100-12-31 (schema/bounds.py): refused before any rule is asked.
    ("incident_date", "2101-01-01", "invalid_request"),
    ("incident_date", "9999-12-31", "invalid_request"),
    ("incident_date", "1999-12-31", "invalid_request"),
    ("incident_date", "0001-01-01", "invalid_request"),
    ("incident_date", "yesterday", "invalid_request"),
    ("incident_date", "2024-02-30", "invalid_request"),
    ("incident_date", "2024-01-01T10:30:00", "invalid_request"),
    ("incident_date", "2024-01-01T00:00:00", "invalid_request"),
    ("incident_date", 0, "invalid_request"),
    ("incident_date", "0", "invalid_request"),
    ("incident_date", 86_400, "invalid_request"),
    ("incident_date", "", "invalid_request"),
    ("incident_date", None, "invalid_request"),
    ("customer_id", "", "invalid_request"),
    ("customer_id", "   ", "invalid_request"),
    ("customer_id", "c" * 201, "invalid_request"),
    ("customer_id", 42, "invalid_request"),
    ("customer_id", "cus\x00tomer", "invalid_request"),
    # Ids may not hold format (Cf) or control (Cc) characters: bidi overrides, zero-width ones, escapes.
    ("customer_id", "cus_\u202e1", "invalid_request"),
    ("customer_id", "cus_\u200b1", "invalid_request"),
    ("customer_id", "\ufeffcus_1", "invalid_request"),
    ("customer_id", "cus_\x1b[31m", "invalid_request"),
    ("pro_id", "pro_\u2066x\u2069", "invalid_request"),
    ("pro_id", "pro\u200d_1", "invalid_request"),
    ("project_id", "prj_\u200e1", "invalid_request"),
    ("project_id", "prj_\u00ad1", "invalid_request"),
    ("pro_id", None, "invalid_request"),
    ("project_id", DROP, "invalid_request"),
    ("description", "", "invalid_request"),
    ("description", "d" * 10_001, "invalid_request"),
    ("description", "broken\x00pipe", "invalid_request"),
    ("priority", "high", "invalid_request"),
    ("\x00", "x", "invalid_request"),
]


@pytest.mark.parametrize("field, value, code", BAD_CLAIMS, ids=lambda v: repr(v)[:30])
async def test_bad_claim_is_refused_and_nothing_opened(desk, field, value, code):
    body = claim_body()
    if value is DROP:
        del body[field]
    else:
        body[field] = value
    r = await desk.client.post("/claims", json=body, headers=desk.specialist_h)
    message = assert_error(r, 422, code)
    if code == "invalid_request":
        assert field in message or "NUL" in message, message
    assert (await desk.page(assignee=desk.specialist.user_id))["total"] == 0


RAW_BODIES = [
    b"",
    b"{",
    b"not json",
    b"[]",
    b"null",
    b'"a string"',
    b"42",
    b"\xff\xfe\x00",
    b'{"outcome": NaN}',
    b"[" * 5000 + b"]" * 5000,
]


async def test_malformed_bodies_on_every_route(desk, subtests):
    claim = await desk.pending()
    lead_h = desk.person(Role.lead)[1]
    json_h = {"Content-Type": "application/json"}
    for content in RAW_BODIES:
        with subtests.test(body=content[:20]):
            # Where FastAPI reads the body, one it cannot even decode is a 400; the rest are 422s.
            unreadable = content[:2] in (b"\xff\xfe", b"[[")
            r = await desk.client.post("/claims", content=content, headers=desk.specialist_h | json_h)
            assert_error(r, 400 if unreadable else 422, "invalid_request")
            for path, who in [
                ("/decision", desk.specialist_h),
                ("/approval", lead_h),
                ("/withdraw", desk.specialist_h),
                ("/evidence", desk.specialist_h),
            ]:
                status = 400 if unreadable and path != "/evidence" else 422
                await desk.refused(claim["id"], path, status, "invalid_request", headers=who | json_h, content=content)
    assert (await desk.page(assignee=desk.specialist.user_id))["total"] == 0


BAD_ACTIONS = [
    # (path, body, state the claim is in)
    ("/decision", {"outcome": "maybe", "rationale": "x"}, "review"),
    ("/decision", {"outcome": "", "rationale": "x"}, "review"),
    ("/decision", {"outcome": None, "rationale": "x"}, "review"),
    ("/decision", {"amount_cents": 100, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": "100", "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": True, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": 100.0, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": 1.5, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": -5, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": 0, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": 10**30, "rationale": "x"}, "review"),
    ("/decision", {"outcome": "approve", "amount_cents": [100], "rationale": "x"}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "because", "rationale": "x"}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "", "rationale": "x"}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap"}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": ""}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "   "}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": 7}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "r" * 10_001}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "x\x00"}, "review"),
    ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "x", "by": "me"}, "review"),
    ("/approval", {}, "pending"),
    ("/approval", {"verdict": "yes"}, "pending"),
    ("/approval", {"verdict": "APPROVE"}, "pending"),
    ("/approval", {"verdict": None}, "pending"),
    ("/approval", {"verdict": "approve", "note": 5}, "pending"),
    ("/approval", {"verdict": "approve", "note": "n" * 10_001}, "pending"),
    ("/approval", {"verdict": "approve", "note": "\x00"}, "pending"),
    ("/approval", {"verdict": "approve", "amount_cents": 1}, "pending"),
    ("/evidence", {}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer"}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": ""}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": "   "}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": None}, "open"),
    ("/evidence", {"kind": "selfie", "source": "customer", "note": "x"}, "open"),
    ("/evidence", {"kind": "photo", "source": "neighbour", "note": "x"}, "open"),
    ("/evidence", {"source": "customer", "note": "x"}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": 12}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": "n" * 10_001}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": "a\x00b"}, "open"),
    ("/evidence", {"kind": "photo", "source": "customer", "note": "x", "extra": 1}, "open"),
    (
        "/evidence",
        {
            "kind": "photo",
            "source": "customer",
            "file": {"sha256": "0" * 64, "filename": "x.jpg", "content_type": "image/jpeg", "size_bytes": 1},
        },
        "open",
    ),
    ("/withdraw", {}, "open"),
    ("/withdraw", {"reason": ""}, "open"),
    ("/withdraw", {"reason": "  "}, "open"),
    ("/withdraw", {"reason": 3}, "open"),
    ("/withdraw", {"reason": "x", "refund": True}, "open"),
    ("/withdraw", {"reason": "\x00"}, "open"),
]


@pytest.mark.parametrize("state", ["open", "review", "pending"])
async def test_bad_action_is_refused_and_the_claim_unchanged(desk, subtests, state):
    """One claim in the state each action needs, and every bad body for those actions against it."""
    claim = await {"open": desk.open, "review": desk.in_review, "pending": desk.pending}[state]()
    lead_h = desk.person(Role.lead)[1]
    cases = [(path, body) for path, body, needs in BAD_ACTIONS if needs == state]
    assert cases
    for path, body in cases:
        with subtests.test(path=path, body=body):
            headers = lead_h if path == "/approval" else desk.specialist_h
            await desk.refused(claim["id"], path, 422, "invalid_request", headers=headers, json=body)


async def test_bad_uploads_are_refused_and_the_claim_unchanged(desk):
    claim = await desk.open()
    photo = ("a.jpg", b"jpeg", "image/jpeg")
    for files, data in [
        ({"file": photo}, {"source": "customer"}),
        ({"file": photo}, {"kind": "selfie", "source": "customer"}),
        ({"file": photo}, {"kind": "photo", "source": "customer", "extra": "x"}),
        ({"file": ("a.jpg", b"jpeg", "image/" + "x" * 300)}, {"kind": "photo", "source": "customer"}),
        ({"file": ("f" * 300 + ".jpg", b"jpeg", "image/jpeg")}, {"kind": "photo", "source": "customer"}),
        ({"other": photo}, {"kind": "photo", "source": "customer"}),
        (None, {"kind": "photo", "source": "customer", "file": "not a file"}),
        ({"file": photo}, {"kind": "photo", "source": "customer", "note": "a\x00b"}),
    ]:
        await desk.refused(claim["id"], "/evidence", 422, "invalid_request", files=files, data=data)
    r = await desk.client.post(
        f"/claims/{claim['id']}/evidence",
        content=b"--nope\r\n",
        headers=desk.specialist_h | {"Content-Type": "multipart/form-data; boundary=XYZ"},
    )
    assert_error(r, 400)
    assert (await desk.get(claim["id"]))["evidence"] == []


async def test_unknown_claim_is_404_on_every_route(desk):
    lead_h = desk.person(Role.lead)[1]
    for claim_id in ("nope", "0" * 12, "a" * 500, "%20", "x%00y"):
        r = await desk.client.get(f"/claims/{claim_id}", headers=desk.specialist_h)
        assert_error(r, 422 if "%00" in claim_id else 404)
    for path, body, who in [
        ("/decision", {"outcome": "deny", "reason_code": "over_cap", "rationale": "x"}, desk.specialist_h),
        ("/approval", {"verdict": "approve"}, lead_h),
        ("/withdraw", {"reason": "x"}, desk.specialist_h),
        ("/evidence", {"kind": "note", "source": "specialist", "note": "x"}, desk.specialist_h),
        ("/evidence/complete", None, desk.specialist_h),
    ]:
        r = await desk.client.post(f"/claims/nope{path}", json=body, headers=who)
        assert "nope" in assert_error(r, 404, "not_found")


async def test_users_me_is_the_token_holder(desk):
    """Every route's answer without a valid token is in tests/test_access.py."""
    r = await desk.client.get("/users/me", headers=desk.specialist_h)
    assert r.json() == {"user_id": desk.specialist.user_id, "name": desk.specialist.name, "role": "specialist"}


@pytest.mark.parametrize(
    "params",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "limit=",
        "limit=1.5",
        "offset=-1",
        "offset=ten",
        "offset=1000000001",
        "offset=100000000000000000000000000000",
        "status=lost",
        "status=",
        "type=fire",
        "awaiting=you",
        "awaiting=",
        "assignee=%00",
        "status=paid%00",
    ],
)
async def test_bad_list_parameters(desk, params):
    r = await desk.client.get(f"/claims?{params}", headers=desk.specialist_h)
    message = assert_error(r, 422, "invalid_request")
    assert params.split("=")[0] in message or "NUL" in message


async def test_unknown_routes_and_methods(desk):
    assert_error(await desk.client.get("/nowhere", headers=desk.specialist_h), 404, "not_found")
    assert_error(await desk.client.delete("/claims", headers=desk.specialist_h), 405, "method_not_allowed")
    assert_error(await desk.client.put("/claims/abc/decision", headers=desk.specialist_h), 405, "method_not_allowed")


# Lists and queues.


async def test_list_filters_by_status_type_and_assignee(desk):
    me = desk.specialist.user_id
    waiting = await desk.open(type="property_damage")
    review = await desk.in_review(type="work_not_done", amount_cents=20_000)
    pending = await desk.pending(1_000)
    assert set(await desk.ids(assignee=me)) == {waiting["id"], review["id"]}
    assert await desk.ids(assignee=me, status="specialist_review") == [review["id"]]
    assert await desk.ids(assignee=me, status="evidence_collection") == [waiting["id"]]
    assert await desk.ids(assignee=me, status="pending_approval") == []
    assert await desk.ids(assignee=me, type="property_damage") == [waiting["id"]]
    assert await desk.ids(assignee=me, type="not_as_agreed") == []

    page = await desk.page(status="pending_approval", assignee="tier:lead", limit=500)
    assert pending["id"] in [c["id"] for c in page["items"]]
    assert {(c["status"], c["assignee"]) for c in page["items"]} == {("pending_approval", "tier:lead")}
    page = await desk.page(type="work_not_done", limit=500)
    assert review["id"] in [c["id"] for c in page["items"]]
    assert {c["type"] for c in page["items"]} == {"work_not_done"}
    page = await desk.page(status="evidence_collection", limit=500)
    assert waiting["id"] in [c["id"] for c in page["items"]]
    assert review["id"] not in [c["id"] for c in page["items"]]
    assert {c["status"] for c in page["items"]} == {"evidence_collection"}
    # A summary, not the whole claim.
    assert "timeline" not in page["items"][0]
    assert await desk.ids(assignee="nobody") == []


async def test_list_pages_newest_first(desk):
    me = desk.specialist.user_id
    opened = [(await desk.open())["id"] for _ in range(5)]
    newest_first = opened[::-1]
    first = await desk.page(assignee=me)
    assert (first["total"], first["limit"], first["offset"]) == (5, 50, 0)
    assert [c["id"] for c in first["items"]] == newest_first
    seen = []
    for offset, size in ((0, 2), (2, 2), (4, 1), (5, 0), (7, 0)):
        page = await desk.page(assignee=me, limit=2, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        assert len(page["items"]) == size
        seen += [c["id"] for c in page["items"]]
    assert seen == newest_first
    assert [c["id"] for c in (await desk.page(assignee=me, limit=1, offset=4))["items"]] == [opened[0]]
    page = await desk.page(assignee=me, limit=500, offset=1_000_000_000)
    assert (page["items"], page["total"]) == ([], 5)


async def test_awaiting_me_is_what_this_person_can_move(desk):
    lead, lead_h = desk.person(Role.lead)
    decider, decider_h = desk.person(Role.lead)
    opener, opener_h = desk.person(Role.lead)
    manager_h, finance_h = desk.person(Role.manager)[1], desk.person(Role.finance)[1]

    mine = await desk.open()
    decided = await desk.pending(1_000, decider=decider_h)
    opened = await desk.pending(1_000, opener=opener_h)
    for claim in (decided, opened):
        assert claim["required_tier"] == "lead"
    big = await desk.pending(300_000)
    assert big["required_tier"] == "manager"

    awaiting = lambda h: desk.ids(h, awaiting="me", limit=500)  # noqa: E731
    assert {decided["id"], opened["id"]} <= set(await awaiting(lead_h))
    assert big["id"] not in await awaiting(lead_h)
    assert opened["id"] in await awaiting(decider_h) and decided["id"] not in await awaiting(decider_h)
    assert decided["id"] in await awaiting(opener_h) and opened["id"] not in await awaiting(opener_h)
    assert {decided["id"], opened["id"], big["id"]} <= set(await awaiting(manager_h))
    assert not {decided["id"], opened["id"], big["id"]} & set(await awaiting(finance_h))
    # The specialist's own casework waits on them; the claims awaiting approval do not.
    assert await awaiting(desk.specialist_h) == [mine["id"]]
    page = await desk.page(lead_h, awaiting="me", status="pending_approval", limit=500)
    assert {c["status"] for c in page["items"]} == {"pending_approval"}
    assert page["total"] == len(page["items"])

    await desk.approve(decided["id"], lead_h)
    assert decided["id"] not in await awaiting(lead_h)
    assert decided["id"] not in await awaiting(manager_h)


async def test_health_and_api_document_need_no_token(desk):
    r = await desk.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await desk.client.get("/openapi.json")
    assert r.status_code == 200
    schemas = r.json()["components"]["schemas"]
    assert schemas["ClaimOpenBody"]["properties"]["amount_cents"]["type"] == "integer"
    assert "DecisionRequest" in schemas and "ApprovalRequest" in schemas
    assert {"/claims", "/claims/{claim_id}", "/claims/{claim_id}/decision"} <= set(r.json()["paths"])


async def test_the_api_document_describes_the_evidence_upload_as_the_route_takes_it(desk):
    """The route streams its body itself, so FastAPI sees no parameters: the document says what it reads."""
    doc = (await desk.client.get("/openapi.json")).json()
    body = doc["paths"]["/claims/{claim_id}/evidence"]["post"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert form["properties"]["kind"]["enum"] == [k.value for k in EvidenceKind]
    assert form["properties"]["source"]["enum"] == [s.value for s in EvidenceSource]
    assert form["required"] == ["kind", "source"] and "25 MB" in form["description"]
    assert body["content"]["application/json"]["schema"]["required"] == ["kind", "source", "note"]

    # What the document requires is enough: a form of a note alone, and one of a file alone.
    claim = await desk.open()
    fields = {"kind": (None, "note"), "source": (None, "specialist")}  # (no file name): a text part
    for form in [fields | {"note": (None, "called the pro")}, fields | {"file": ("a.txt", b"a", "text/plain")}]:
        r = await desk.client.post(f"/claims/{claim['id']}/evidence", files=form, headers=desk.specialist_h)
        assert r.status_code == 201, r.text
