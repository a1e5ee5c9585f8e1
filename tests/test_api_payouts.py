"""The HTTP API's payout routes against a real worker, database and Stripe stub.

PUT /claims/{id}/payout-details (casework), POST /claims/{id}/payout/retry and /payout/cancel
(finance), and payout details given when a claim is opened. As in tests/test_api.py, every
refused request is checked twice: the answer (status, `{"error": {"code", "message"}}`) and the
claim read back whole, its payout details above all, exactly as it was.
"""

import asyncio
import time
import uuid

import httpx
import pytest

from schema.enums import Role
from tests.test_api import RAW_BODIES, Desk, assert_error, claim_body, finish


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


@pytest.fixture
def faults(stack):
    """The stub's fault switch; every fault off again after the test, whatever happened."""
    yield stack.stub.control
    stack.stub.control.clear_faults()


def account() -> str:
    return f"acct_{uuid.uuid4().hex[:12]}"


def transfer(to: str | None = None) -> dict:
    return {"method": "transfer", "account_id": to or account()}


def refund(charge: str = "ch_1") -> dict:
    return {"method": "refund", "charge_id": charge}


def destinations(claim: dict) -> list[tuple[str, str]]:
    return [(d["method"], d["destination"]) for d in claim["payout_details"]]


def actions(claim: dict) -> list[str]:
    return [t["action"] for t in claim["timeline"] if t["action"] != "notified"]


async def put_details(desk: Desk, claim_id: str, headers: dict | None = None, **request) -> httpx.Response:
    return await desk.client.put(f"/claims/{claim_id}/payout-details", headers=headers or desk.specialist_h, **request)


async def refused_put(desk: Desk, claim_id: str, status: int, code: str, headers: dict | None = None, **request) -> str:
    """PUT payout details, expect the error, and find the claim (and its details) exactly as it was."""
    before = await desk.get(claim_id)
    message = assert_error(await put_details(desk, claim_id, headers, **request), status, code)
    after = await desk.get(claim_id)
    assert after["payout_details"] == before["payout_details"]
    assert after == before
    return message


async def status_becomes(desk: Desk, claim_id: str, status: str, within_s: float = 20.0) -> dict:
    deadline = time.monotonic() + within_s
    while (claim := await desk.get(claim_id))["status"] != status:
        assert time.monotonic() < deadline, f"claim {claim_id} is {claim['status']}, not {status}"
        await asyncio.sleep(0.05)
    return claim


async def finance_told(desk: Desk, claim_id: str, within_s: float = 20.0) -> dict:
    """The claim once finance has been notified: the workflow records that just after payout_failed."""
    deadline = time.monotonic() + within_s
    while True:
        claim = await desk.get(claim_id)
        if any(n["kind"] == "payout_failed" for n in claim["notifications"]):
            return claim
        assert time.monotonic() < deadline, f"claim {claim_id}: finance was never told of the refused payout"
        await asyncio.sleep(0.05)


async def refused_payouts(desk: Desk, faults, n: int = 1, **overrides) -> list[dict]:
    """`n` claims approved to accounts the stub declines: each waits in payout_failed for finance."""
    declined = [account() for _ in range(n)]
    faults.faults(declined_destinations=declined)
    lead_h = desk.person(Role.lead)[1]
    claims = []
    for to in declined:
        claim = await desk.pending(10_000, payout=transfer(to), **overrides)
        await desk.approve(claim["id"], lead_h)
        claims.append(claim)
    claims = [await status_becomes(desk, c["id"], "payout_failed") for c in claims]
    claims = [await finance_told(desk, c["id"]) for c in claims]
    faults.clear_faults()
    for claim in claims:
        assert [(p["attempt"], p["status"], p["failure_code"]) for p in claim["payouts"]] == [
            (1, "failed", "account_invalid")
        ]
        assert claim["assignee"] == "tier:finance"
    return claims


# Payout details.


