"""Each person's home in the browser: what waits on them, the most urgent first; and times in their own zone."""

import re
from datetime import timedelta

from schema.claims import DecisionRequest
from schema.enums import Role
from service import claims
from tests.browser import check_page
from tests.test_web_claim import opened


async def test_a_specialist_sees_their_claims_by_deadline_and_an_approver_what_waits_for_them(people, stack):
    specialist, spec_page = await people.signed_in(Role.specialist)
    first = await opened(stack, specialist, 50_000)
    second = await opened(stack, specialist, 60_000)
    await claims.complete_evidence(stack.ctx, second, specialist)
    decision = DecisionRequest(outcome="approve", amount_cents=60_000, rationale="the invoice matches")
    await claims.decide(stack.ctx, second, specialist, decision)
    await claims.complete_evidence(stack.ctx, first, specialist)

    await spec_page.goto("/")
    casework = spec_page.locator("#casework-title + .table-wrap")
    await casework.wait_for()
    assert first in await casework.inner_text() and second not in await casework.inner_text()
    assert re.search(r"\d+ d \d+ h left", await casework.inner_text()), "the decision SLA's time left"
    await check_page(spec_page, "home-specialist-work")

    _, manager_page = await people.signed_in(Role.manager)
    await manager_page.goto("/")
    row = manager_page.locator("#approvals-title + .table-wrap tbody tr", has_text=second)
    cells = [await c.inner_text() for c in await row.locator("td").all()]
    assert cells[2] == "600.00 USD" and cells[3] == "lead" and cells[5].endswith("left"), cells
    await check_page(manager_page, "home-approver")


async def test_times_are_shown_in_the_persons_time_zone(people, stack):
    specialist = people.account(Role.specialist)
    claim_id = await opened(stack, specialist, 20_000)
    context = await people.chromium.new_context(timezone_id="Asia/Tokyo", base_url=people.site)
    people.contexts.append(context)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("Name").fill(specialist.name)
    await page.get_by_label("Password").fill("a long test password")
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(f"/cases/{claim_id}")
    assert await page.locator("[data-zone]").inner_text() == "Asia/Tokyo"
    opened_at = (await claims.get(stack.ctx, claim_id)).opened_at
    tokyo = (opened_at + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    assert tokyo in await page.locator(".facts").first.inner_text(), "the opening time, in Tokyo"
