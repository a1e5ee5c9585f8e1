"""Finance in the browser: the ledger with its filters, totals, chart and CSV; a reconciliation started
from its form, its report grouped by discrepancy, and a finding's two sides; and who may see none of it."""

import csv
import io
import re

from sqlalchemy import func, select

from schema import tables
from schema.enums import Role
from tests.browser import check_page
from tests.test_reconciliation import DAYS, Books


async def test_finance_reads_the_ledger_filters_it_and_downloads_it(people, stack):
    day = next(DAYS)
    books = Books(stack, day)
    paid, failed = books.claim(), books.claim()
    books.ledger(paid, 125_000, ref="tr_paid_one")
    books.ledger(failed, 40_000, status="failed")
    _, page = await people.signed_in(Role.finance)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Ledger").click()
    await page.get_by_label("Created from").fill(str(day))
    await page.get_by_label("Created to").fill(str(day))
    await page.get_by_role("button", name="Show payouts").click()
    await page.wait_for_url(re.compile(rf"from={day}&to={day}"))
    payouts = page.locator("#payouts-title + .table-wrap")
    row = payouts.locator("tbody tr", has_text=paid)
    assert "1,250.00 USD" in await row.inner_text() and "tr_paid_one" in await row.inner_text()
    assert failed in await payouts.inner_text()
    by_day = await page.locator("#by-day-title + .table-wrap tbody tr", has_text=str(day)).inner_text()
    assert "1,250.00 USD (1)" in by_day and "400.00 USD (1)" in by_day and "1,650.00 USD (2)" in by_day
    chart = page.locator("figure.chart svg[role=img]")
    assert await chart.count() == 1
    assert "1,250.00 USD paid" in await chart.locator("desc").first.text_content()
    await check_page(page, "finance-ledger")

    await page.get_by_label("Payout state").select_option("paid")
    await page.get_by_role("button", name="Show payouts").click()
    await page.wait_for_url(re.compile(rf"from={day}&to={day}&status=paid"))
    assert paid in await payouts.inner_text() and failed not in await payouts.inner_text()
    assert await page.get_by_label("Payout state").input_value() == "paid", "the form shows the filters in force"

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download these payouts as CSV").click()
    download = await downloading.value
    assert download.suggested_filename == "payouts.csv"
    rows = list(csv.reader(io.StringIO(open(await download.path(), encoding="utf-8").read())))
    assert rows[0][:3] == ["created_utc", "claim_id", "claim_type"]
    assert [(r[1], r[5], r[7]) for r in rows[1:]] == [(paid, "paid", "1250.00")]


async def test_a_bad_filter_is_shown_on_the_page_not_a_crash(people, stack):
    _, page = await people.signed_in(Role.finance)
    answer = await page.goto("/finance/ledger?from=2031-02-10&to=2031-02-01")
    assert answer.status == 422
    assert "`to` is before `from`" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Created from").input_value() == "2031-02-10", "what the person typed stays"
    answer = await page.goto("/finance/ledger?from=yesterday")
    assert answer.status == 422 and "from" in await page.get_by_role("alert").inner_text()
    await check_page(page, "finance-ledger-bad-filter")
    answer = await page.request.get("/finance/ledger.csv?from=2031-02-10&to=2031-02-01")
    assert answer.status == 422