async def test_payout_details_are_stored_shown_and_recorded(desk):
    claim = await desk.open(type="work_not_done", payout=None)
    assert claim["payout_details"] == []
    first = account()
    r = await put_details(desk, claim["id"], json=transfer(first))
    assert r.status_code == 200, r.text
    claim = r.json()
    [details] = claim["payout_details"]
    assert (details["method"], details["destination"], details["added_by"]) == (
        "transfer",
        first,
        desk.specialist.user_id,
    )
    assert claim["status"] == "evidence_collection"
    [added] = [t for t in claim["timeline"] if t["action"] == "payout_details_added"]
    assert (added["actor_id"], added["actor_role"], added["reason"]) == (
        desk.specialist.user_id,
        "specialist",
        f"transfer #{details['id']}",
    )
    assert (added["from_status"], added["to_status"]) == (None, None)

    # A lead changes them to a refund (a money-back claim); the newest details are the ones used.
    lead, lead_h = desk.person(Role.lead)
    r = await put_details(desk, claim["id"], lead_h, json=refund("ch_Abc123"))
    assert r.status_code == 200, r.text
    claim = await desk.get(claim["id"])
    assert destinations(claim) == [("transfer", first), ("refund", "ch_Abc123")]
    assert claim["payout_details"][1]["added_by"] == lead.user_id
    assert actions(claim) == ["opened", "payout_details_added", "payout_details_added"]


async def test_approving_needs_payout_details_and_they_can_be_added_in_review(desk):
    claim = await desk.in_review(payout=None)
    decision = {"outcome": "approve", "amount_cents": 50_000, "rationale": "ok"}
    message = await desk.refused(claim["id"], "/decision", 422, "payout_details_required", json=decision)
    assert "payout details" in message
    # A denial needs no payout details.
    r = await put_details(desk, claim["id"], json=transfer())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "specialist_review"
    claim = await desk.decide(claim["id"], **decision)
    # Still changeable while the decision waits for approval, not once money moves.
    r = await put_details(desk, claim["id"], json=transfer())
    assert r.status_code == 200, r.text
    assert len(r.json()["payout_details"]) == 2


BAD_DETAILS = [
    {},
    {"method": "transfer"},
    {"method": "refund"},
    {"account_id": "acct_1"},
    {"method": "wire", "account_id": "acct_1"},
    {"method": None, "account_id": "acct_1"},
    {"method": "TRANSFER", "account_id": "acct_1"},
    {"method": "transfer", "account_id": "acct_"},
    {"method": "transfer", "account_id": "acct_bad-id"},
    {"method": "transfer", "account_id": "acct_1 2"},
    {"method": "transfer", "account_id": "ba_123"},
    {"method": "transfer", "account_id": "acct_" + "a" * 65},
    {"method": "transfer", "account_id": 123},
    {"method": "transfer", "account_id": ["acct_1"]},
    {"method": "transfer", "account_id": "acct_1\x00"},
    {"method": "transfer", "charge_id": "ch_1"},
    {"method": "refund", "account_id": "acct_1"},
    {"method": "transfer", "account_id": "acct_1", "charge_id": "ch_1"},
    {"method": "refund", "account_id": "acct_1", "charge_id": "ch_1"},
    {"method": "refund", "charge_id": "py_1"},
    {"method": "refund", "charge_id": "ch_"},
    {"method": "refund", "charge_id": "ch_1", "amount_cents": 100},
    {"method": "transfer", "account_id": "acct_1", "destination": "acct_2"},
]


async def test_bad_payout_details_are_refused_and_nothing_is_stored(desk, subtests):
    claim = await desk.open(type="work_not_done")
    assert len(claim["payout_details"]) == 1
    for body in BAD_DETAILS:
        with subtests.test(body=body):
            await refused_put(desk, claim["id"], 422, "invalid_request", json=body)
    for body in [[], "acct_1", None, 7]:
        with subtests.test(body=body):
            await refused_put(desk, claim["id"], 422, "invalid_request", json=body)
    json_h = desk.specialist_h | {"Content-Type": "application/json"}
    for content in RAW_BODIES:
        with subtests.test(raw=content[:20]):
            unreadable = content[:2] in (b"\xff\xfe", b"[[")
            status = 400 if unreadable else 422
            await refused_put(desk, claim["id"], status, "invalid_request", headers=json_h, content=content)


