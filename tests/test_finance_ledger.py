"""The payout ledger for finance: filters, totals, CSV, and who may read it."""

import csv
import io
from datetime import datetime

import pytest

from schema.enums import Role
from tests.test_api import Desk, assert_error, finish


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def paid_claim(desk: Desk, amount_cents: int, **overrides) -> dict:
    _, lead_h = desk.person(Role.lead)
    claim = await desk.pending(amount_cents, **overrides)
    await desk.approve(claim["id"], lead_h)
    assert await finish(desk.stack, claim["id"]) == "paid"
    return await desk.get(claim["id"])


def day_of(payout: dict) -> str:
    return datetime.fromisoformat(payout["created_at"]).date().isoformat()


async def test_finance_reads_the_ledger_with_totals_and_csv(desk):
    claim = await paid_claim(desk, 123_456)
    other = await paid_claim(desk, 2_000, type="work_not_done")
    day = day_of(claim["payouts"][0])
    _, finance_h = desk.person(Role.finance)

    r = await desk.client.get("/payouts", params={"from": day, "to": day, "limit": 500}, headers=finance_h)
    assert r.status_code == 200, r.text
    ledger = r.json()
    mine = [row for row in ledger["items"] if row["claim_id"] == claim["id"]]
    assert [(row["amount_cents"], row["status"], row["claim_type"], row["method"]) for row in mine] == [
        (123_456, "paid", "property_damage", "transfer")
    ]
    assert ledger["total"] == len(ledger["items"]), "one page holds the day here"
    paid_that_day = sum(row["amount_cents"] for row in ledger["items"] if row["status"] == "paid")
    by_day = {(t["group"], t["status"]): t for t in ledger["by_day"]}
    assert by_day[(day, "paid")]["amount_cents"] == paid_that_day
    by_type = sum(t["amount_cents"] for t in ledger["by_type"] if t["status"] == "paid")
    assert by_type == paid_that_day

    other_day = day_of(other["payouts"][0])  # the test server's clock may have passed midnight between the two
    query = {"from": other_day, "to": other_day, "type": "work_not_done"}
    r = await desk.client.get("/payouts", params=query, headers=finance_h)
    assert {row["claim_type"] for row in r.json()["items"]} == {"work_not_done"}
    assert other["id"] in {row["claim_id"] for row in r.json()["items"]}

    r = await desk.client.get("/payouts", params={"from": day, "to": day}, headers=finance_h | {"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == ledger["total"]
    [line] = [row for row in rows if row["claim_id"] == claim["id"]]
    assert (line["amount"], line["currency"], line["status"], line["provider_ref"]) == (
        "1234.56",
        "usd",
        "paid",
        claim["payouts"][0]["provider_ref"],
    )


async def test_admin_reads_the_ledger_others_do_not(desk):
    _, admin_h = desk.person(Role.admin)
    assert (await desk.client.get("/payouts", headers=admin_h)).status_code == 200
    for role in (Role.specialist, Role.lead, Role.manager, Role.director):
        _, headers = desk.person(role)
        assert_error(await desk.client.get("/payouts", headers=headers), 403, "forbidden")
        csv_headers = headers | {"Accept": "text/csv"}
        assert_error(await desk.client.get("/payouts", headers=csv_headers), 403, "forbidden")


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13-01"},
        {"to": "yesterday"},
        {"from": "2026-11-02", "to": "2026-11-01"},
        {"status": "lost"},
        {"type": "theft"},
        {"limit": 0},
        {"offset": -1},
    ],
)
async def test_bad_ledger_filters_are_422(desk, params):
    _, finance_h = desk.person(Role.finance)
    assert_error(await desk.client.get("/payouts", params=params, headers=finance_h), 422)
