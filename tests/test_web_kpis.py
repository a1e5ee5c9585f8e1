"""The KPI page in the browser: a period and a breakdown chosen in a form, two charts, the tables; who may see it."""

import re

from schema.enums import Role
from tests.browser import check_page
from tests.test_kpis import planted as planted  # noqa: F401 (a fixture)


async def test_a_lead_reads_the_kpis_by_week_with_charts(people, planted):
    _, page = await people.signed_in(Role.lead)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="KPIs").click()
    await page.wait_for_url(re.compile(r"/kpis$"))
    await page.get_by_label("First day").fill("2040-03-05")
    await page.get_by_label("Last day").fill("2040-03-18")
    await page.get_by_label("Break down by").select_option("week")
    await page.get_by_role("button", name="Show KPIs").click()
    await page.wait_for_url(re.compile(r"from=2040-03-05&to=2040-03-18&by=week"))
    claims = page.locator("#claims-title + .table-wrap tbody tr")
    assert await claims.count() == 3
    assert (await claims.nth(0).inner_text()).split() == ["All", "claims", "5", "4", "1", "1", "1", "1", "0", "0"]
    assert (await claims.nth(1).inner_text()).split()[3:] == ["2", "2", "1", "1", "0", "0", "0", "0"]
    charts = page.locator("figure.chart svg[role=img]")
    assert await charts.count() == 2
    desc = await charts.first.locator("desc").first.text_content()
    assert "week of 2040-03-05: 2 opened, 2 resolved, 1 paid" in desc
    money = await page.locator("#money-title + .table-wrap").inner_text()
    assert "6,350.00 USD" in money and "800.00 USD" in money
    problems = await page.locator("#problems-title + .table-wrap").inner_text()
    assert "account_closed 1" in problems
    await check_page(page, "kpis")


async def test_a_bad_period_is_said_beside_the_form(people):
    _, page = await people.signed_in(Role.manager)
    await page.goto("/kpis?from=2040-03-19&to=2040-03-18")
    assert "`to` is before `from`" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("First day").get_attribute("aria-invalid") == "true"


async def test_specialists_get_no_kpis(people):
    _, page = await people.signed_in(Role.specialist)
    assert await page.get_by_role("navigation", name="Main").get_by_role("link", name="KPIs").count() == 0
    r = await page.goto("/kpis")
    assert r.status == 403
