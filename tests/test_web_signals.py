"""Risk signals in the browser: the signals page for leads, and the signals that touch a claim on its page."""

import re
import uuid
from datetime import UTC, datetime, timedelta

from schema.enums import Role
from service.users import add_user
from tests.browser import check_page
from tests.planting import Planter
from tests.test_api import auth


def _cluster(sessions) -> tuple[str, list[str], str]:
    """Three claims on one pro in the last days (the pro rule's threshold), and one claim it does not touch."""
    person, _ = add_user(sessions, f"web-signals-{uuid.uuid4().hex[:8]}", Role.specialist)
    pro = f"pro_sig_{uuid.uuid4().hex[:8]}"
    planter = Planter(sessions)
    now = datetime.now(UTC)
    ids = [planter.claim(person.user_id, now - timedelta(days=i + 1), pro=pro) for i in range(3)]
    other = planter.claim(person.user_id, now - timedelta(days=1))
    return pro, ids, other


async def test_a_lead_reads_the_signals_and_follows_one_to_its_claim(people, sessions):
    pro, ids, other = _cluster(sessions)
    _, page = await people.signed_in(Role.lead)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Signals").click()
    await page.wait_for_url(re.compile(r"/signals$"))
    row = page.locator("tbody tr", has_text=pro)
    assert await row.count() == 1
    cells = (await row.inner_text()).split("\t")
    assert cells[0].strip() == "Pro with many claims"
    assert cells[2].strip() == "3" and "3 or more claims in 90 days" in cells[3]
    assert [await a.inner_text() for a in await row.get_by_role("link").all()] == sorted(ids)
    await check_page(page, "signals")
    await row.get_by_role("link", name=ids[0]).click()
    await page.wait_for_url(re.compile(rf"/cases/{ids[0]}$"))
    flags = await page.locator("dt:text-is('Signals') + dd").inner_text()
    assert "Pro with many claims: 3 claims in 90 days" in flags
    await page.goto(f"/cases/{other}")
    assert "Pro with many claims" not in await page.locator("dt:text-is('Signals') + dd").inner_text()


async def test_a_bad_day_is_said_and_specialists_get_no_signals(people):
    _, page = await people.signed_in(Role.manager)
    r = await page.goto("/signals?at=someday")
    assert r.status == 422 and await page.get_by_role("alert").count() == 1
    _, page = await people.signed_in(Role.specialist)
    assert await page.get_by_role("navigation", name="Main").get_by_role("link", name="Signals").count() == 0
    r = await page.goto("/signals")
    assert r.status == 403


async def test_the_api_answers_the_signals_touching_one_claim(sessions, api, stack):
    pro, ids, other = _cluster(sessions)
    _, lead = stack.user_with_token(Role.lead)
    r = await api.get("/signals", params={"claim": ids[1]}, headers=auth(lead))
    assert r.status_code == 200
    touching = r.json()["signals"]
    assert [(s["rule"], s["subject"], s["claim_ids"]) for s in touching if s["rule"] == "pro_claims"] == [
        ("pro_claims", pro, sorted(ids))
    ]
    assert all(ids[1] in s["claim_ids"] for s in touching)
    r = await api.get("/signals", params={"claim": other}, headers=auth(lead))
    assert all(s["rule"] != "pro_claims" for s in r.json()["signals"])
    r = await api.get("/signals", params={"claim": "no-such-claim"}, headers=auth(lead))
    assert r.json()["signals"] == []