async def test_a_refund_is_only_for_money_back_claims(desk):
    claim = await desk.open(type="property_damage")
    message = await refused_put(desk, claim["id"], 422, "invalid_payout_method", json=refund())
    assert "refunds are for money-back claims" in message
    for type in ("work_not_done", "not_as_agreed"):
        other = await desk.open(type=type)
        r = await put_details(desk, other["id"], json=refund())
        assert r.status_code == 200, r.text


async def test_payout_details_are_refused_once_money_moves_and_by_other_roles(desk, stack):
    claim = await desk.pending(payout=transfer())
    for role in (Role.finance, Role.admin):
        message = await refused_put(desk, claim["id"], 403, "forbidden", desk.person(role)[1], json=transfer())
        assert f"the {role.value} role cannot do this" in message
    await desk.approve(claim["id"], desk.person(Role.lead)[1])
    assert await finish(stack, claim["id"]) == "paid"
    message = await refused_put(desk, claim["id"], 409, "invalid_state", json=transfer())
    assert "paid" in message
    assert len((await desk.get(claim["id"]))["payout_details"]) == 1


async def test_payout_details_of_an_unknown_claim_are_404(desk):
    assert_error(await put_details(desk, "c0ffee000000", json=transfer()), 404, "not_found")


# Opening with payout details.


async def test_opening_with_payout_details(desk, stack):
    claim = await desk.open(type="not_as_agreed", payout=refund("ch_Opened1"))
    assert destinations(claim) == [("refund", "ch_Opened1")]
    assert actions(claim) == ["opened", "payout_details_added"]
    assert claim["payout_details"][0]["added_by"] == desk.specialist.user_id


@pytest.mark.parametrize(
    "payout, code",
    [
        (refund(), "invalid_payout_method"),
        ({"method": "transfer", "account_id": "acct_bad-id"}, "invalid_request"),
        ({"method": "refund", "account_id": "acct_1"}, "invalid_request"),
        ({"method": "transfer"}, "invalid_request"),
        ("acct_1", "invalid_request"),
    ],
    ids=["refund_for_property_damage", "bad_account", "method_mismatch", "no_account", "not_an_object"],
)
async def test_opening_with_bad_payout_details_opens_nothing(desk, payout, code):
    everyone = (await desk.page())["total"]
    r = await desk.client.post("/claims", json=claim_body(payout=payout), headers=desk.specialist_h)
    message = assert_error(r, 422, code)
    if code == "invalid_request":
        assert "payout" in message, message
    assert (await desk.page())["total"] == everyone
    assert (await desk.page(assignee=desk.specialist.user_id))["total"] == 0


# Finance settles a refused payout.


async def test_only_finance_retries_or_cancels_and_nothing_is_stored(desk, faults):
    [claim] = await refused_payouts(desk, faults)
    for role in (Role.specialist, Role.lead, Role.manager, Role.director, Role.admin):
        headers = desk.person(role)[1]
        for path, body in [
            ("/payout/retry", {"reason": "try again"}),
            ("/payout/retry", {"reason": "new account", "payout": transfer()}),
            ("/payout/cancel", {"reason": "give up"}),
        ]:
            message = await desk.refused(claim["id"], path, 403, "forbidden", headers=headers, json=body)
            assert message == f"the {role.value} role cannot do this (allowed: finance)"
    after = await desk.get(claim["id"])
    assert after["status"] == "payout_failed" and len(after["payout_details"]) == 1


