"""Finance's exports and date bounds (issue 9): every CSV cell safe for a spreadsheet, and days kept
between 2000-01-01 and 2100-12-31 on every route that takes one.

Each export (the ledger, GET /payouts, and a reconciliation's discrepancies, GET
/reconciliations/{id}) is read back with the csv module after planting a value that starts with
each character OWASP lists (= + - @, a tab, a carriage return) where a person or a provider can
put one: a provider reference and a failure code in the ledger, a provider object's metadata.
"""

import csv
import io
import itertools
from datetime import date, timedelta

import pytest

from finance.csv_stream import FORMULA_STARTS
from schema import tables
from schema.enums import Role
from tests.test_api import assert_error, auth
from tests.test_reconciliation import Books

# Days of their own, far from the other suites' planted days.
DAYS = (date(2044, 1, 1) + timedelta(days=5 * n) for n in itertools.count())

# What a spreadsheet would run, one per character OWASP lists.
PLANTED = [f"{start}cmd|' /C calc'!A0" for start in FORMULA_STARTS]


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def finance_headers(stack) -> dict:
    return auth(stack.user_with_token(Role.finance)[1])


async def test_the_ledger_csv_neutralises_formulas(api, stack):
    day = next(DAYS)
    books = Books(stack, day)
    claims = {}
    for n, value in enumerate(PLANTED):
        claim = books.claim()
        books.ledger(claim, 1_000 + n, ref=value)
        failed = books.claim()
        with stack.sessions.begin() as db:
            db.add(
                tables.Payout(
                    claim_id=failed, attempt=1, idempotency_key=f"claim-{failed}-payout-1", amount_cents=500,
                    currency="USD", status="failed", method="transfer", provider="stripe", provider_ref=None,
                    failure_code=value, created_at=books.noon,
                )
            )  # fmt: skip
        claims[claim] = ("provider_ref", value)
        claims[failed] = ("failure_code", value)
    headers = finance_headers(stack)
    params = {"from": day.isoformat(), "to": day.isoformat(), "limit": 500}

    r = await api.get("/payouts", params=params, headers=headers | {"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    exported = {row["claim_id"]: row for row in rows(r.text)}
    assert set(exported) == set(claims)
    for claim_id, (column, value) in claims.items():
        assert exported[claim_id][column] == "'" + value, (column, value)
    # The amounts stay numbers, and the JSON answer keeps the values as they are.
    assert {row["amount"] for row in exported.values()} >= {"10.00", "5.00"}
    page = (await api.get("/payouts", params=params, headers=headers)).json()
    assert {p["provider_ref"] or p["failure_code"] for p in page["items"]} == set(PLANTED)


async def test_the_reconciliation_csv_neutralises_formulas_from_the_provider(api, stack):
    day = next(DAYS)
    books = Books(stack, day)
    try:
        for n, value in enumerate(PLANTED):
            books.transfer(value, 700 + n)  # metadata claim_id = the planted value: missing_in_ledger
    finally:
        stack.stub.control.clock(unfreeze=True)
    headers = finance_headers(stack)
    r = await api.post("/reconciliations", json={"from": str(day), "to": str(day)}, headers=headers)
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    await stack.client.get_workflow_handle(run_id).result()

    r = await api.get(f"/reconciliations/{run_id}", headers=headers | {"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    found = rows(r.text)
    assert sorted(row["claim_id"] for row in found) == sorted("'" + value for value in PLANTED)
    assert {row["kind"] for row in found} == {"missing_in_ledger"}
    for row in found:
        assert row["key"].startswith("claim-"), "a cell starting with a letter stays as it is"
        for cell in row.values():
            assert not cell.startswith(FORMULA_STARTS), row
    report = (await api.get(f"/reconciliations/{run_id}", headers=headers)).json()
    assert sorted(f["claim_id"] for f in report["findings"]) == sorted(PLANTED)


# Days at and past the bounds.

INSIDE = ["2000-01-01", "2100-12-31"]
OUTSIDE = ["1999-12-31", "2101-01-01", "0001-01-01", "9999-12-31"]


async def test_payouts_at_the_bounds_answer_whole(api, stack):
    headers = finance_headers(stack)
    for start, end in [(INSIDE[0], INSIDE[0]), (INSIDE[1], INSIDE[1]), (INSIDE[0], INSIDE[1])]:
        r = await api.get("/payouts", params={"from": start, "to": end}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["limit"] == 100
        r = await api.get("/payouts", params={"from": start, "to": end}, headers=headers | {"Accept": "text/csv"})
        assert r.status_code == 200, r.text
        assert r.text.startswith("created_utc,claim_id,") and r.text.endswith("\n")
    for only in ({"to": INSIDE[1]}, {"from": INSIDE[0]}):
        r = await api.get("/payouts", params=only, headers=headers | {"Accept": "text/csv"})
        assert r.status_code == 200 and r.text.startswith("created_utc,")


@pytest.mark.parametrize("day", OUTSIDE)
@pytest.mark.parametrize("end", ["from", "to"])
async def test_payouts_past_the_bounds_are_422(api, stack, day, end):
    headers = finance_headers(stack)
    params = {"from": INSIDE[0], "to": INSIDE[1]} | {end: day}
    for accept in ({}, {"Accept": "text/csv"}):
        r = await api.get("/payouts", params=params, headers=headers | accept)
        message = assert_error(r, 422, "invalid_request")
        assert end in message and "2000-01-01" in message and "2100-12-31" in message, message


async def reconciliation_ids(api, headers) -> list[str]:
    r = await api.get("/reconciliations", params={"limit": 500}, headers=headers)
    return [item["id"] for item in r.json()]


@pytest.mark.parametrize(
    "body",
    [
        {"from": "0001-01-01", "to": "0001-01-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "1999-12-31", "to": "2000-01-01"},
        {"from": "2100-12-31", "to": "2101-01-01"},
    ],
)
async def test_a_reconciliation_past_the_bounds_is_422_and_nothing_starts(api, stack, body):
    headers = finance_headers(stack)
    before = await reconciliation_ids(api, headers)
    message = assert_error(await api.post("/reconciliations", json=body, headers=headers), 422, "invalid_request")
    assert "2000-01-01" in message
    assert await reconciliation_ids(api, headers) == before


@pytest.mark.parametrize("day", INSIDE)
async def test_a_reconciliation_at_the_bounds_runs_to_its_end(api, stack, day):
    headers = finance_headers(stack)
    r = await api.post("/reconciliations", json={"from": day, "to": day}, headers=headers)
    assert r.status_code == 202, r.text
    await stack.client.get_workflow_handle(r.json()["id"]).result()
    report = (await api.get(f"/reconciliations/{r.json()['id']}", headers=headers)).json()
    assert (report["status"], report["date_from"], report["date_to"]) == ("done", day, day)