async def test_finance_starts_a_reconciliation_and_reads_each_discrepancy(people, stack):
    day = next(DAYS)
    books = Books(stack, day)
    try:
        short, unknown = books.claim(), books.claim()
        books.ledger(short, 1_000, ref=books.transfer(short, 900).id)
        books.transfer(unknown, 3_000)
    finally:
        stack.stub.control.clock(unfreeze=True)
    _, page = await people.signed_in(Role.finance)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Reconciliations").click()
    await check_page(page, "finance-reconciliations")
    await page.get_by_label("From", exact=True).fill(str(day))
    await page.get_by_label("To", exact=True).fill(str(day))
    await page.get_by_role("button", name="Start the reconciliation").click()
    await page.wait_for_url(re.compile(r"/finance/reconciliations/[^/]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    await stack.client.get_workflow_handle(run_id).result()
    await page.locator("h1 .tag", has_text="done").wait_for(timeout=20_000)  # the page reloads itself till done
    assert await page.locator('meta[http-equiv="refresh"]').count() == 0, "a finished report stays still"

    mismatch = page.locator("section[aria-labelledby=kind-amount_mismatch]")
    assert await mismatch.get_by_role("heading").inner_text() == "Amount mismatch (1)"
    assert "10.00 USD" in await mismatch.inner_text() and "9.00 USD" in await mismatch.inner_text()
    missing = page.locator("section[aria-labelledby=kind-missing_in_ledger]")
    assert await missing.get_by_role("heading").inner_text() == "Missing in ledger (1)"
    assert unknown in await missing.inner_text()
    await check_page(page, "finance-reconciliation-report")

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download the discrepancies as CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(await (await downloading.value).path(), encoding="utf-8").read())))
    assert sorted(r["kind"] for r in rows) == ["amount_mismatch", "missing_in_ledger"]

    await mismatch.get_by_role("link", name=re.compile("^Finding ")).click()
    await page.get_by_role("heading", name="Amount mismatch").wait_for()
    sides = page.locator("table.sides")
    amount = [await c.inner_text() for c in await sides.locator("tr", has_text="Amount").locator("td").all()]
    assert amount == ["10.00 USD", "9.00 USD"], amount
    reference = [await c.inner_text() for c in await sides.locator("tr", has_text="Reference").locator("td").all()]
    assert reference[0] == reference[1] and reference[0].startswith("tr_"), reference
    assert "paid" in await sides.locator("tr", has_text="State").inner_text(), "our ledger's side in full"
    await check_page(page, "finance-finding")

    listed = await page.goto("/finance/reconciliations")
    assert listed.status == 200
    assert await page.locator(f'a[href="/finance/reconciliations/{run_id}"]').count() == 1


async def test_a_bad_range_is_refused_next_to_the_form(people, stack):
    _, page = await people.signed_in(Role.finance)
    await page.goto("/finance/reconciliations")
    await page.get_by_label("From", exact=True).fill("2031-05-10")
    await page.get_by_label("To", exact=True).fill("2031-05-01")
    async with page.expect_response(lambda r: r.request.method == "POST") as answered:
        await page.get_by_role("button", name="Start the reconciliation").click()
    assert (await answered.value).status == 422
    assert "`to` is before `from`" in await page.locator("#start-problem").inner_text()
    assert await page.get_by_label("From", exact=True).input_value() == "2031-05-10"
    await check_page(page, "finance-reconciliation-refused")


async def test_only_finance_readers_see_finance_and_the_start_form_needs_its_token(people, stack, site):
    _, specialist_page = await people.signed_in(Role.specialist)
    assert await specialist_page.get_by_role("link", name="Ledger").count() == 0
    for path in ("/finance/ledger", "/finance/ledger.csv", "/finance/reconciliations"):
        answer = await specialist_page.goto(path) if not path.endswith(".csv") else None
        if answer is not None:
            assert answer.status == 403, path
            assert "the specialist role cannot do this" in await specialist_page.get_by_role("alert").inner_text()
        else:
            assert (await specialist_page.request.get(site + path)).status == 403
    await check_page(specialist_page, "finance-forbidden")

    def runs() -> int:
        with stack.sessions() as db:
            return db.scalar(select(func.count()).select_from(tables.Reconciliation))

    day = str(next(DAYS))
    csrf = await specialist_page.locator("input[name=csrf]").first.input_value()
    tried = await specialist_page.request.post(
        f"{site}/finance/reconciliations", form={"csrf": csrf, "from": day, "to": day}
    )
    assert tried.status == 403

    _, page = await people.signed_in(Role.admin)
    await page.goto("/finance/reconciliations")
    before = runs()
    tried = await page.request.post(f"{site}/finance/reconciliations", form={"from": day, "to": day})
    assert tried.status == 403 and "did not come from this site" in await tried.text()
    tried = await page.request.post(f"{site}/finance/reconciliations", form={"csrf": "forged", "from": day, "to": day})
    assert tried.status == 403
    assert runs() == before, "nothing started"
    assert (await page.goto("/finance/ledger")).status == 200, "admin reads finance too"