async def test_retry_and_cancel_only_in_payout_failed(desk, stack):
    finance_h = desk.person(Role.finance)[1]
    lead_h = desk.person(Role.lead)[1]
    opened = await desk.open()
    review = await desk.in_review()
    pending = await desk.pending()
    paid = await desk.pending()
    await desk.approve(paid["id"], lead_h)
    assert await finish(stack, paid["id"]) == "paid"
    for claim, status in [
        (opened, "evidence_collection"),
        (review, "specialist_review"),
        (pending, "pending_approval"),
    ]:
        for path, body in [
            ("/payout/retry", {"reason": "x"}),
            ("/payout/retry", {"reason": "x", "payout": transfer()}),
            ("/payout/cancel", {"reason": "x"}),
        ]:
            message = await desk.refused(claim["id"], path, 409, "invalid_state", headers=finance_h, json=body)
            assert f"the claim is {status}, not payout_failed" in message
    for path, body in [
        ("/payout/retry", {"reason": "x", "payout": transfer()}),
        ("/payout/cancel", {"reason": "x"}),
    ]:
        message = await desk.refused(paid["id"], path, 409, "invalid_state", headers=finance_h, json=body)
        assert "paid" in message


async def test_finance_retries_to_new_details_and_the_claim_is_paid(desk, stack, faults):
    [claim] = await refused_payouts(desk, faults)
    finance, finance_h = desk.person(Role.finance)
    claim_id, declined = claim["id"], claim["payout_details"][0]["destination"]

    # New details that do not fit the claim are refused, and not kept.
    message = await desk.refused(
        claim_id, "/payout/retry", 422, "invalid_payout_method", headers=finance_h,
        json={"reason": "refund it", "payout": refund()},
    )  # fmt: skip
    assert "refunds are for money-back claims" in message

    fixed = account()
    r = await desk.client.post(
        f"/claims/{claim_id}/payout/retry",
        json={"reason": "customer gave a new account", "payout": transfer(fixed)},
        headers=finance_h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("approved", "paying", "paid")
    assert await finish(stack, claim_id) == "paid"
    paid = await desk.get(claim_id)
    assert [(p["attempt"], p["method"], p["status"]) for p in paid["payouts"]] == [
        (1, "transfer", "failed"),
        (2, "transfer", "paid"),
    ]
    assert [p["idempotency_key"] for p in paid["payouts"]] == [
        f"claim-{claim_id}-payout-1",
        f"claim-{claim_id}-payout-2",
    ]
    assert destinations(paid) == [("transfer", declined), ("transfer", fixed)]
    assert paid["payout_details"][1]["added_by"] == finance.user_id
    [transfer_] = stack.stub.transfers(claim_id)
    assert (transfer_.id, transfer_.destination, transfer_.amount) == (
        paid["payouts"][1]["provider_ref"],
        fixed,
        10_000,
    )
    [retried] = [t for t in paid["timeline"] if t["action"] == "payout_retried"]
    new_details = paid["payout_details"][-1]["id"]
    assert (retried["actor_id"], retried["actor_role"], retried["reason"]) == (
        finance.user_id,
        "finance",
        f"customer gave a new account (to new payout details #{new_details}, transfer)",
    )
    assert (retried["from_status"], retried["to_status"]) == ("payout_failed", "approved")
    assert actions(paid)[-5:] == ["payout_started", "payout_failed", "payout_retried", "payout_started", "paid"]
    message = await desk.refused(
        claim_id, "/payout/retry", 409, "invalid_state", headers=finance_h, json={"reason": "x"}
    )
    assert "paid" in message


async def test_finance_retries_to_the_same_details(desk, stack, faults):
    [claim] = await refused_payouts(desk, faults)  # the stub no longer declines the account
    finance_h = desk.person(Role.finance)[1]
    r = await desk.client.post(f"/claims/{claim['id']}/payout/retry", json={"reason": "fixed"}, headers=finance_h)
    assert r.status_code == 200, r.text
    assert await finish(stack, claim["id"]) == "paid"
    paid = await desk.get(claim["id"])
    assert [p["status"] for p in paid["payouts"]] == ["failed", "paid"]
    [transfer_] = stack.stub.transfers(claim["id"])
    assert transfer_.destination == claim["payout_details"][0]["destination"]
    assert len(paid["payout_details"]) == 1


async def test_finance_cancels_a_refused_payout(desk, stack, faults):
    [claim] = await refused_payouts(desk, faults)
    finance, finance_h = desk.person(Role.finance)
    reason = "paid by cheque outside the platform"
    r = await desk.client.post(f"/claims/{claim['id']}/payout/cancel", json={"reason": reason}, headers=finance_h)
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "payout_cancelled"
    assert cancelled["assignee"] is None
    assert await finish(stack, claim["id"]) == "payout_cancelled"
    [entry] = [t for t in cancelled["timeline"] if t["action"] == "payout_cancelled"]
    assert (entry["actor_id"], entry["actor_role"], entry["reason"]) == (finance.user_id, "finance", reason)
    assert (entry["from_status"], entry["to_status"]) == ("payout_failed", "payout_cancelled")
    assert [p["status"] for p in cancelled["payouts"]] == ["failed"]
    assert stack.stub.transfers(claim["id"]) == []
    for path, body, headers in [
        ("/payout/retry", {"reason": "x", "payout": transfer()}, finance_h),
        ("/payout/cancel", {"reason": "again"}, finance_h),
        ("/withdraw", {"reason": "x"}, desk.specialist_h),
    ]:
        message = await desk.refused(claim["id"], path, 409, "invalid_state", headers=headers, json=body)
        assert "payout_cancelled" in message
    assert_error(await put_details(desk, claim["id"], json=transfer()), 409, "invalid_state")


BAD_SETTLEMENTS = [
    ("/payout/retry", {}),
    ("/payout/retry", {"reason": ""}),
    ("/payout/retry", {"reason": "   "}),
    ("/payout/retry", {"reason": None}),
    ("/payout/retry", {"reason": 5}),
    ("/payout/retry", {"reason": "r" * 10_001}),
    ("/payout/retry", {"reason": "x\x00"}),
    ("/payout/retry", {"reason": "x", "attempt": 3}),
    ("/payout/retry", {"reason": "x", "payout": "acct_1"}),
    ("/payout/retry", {"reason": "x", "payout": []}),
    ("/payout/retry", {"reason": "x", "payout": {}}),
    ("/payout/retry", {"reason": "x", "payout": {"method": "transfer"}}),
    ("/payout/retry", {"reason": "x", "payout": {"method": "transfer", "account_id": "acct_bad-id"}}),
    ("/payout/retry", {"reason": "x", "payout": {"method": "transfer", "charge_id": "ch_1"}}),
    ("/payout/retry", {"reason": "x", "payout": {"method": "wire", "account_id": "acct_1"}}),
    ("/payout/retry", {"payout": {"method": "transfer", "account_id": "acct_1"}}),
    ("/payout/cancel", {}),
    ("/payout/cancel", {"reason": ""}),
    ("/payout/cancel", {"reason": "  "}),
    ("/payout/cancel", {"reason": 7}),
    ("/payout/cancel", {"reason": "\x00"}),
    ("/payout/cancel", {"reason": "x", "payout": {"method": "transfer", "account_id": "acct_1"}}),
]


async def test_bad_settlement_bodies_are_refused_and_the_claim_unchanged(desk, faults, subtests):
    [claim] = await refused_payouts(desk, faults)
    finance_h = desk.person(Role.finance)[1]
    for path, body in BAD_SETTLEMENTS:
        with subtests.test(path=path, body=body):
            await desk.refused(claim["id"], path, 422, "invalid_request", headers=finance_h, json=body)
    json_h = finance_h | {"Content-Type": "application/json"}
    for content in RAW_BODIES:
        for path in ("/payout/retry", "/payout/cancel"):
            with subtests.test(path=path, raw=content[:20]):
                status = 400 if content[:2] in (b"\xff\xfe", b"[[") else 422
                await desk.refused(claim["id"], path, status, "invalid_request", headers=json_h, content=content)
    after = await desk.get(claim["id"])
    assert after["status"] == "payout_failed" and len(after["payout_details"]) == 1


async def test_settling_an_unknown_claim_is_404(desk):
    finance_h = desk.person(Role.finance)[1]
    for path, body in [("retry", {"reason": "x", "payout": transfer()}), ("cancel", {"reason": "x"})]:
        r = await desk.client.post(f"/claims/c0ffee000000/payout/{path}", json=body, headers=finance_h)
        assert_error(r, 404, "not_found")
