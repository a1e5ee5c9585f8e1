"""The parties' email addresses: set at opening or later, every change kept, and never in Temporal."""

import pytest

from schema.claims import Contacts
from schema.enums import EvidenceSource, Role
from schema.names import claim_workflow_id
from service import contacts
from tests.test_api import Desk, assert_error, claim_body


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def test_addresses_set_when_opening_and_changed_later_keep_their_history(desk, stack):
    claim = await desk.open(customer_email=" Ana@Example.COM ", pro_email="fix-it@pros.example")
    assert [(c["party"], c["email"], c["set_by"]) for c in claim["contacts"]] == [
        ("customer", "ana@example.com", desk.specialist.user_id),
        ("pro", "fix-it@pros.example", desk.specialist.user_id),
    ]
    r = await desk.client.put(
        f"/claims/{claim['id']}/contacts", json={"customer_email": "ana.new@example.com"}, headers=desk.specialist_h
    )
    assert r.status_code == 200, r.text
    assert [c["email"] for c in r.json()["contacts"]] == [
        "ana@example.com",
        "fix-it@pros.example",
        "ana.new@example.com",
    ]
    assert contacts.current(stack.sessions, claim["id"]) == {
        EvidenceSource.customer: "ana.new@example.com",
        EvidenceSource.pro: "fix-it@pros.example",
    }
    assert contacts.party_of(stack.sessions, claim["id"], "FIX-IT@pros.example") == EvidenceSource.pro
    assert contacts.party_of(stack.sessions, claim["id"], "ana@example.com") is None, "an old address is not in use"


async def test_a_bad_address_is_refused_and_nothing_is_opened_or_changed(desk):
    r = await desk.client.post("/claims", json=claim_body(customer_email="ana at example"), headers=desk.specialist_h)
    assert "customer_email" in assert_error(r, 422, "invalid_request")
    claim = await desk.open(customer_email="ana@example.com")
    for body in ({"pro_email": "Pro <pro@example.com>"}, {"customer_email": "a@b.c\u202e"}, {}, {"phone": "1"}):
        r = await desk.client.put(f"/claims/{claim['id']}/contacts", json=body, headers=desk.specialist_h)
        assert r.status_code == 422, (body, r.text)
    assert (await desk.get(claim["id"]))["contacts"] == claim["contacts"]


async def test_only_whoever_works_the_claim_changes_where_its_mail_goes(desk):
    """Redirecting the customer's mail is a way to take over their claim: a stranger to it may not."""
    claim = await desk.open(customer_email="ana@example.com")
    _, other = desk.person(Role.specialist)
    r = await desk.client.put(
        f"/claims/{claim['id']}/contacts", json={"customer_email": "me@evil.example"}, headers=other
    )
    assert_error(r, 403, "not_assignee")
    _, finance = desk.person(Role.finance)
    r = await desk.client.put(
        f"/claims/{claim['id']}/contacts", json={"customer_email": "me@evil.example"}, headers=finance
    )
    assert_error(r, 403, "forbidden")
    assert (await desk.get(claim["id"]))["contacts"] == claim["contacts"]


async def test_the_addresses_never_reach_temporal(desk, stack):
    claim = await desk.open(customer_email="secret.customer@example.com", pro_email="secret.pro@example.com")
    await desk.client.put(
        f"/claims/{claim['id']}/contacts", json={"pro_email": "other.pro@example.com"}, headers=desk.specialist_h
    )
    history = await stack.client.get_workflow_handle(claim_workflow_id(claim["id"])).fetch_history()
    raw = history.to_json()
    for secret in ("secret.customer", "secret.pro", "other.pro"):
        assert secret not in raw


def test_an_address_is_one_plain_lower_case_address():
    assert Contacts(customer_email="  Ana@Example.com").customer_email == "ana@example.com"
