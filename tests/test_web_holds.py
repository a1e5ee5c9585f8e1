"""A legal hold in the browser: whoever works the claim puts it on hold; only legal is offered the release."""

from schema.enums import Role
from tests.browser import check_page
from tests.test_web_claim import opened, status_reads


async def test_a_specialist_holds_a_claim_and_legal_releases_it(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    claim_id = await opened(stack, specialist, 60_000)
    await page.goto(f"/cases/{claim_id}")
    await page.get_by_label("Reason").select_option("attorney_letter")
    await page.get_by_label("Why it is held").fill("the customer's lawyer wrote on the 3rd")
    await page.get_by_role("button", name="Put the claim on legal hold").click()
    await page.get_by_role("status").filter(has_text="Done: hold").wait_for()
    assert "on hold: attorney letter" in await page.locator("#facts-title + .facts").inner_text()
    assert await page.get_by_role("button", name="Release the hold").count() == 0, "only legal releases"
    await check_page(page, "claim-on-hold")

    _, counsel = await people.signed_in(Role.legal)
    await counsel.goto("/")
    held = counsel.get_by_role("region", name="Claims on legal hold")
    await held.get_by_role("link", name=claim_id).wait_for()
    assert "attorney letter" in await held.inner_text()
    await check_page(counsel, "home-legal")
    await counsel.goto(f"/cases/{claim_id}")
    await counsel.get_by_label("Why it is released").fill("the letter makes no claim")
    await counsel.get_by_role("button", name="Release the hold").click()
    await counsel.get_by_role("status").filter(has_text="Done: release").wait_for()
    assert "on hold" not in await counsel.locator("#facts-title + .facts").inner_text()
    await status_reads(counsel, "evidence collection")
