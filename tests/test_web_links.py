"""The customer's evidence link in a phone's browser: no account, a photo sent, and the specialist sees it."""

import re

from schema.enums import Role
from tests.browser import LOADED_WIDTH, check_page
from tests.test_web_claim import open_through_form, png


async def test_a_customer_sends_a_photo_from_a_phone_and_the_specialist_sees_it(people, stack):
    specialist, spec_page = await people.signed_in(Role.specialist)
    claim_id = await open_through_form(spec_page, "1,200.00")

    # The specialist makes a link for the customer: its address is shown once.
    await spec_page.get_by_label("For", exact=True).select_option("customer")
    await spec_page.get_by_label(re.compile("^Days it works")).fill("5")
    await spec_page.get_by_role("button", name="Make a link").click()
    url = await spec_page.locator("#new-link-url").input_value()
    assert "/e/" in url
    await check_page(spec_page, "claim-link-made")

    # The customer opens it on a phone, signed in as no one, and sends a photo.
    phone = await people.page(width=390)
    await phone.goto(url)
    await phone.get_by_role("heading", name=f"Evidence for claim {claim_id}").wait_for()
    await check_page(phone, "evidence-link")
    await phone.get_by_label(re.compile("^Files")).set_input_files(
        [{"name": "ceiling.png", "mimeType": "image/png", "buffer": png(40, 30, (180, 40, 40))}]
    )
    await phone.get_by_label("What the files are").select_option("photo")
    await phone.get_by_label(re.compile("^A note")).fill("the ceiling after the leak")
    await phone.get_by_role("button", name="Send").click()
    await phone.get_by_role("status").filter(has_text="Thank you").wait_for()
    assert phone.url.endswith("?done=1")
    await check_page(phone, "evidence-link-sent")

    # The specialist sees the photo on the claim, from the customer, added through the link.
    await spec_page.goto(f"/cases/{claim_id}")
    previews = spec_page.locator(".previews img")
    await previews.first.wait_for()
    assert await previews.count() == 1
    assert await previews.first.evaluate(LOADED_WIDTH) == 40
    evidence = spec_page.locator(".previews li").first
    assert "from the customer" in (await evidence.inner_text()).lower()
    assert "customer (link" in await evidence.inner_text()

    # Revoked, the link refuses plainly and shows nothing of the claim.
    await spec_page.get_by_role("button", name=re.compile("^Revoke link")).click()
    await spec_page.get_by_role("status").filter(has_text="Done").wait_for()
    await phone.goto(url)
    await phone.get_by_role("heading", name="This link cannot be used").wait_for()
    assert claim_id not in await phone.content()
    await check_page(phone, "evidence-link-refused")
