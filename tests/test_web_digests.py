"""The weekly digests in the browser: the list, one digest with its KPIs and new signals; who may read them."""

import re
from datetime import date

from activities.digest import DigestActivities, digest_id
from mail.out import Mailer, Outbox
from schema.enums import Role
from schema.policy import load_policy
from schema.signals import load_signal_rules
from service import digests
from tests.browser import check_page
from tests.test_digest import plant_week

WEEK = date(2063, 3, 5)  # a Monday no other test plants in


def build(sessions, tmp_path) -> str:
    policy, rules = load_policy(), load_signal_rules()
    made = DigestActivities(
        sessions,
        Mailer(Outbox(tmp_path), "claims@guarantee.test", "http://api"),
        lambda week: digests.compose(sessions, policy, rules, week),
        (),
    )
    return made.build_digest(WEEK).id


async def test_a_lead_reads_last_weeks_digest(people, sessions, tmp_path):
    planted = plant_week(sessions, WEEK)
    assert build(sessions, tmp_path) == digest_id(WEEK)
    _, page = await people.signed_in(Role.lead)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Digests").click()
    await page.wait_for_url(re.compile(r"/digests$"))
    await page.get_by_role("link", name="2063-03-05 to 2063-03-11").click()
    await page.wait_for_url(re.compile(rf"/digests/{digest_id(WEEK)}$"))
    assert await page.get_by_role("heading", level=1).inner_text() == "Weekly digest: 2063-03-05 to 2063-03-11"
    claims = page.locator("#digest-claims-title ~ .table-wrap tbody tr")
    assert (await claims.nth(0).inner_text()).split()[:6] == ["All", "claims", "3", "2", "1", "1"]
    new = await page.locator("#digest-signals-title ~ .table-wrap").inner_text()
    assert planted["pro"] in new and "Claim type surging" in new
    assert await page.get_by_role("link", name=planted["claims"][0]).count() == 2  # in both new signals
    await check_page(page, "digests")


async def test_specialists_get_no_digests(people):
    _, page = await people.signed_in(Role.specialist)
    assert await page.get_by_role("navigation", name="Main").get_by_role("link", name="Digests").count() == 0
    assert (await page.goto("/digests")).status == 403
