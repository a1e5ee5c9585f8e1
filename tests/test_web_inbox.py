"""The intake inbox in the browser: a specialist finds an email in the inbox, reads it, and opens a claim from it."""

import asyncio
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx

from schema.enums import Role
from tests.browser import check_page, unique
from tests.conftest import INBOUND_SECRET


async def post_mail(site: str, msg: EmailMessage) -> dict:
    async with httpx.AsyncClient(base_url=site) as client:
        headers = {"Content-Type": "message/rfc822", "X-Inbound-Secret": INBOUND_SECRET}
        r = await client.post("/inbound/email", content=bytes(msg), headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_specialist_turns_an_email_into_a_claim(people, site, stack):
    sender = f"ann-{uuid.uuid4().hex[:6]}@customer.example"
    subject = unique("Cracked countertop ")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ann <{sender}>", "claims@guarantee.example", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    msg.set_content("The pro cracked my kitchen countertop on Monday.")
    msg.add_attachment(b"\x89PNG pixels", maintype="image", subtype="png", filename="crack.png")
    received = await post_mail(site, msg)
    assert received["state"] == "inbox"

    _, page = await people.signed_in(Role.specialist)
    await page.get_by_role("link", name="Inbox").click()
    await page.wait_for_url(re.compile("/inbox$"))
    await check_page(page, "inbox")
    await page.get_by_role("link", name=subject).click()
    await page.get_by_role("heading", name=subject).wait_for()
    assert "cracked my kitchen countertop" in await page.locator(".mail-text").inner_text()
    assert await page.get_by_label("Customer's email").input_value() == sender
    assert "countertop" in await page.get_by_label("What happened").input_value()
    await page.get_by_role("link", name="crack.png").wait_for()
    await check_page(page, "inbox-message")

    tag = unique("")
    await page.get_by_label("Customer id").fill(f"cus_{tag}")
    await page.get_by_label("Pro id").fill(f"pro_{tag}")
    await page.get_by_label("Project id").fill(f"prj_{tag}")
    await page.get_by_label("Incident date").fill(datetime.now(UTC).date().isoformat())
    await page.get_by_label("Amount", exact=True).fill("640.00")
    await page.get_by_role("button", name="Open the claim").click()
    await page.wait_for_url(re.compile(r"/cases/[0-9a-f]+\?done=opened"))
    claim_id = page.url.split("/cases/")[1].split("?")[0]
    await page.get_by_text("crack.png").first.wait_for()

    claim = await asyncio.to_thread(stack.claim, claim_id)
    assert (claim.customer_id, claim.channel) == (f"cus_{tag}", "email")
    await page.goto(f"/inbox/{received['id']}")
    await page.get_by_role("link", name=f"claim {claim_id}").wait_for()
    assert await page.get_by_role("button", name="Open the claim").count() == 0
