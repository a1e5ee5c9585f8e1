"""A mediated outcome in the browser: the specialist records the parties' agreement, then what the customer said."""

from datetime import timedelta

from schema.claims import ClaimOpen, EvidenceAdd
from schema.enums import Role
from schema.policy import load_policy
from service import claims
from tests.browser import check_page
from tests.test_api import claim_body
from tests.test_web_claim import status_reads


async def test_a_specialist_records_an_agreement_and_the_customer_confirms_it(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    ctx = stack.context(load_policy("v5"), stack.ctx.evidence.staging)
    body = ClaimOpen.model_validate({k: v for k, v in claim_body(amount_cents=90_000).items() if k != "payout"})
    claim = await claims.open_claim(ctx, specialist, body)
    note = EvidenceAdd(kind="message", source="customer", note="Bo agreed to refund the 900.00 by Friday")
    claim = await claims.add_evidence(ctx, claim.id, specialist, note)
    await claims.complete_evidence(ctx, claim.id, specialist)
    day = (await stack.env.get_current_time()).date() + timedelta(days=5)

    await page.goto(f"/cases/{claim.id}")
    await page.get_by_label("pro refunds").check()
    await page.get_by_label("Terms").fill("Bo refunds the customer 900.00 by bank transfer")
    await page.get_by_label(f"#{claim.evidence[0].id} message from the customer").check()
    await page.get_by_label("Follow up by").fill((day + timedelta(days=100)).isoformat())
    await page.get_by_role("button", name="Record the agreement").click()
    await page.get_by_role("alert").filter(has_text="the follow-up day must be").wait_for()
    assert await page.get_by_label("Terms").input_value() == "Bo refunds the customer 900.00 by bank transfer"
    await page.get_by_label("Follow up by").fill(day.isoformat())
    await page.get_by_role("button", name="Record the agreement").click()
    await status_reads(page, "mediation")
    assert "without a complaint the claim closes as resolved" in await page.locator("#next-title + p").inner_text()
    agreements = await page.locator("#mediations-title + .table-wrap").inner_text()
    assert "Bo refunds the customer 900.00" in agreements and "waiting" in agreements
    await check_page(page, "claim-in-mediation")

    await page.get_by_label("How you know").fill("the customer called: the refund arrived")
    await page.get_by_role("button", name="Record what the customer says").click()
    await status_reads(page, "resolved by mediation")
    assert "the refund arrived" in await page.locator("#mediations-title + .table-wrap").inner_text()
