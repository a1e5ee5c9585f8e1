"""Referrals in the browser: a specialist asks legal from the claim page; someone on the team takes and answers it."""

from schema.enums import Role
from tests.browser import check_page
from tests.test_web_claim import opened


async def test_a_specialist_asks_legal_and_sees_the_answer(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    claim_id = await opened(stack, specialist, 150_000)
    await page.goto(f"/cases/{claim_id}")
    await page.get_by_label("Team", exact=True).select_option("legal")
    await page.get_by_label("What you ask them").fill("the customer's lawyer wrote: may we still pay?")
    await page.get_by_role("button", name="Refer to the team").click()
    await page.get_by_role("status").filter(has_text="Done: refer").wait_for()
    assert "open" in await page.locator("#referrals-title + .table-wrap").inner_text()

    _, counsel = await people.signed_in(Role.lead)
    await counsel.goto("/team-referrals?team=legal&status=open")
    mine = counsel.locator("article", has_text=claim_id)
    await mine.get_by_role("button", name="Take referral").click()
    await counsel.get_by_role("status").filter(has_text="Done: taken").wait_for()
    await counsel.goto("/team-referrals?team=legal&status=taken")
    await check_page(counsel, "referrals")
    await counsel.locator("article", has_text=claim_id).get_by_label("Your answer").fill("yes: it makes no claim")
    await counsel.locator("article", has_text=claim_id).get_by_role("button", name="Send the answer").click()
    await counsel.get_by_role("status").filter(has_text="Done: answered").wait_for()

    await page.goto("/")
    asked = page.locator("#asked-title + ul")
    assert claim_id in await asked.inner_text() and "answered" in await asked.inner_text()
    await page.goto(f"/cases/{claim_id}")
    assert "yes: it makes no claim" in await page.locator("#referrals-title + .table-wrap").inner_text()


async def test_the_asker_is_not_offered_their_own_referral(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    claim_id = await opened(stack, specialist, 20_000)
    await page.goto(f"/cases/{claim_id}")
    await page.get_by_label("What you ask them").fill("is this pro on a watch list?")
    await page.get_by_label("Team", exact=True).select_option("pro_quality")
    await page.get_by_role("button", name="Refer to the team").click()
    await page.goto("/team-referrals?team=pro_quality")
    article = page.locator("article", has_text=claim_id)
    await article.wait_for()
    assert await article.get_by_role("button").count() == 0
