"""GET /metrics: Prometheus' text format, parsed with prometheus_client's own parser, before and after a
claim is paid through the API; the counters move by exactly what happened."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import TOKEN_VARIABLE
from schema.enums import Role
from tests.test_api import Desk, assert_error, finish


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def scrape(client, headers: dict | None = None) -> dict[tuple, float]:
    r = await client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


async def test_paying_a_claim_moves_the_counters_by_exactly_that(desk):
    before = await scrape(desk.client)
    _, lead_h = desk.person(Role.lead)
    claim = await desk.pending(12_345)  # open (with payout details), complete evidence, decide
    await desk.approve(claim["id"], lead_h)
    assert await finish(desk.stack, claim["id"]) == "paid"
    refused = await desk.client.post(f"/claims/{claim['id']}/withdraw", json={"reason": "x"}, headers=desk.specialist_h)
    assert_error(refused, 409)
    after = await scrape(desk.client)

    actions = "guarantee_actions_total"
    for action in ("open", "complete_evidence", "decide", "review"):
        assert moved(before, after, actions, action=action, outcome="ok") == 1, action
    # The payout details came with the opening: no action of their own.
    assert moved(before, after, actions, action="set_payout_details", outcome="ok") == 0
    assert moved(before, after, actions, action="withdraw", outcome="invalid_state") == 1
    assert moved(before, after, actions, action="withdraw", outcome="ok") == 0
    # Read from the database at the scrape: one more claim, and it is paid; one more payout, paid.
    assert sum(moved(before, after, "guarantee_claims", status=s) for s in ("paid", "evidence_collection")) == 1
    assert moved(before, after, "guarantee_payouts", status="paid") == 1
    assert moved(before, after, "guarantee_payouts", status="failed") == 0
    # Latency by route template: one approval request, and no claim id in any route label.
    seconds = "guarantee_api_request_duration_seconds_count"
    route = "/claims/{claim_id}/approval"
    assert moved(before, after, seconds, method="POST", route=route, status="200") == 1
    assert moved(before, after, seconds, method="POST", route="/claims", status="201") == 1
    assert not [key for key in after if claim["id"] in str(key)]
    # The worker's activities, timed by its interceptor: one payout, and the steps it recorded.
    ran = "guarantee_activity_duration_seconds_count"
    assert moved(before, after, ran, activity="pay_claim", outcome="ok") == 1
    assert moved(before, after, ran, activity="record_event", outcome="ok") >= 1
    assert moved(before, after, ran, activity="pay_claim", outcome="error") == 0
    assert after[("guarantee_metrics_database_errors", ())] == 0


async def test_failed_payouts_by_code_and_stuck_claims_are_read_from_the_database(desk, stack):
    from tests.test_api_payouts import refused_payouts

    before = await scrape(desk.client)
    [claim] = await refused_payouts(desk, stack.stub.control)
    stack.stub.control.clear_faults()
    after = await scrape(desk.client)
    [payout] = claim["payouts"]
    code = payout["failure_code"]
    assert moved(before, after, "guarantee_payout_failures_total", code=code) == 1
    assert moved(before, after, "guarantee_payouts", status="failed") == 1
    assert moved(before, after, "guarantee_claims", status="payout_failed") == 1
    assert ("guarantee_stuck_claims", ()) in after


async def test_a_scrape_token_when_one_is_set(desk, monkeypatch):
    monkeypatch.setenv(TOKEN_VARIABLE, "scrape-secret")
    assert_error(await desk.client.get("/metrics"), 401, "unauthenticated")
    _, admin_h = desk.person(Role.admin)
    assert_error(await desk.client.get("/metrics", headers=admin_h), 401, "unauthenticated")
    assert await scrape(desk.client, {"Authorization": "Bearer scrape-secret"})
