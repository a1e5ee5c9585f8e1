"""The HTTP API against a real worker and database: the contract's routes, rules and errors."""

from datetime import date

from schema.enums import Role


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def claim_body(**overrides) -> dict:
    body = {
        "customer_id": "cus_1",
        "pro_id": "pro_1",
        "project_id": "prj_1",
        "type": "property_damage",
        "amount_cents": 80_000,
        "currency": "USD",
        "incident_date": date.today().isoformat(),
        "channel": "phone",
        "description": "the pro cracked the countertop",
    }
    return body | overrides


async def test_claim_through_the_api_to_paid(api, stack):
    _, specialist = stack.user_with_token(Role.specialist)
    _, lead = stack.user_with_token(Role.lead)
    r = await api.post("/claims", json=claim_body(), headers=auth(specialist))
    assert r.status_code == 201, r.text
    claim_id = r.json()["id"]
    r = await api.post(
        f"/claims/{claim_id}/evidence",
        files={"file": ("crack.jpg", b"\xff\xd8jpeg", "image/jpeg")},
        data={"kind": "photo", "source": "customer"},
        headers=auth(specialist),
    )
    assert r.status_code == 201, r.text
    assert r.json()["evidence"][0]["file"]["size_bytes"] == 6
    r = await api.post(f"/claims/{claim_id}/evidence/complete", headers=auth(specialist))
    assert r.json()["status"] == "specialist_review"
    r = await api.post(
        f"/claims/{claim_id}/decision",
        json={"outcome": "approve", "amount_cents": 75_000, "rationale": "quote matches"},
        headers=auth(specialist),
    )
    assert r.json()["status"] == "pending_approval", r.text
    r = await api.post(f"/claims/{claim_id}/approval", json={"verdict": "approve"}, headers=auth(lead))
    assert r.status_code == 200, r.text
    await stack.client.get_workflow_handle(f"claim-{claim_id}").result()
    r = await api.get(f"/claims/{claim_id}", headers=auth(lead))
    assert r.json()["status"] == "paid"
    assert r.json()["payouts"][0]["amount_cents"] == 75_000
