"""The claim page in a real browser: people act on a claim in their own browser contexts, and see each other's work.

Each page goes through axe-core and, with GUARANTEE_SCREENSHOTS=1, into docs/screenshots/.
"""

import csv
import io
import re
import struct
import zlib
from datetime import UTC, datetime

from schema.claims import ClaimOpen, PayoutDetails
from schema.enums import Role
from service import claims
from tests.browser import LOADED_WIDTH, check_page, unique
from tests.test_api import claim_body


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG image of one colour, so previews have something to show."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def opened(stack, opener, amount_cents: int, **overrides) -> str:
    body = claim_body(amount_cents=amount_cents) | overrides
    payout = body.pop("payout")
    details = payout and PayoutDetails.model_validate(payout)
    claim = await claims.open_claim(stack.ctx, opener, ClaimOpen.model_validate(body), details)
    return claim.id


async def open_through_form(page, amount: str) -> str:
    """A claim as a specialist types it in from a call; answers its id, once its page shows."""
    tag = unique("")
    await page.goto("/cases/new")
    for label, value in (("Customer id", f"cus_{tag}"), ("Pro id", f"pro_{tag}"), ("Project id", f"prj_{tag}")):
        await page.get_by_label(label).fill(value)
    await page.get_by_label("Claim type").select_option("property_damage")
    await page.get_by_label("Came in by").select_option("phone")
    await page.get_by_label("Incident date").fill(datetime.now(UTC).date().isoformat())
    await page.get_by_label("Amount", exact=True).fill(amount)
    await page.get_by_label("What happened").fill("a pipe the pro fitted burst; ceiling and floor soaked")
    await page.get_by_label("Method").select_option("transfer")
    await page.get_by_label(re.compile("^Account")).fill(f"acct_{tag}")
    await page.get_by_role("button", name="Open the claim").click()
    await page.get_by_role("status").filter(has_text="Done: opened").wait_for()
    return page.url.split("/cases/")[1].split("?")[0]


async def status_reads(page, words: str) -> None:
    await page.locator("h1 .tag").filter(has_text=re.compile(words)).wait_for(timeout=20_000)


async def test_a_claim_from_evidence_to_payment_as_four_people(people, stack, site):
    specialist, spec_page = await people.signed_in(Role.specialist)

    # 1. The specialist opens the claim from a call, adds two photos at once, completes the evidence and decides.
    claim_id = await open_through_form(spec_page, "25,000.00")
    await check_page(spec_page, "claim-evidence-collection")
    await spec_page.get_by_label("Kind").select_option("photo")
    await spec_page.get_by_label(re.compile("^Files")).set_input_files(
        [
            {"name": "ceiling.png", "mimeType": "image/png", "buffer": png(40, 30, (180, 40, 40))},
            {"name": "floor.png", "mimeType": "image/png", "buffer": png(40, 30, (40, 40, 180))},
        ]
    )
    await spec_page.get_by_label("Note").fill("water damage, kitchen ceiling and floor")
    await spec_page.get_by_role("button", name="Add evidence").click()
    await spec_page.get_by_role("status").filter(has_text="Done: evidence").wait_for()
    previews = spec_page.locator(".previews img")
    assert await previews.count() == 2
    assert await previews.first.evaluate(LOADED_WIDTH) == 40, "the preview is the photo itself"
    await spec_page.get_by_role("button", name="Evidence is complete: ask for a decision").click()
    await status_reads(spec_page, "specialist review")
    await spec_page.get_by_label("Amount to pay (if paying)").fill("20,000.00")
    await spec_page.get_by_label("Rationale").fill("the plumber's invoice matches the photos")
    await spec_page.get_by_role("button", name="Record the decision").click()
    await status_reads(spec_page, "pending approval")
    await check_page(spec_page, "claim-pending-approval")

    # 2. A lead may not approve 20,000.00: the page says why, and a crafted approval is refused with the reason.
    lead, lead_page = await people.signed_in(Role.lead)
    await lead_page.goto(f"/cases/{claim_id}")
    why = lead_page.locator("#why-not-review")
    assert "needs a manager or above; a lead cannot confirm it" in await why.inner_text()
    assert await lead_page.get_by_role("button", name=re.compile("^Approve")).count() == 0
    csrf = await lead_page.locator("input[name=csrf]").first.input_value()
    tried = await lead_page.request.post(
        f"{site}/cases/{claim_id}/approval", form={"csrf": csrf, "verdict": "approve", "note": "I know this one"}
    )
    assert tried.status == 403 and "a lead cannot confirm it" in await tried.text()
    await lead_page.set_content(await tried.text())
    await check_page(lead_page, "claim-refused-approval")

    # 3. A manager sees the amount and where it goes, and approves; the specialist's page follows without a reload.
    _, manager_page = await people.signed_in(Role.manager)
    await manager_page.goto(f"/cases/{claim_id}")
    approving = await manager_page.locator("#review-title + p").inner_text()
    assert "20,000.00 USD" in approving and "transfer to acct_" in approving
    await check_page(manager_page, "claim-approve")
    await manager_page.get_by_role("button", name="Approve 20,000.00 USD").click()
    await status_reads(manager_page, "approved|paying|paid")
    await spec_page.locator(".live-note").wait_for(state="visible", timeout=20_000)
    await status_reads(spec_page, "approved|paying|paid")
    await stack.result(claim_id)
    await manager_page.reload()
    await status_reads(manager_page, "paid")
    await check_page(manager_page, "claim-paid")

    # 4. Finance finds the payout among the paid ones (newest first) and downloads them as CSV.
    _, finance_page = await people.signed_in(Role.finance)
    await finance_page.get_by_role("navigation", name="Main").get_by_role("link", name="Ledger").click()
    await finance_page.get_by_label("Payout state").select_option("paid")
    await finance_page.get_by_role("button", name="Show payouts").click()
    row = finance_page.locator("#payouts-title + .table-wrap tbody tr", has_text=claim_id)
    assert "20,000.00 USD" in await row.inner_text()
    async with finance_page.expect_download() as downloading:
        await finance_page.get_by_role("link", name="Download these payouts as CSV").click()
    exported = (await downloading.value).path
    rows = list(csv.reader(io.StringIO(open(await exported(), encoding="utf-8").read())))
    assert [(r[5], r[7]) for r in rows[1:] if r[1] == claim_id] == [("paid", "20000.00")]


async def test_a_denial_with_a_reason_code_and_a_send_back(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    claim_id = await opened(stack, specialist, 90_000)
    await claims.complete_evidence(stack.ctx, claim_id, specialist)
    await page.goto(f"/cases/{claim_id}")
    await page.get_by_role("radio", name="Deny").check()
    await page.get_by_label("Reason code (if denying)").select_option("excluded_peril")
    await page.get_by_label("Rationale").fill("flood damage is excluded")
    await page.get_by_role("button", name="Record the decision").click()
    await status_reads(page, "pending approval")

    _, lead_page = await people.signed_in(Role.lead)
    await lead_page.goto(f"/cases/{claim_id}")
    assert "a denial: excluded peril" in await lead_page.locator("#review-title + p").inner_text()
    await lead_page.get_by_label("Note (needed to send back)").fill("the photos show a burst pipe, not a flood")
    await lead_page.get_by_role("button", name="Send back to the specialist").click()
    await status_reads(lead_page, "specialist review")

    await page.reload()
    await page.get_by_role("radio", name="Deny").check()
    await page.get_by_label("Reason code (if denying)").select_option("insufficient_evidence")
    await page.get_by_label("Rationale").fill("no invoice after three reminders")
    await page.get_by_role("button", name="Record the decision").click()
    await lead_page.reload()
    await lead_page.get_by_role("button", name="Approve the denial").click()
    await status_reads(lead_page, "denied")
    timeline = await lead_page.locator("#timeline-title + .table-wrap").inner_text()
    assert "sent back" in timeline and "denied" in timeline
    await check_page(lead_page, "claim-denied")


async def test_a_withdrawal_and_a_refused_action_leave_the_page_as_it_was(people, stack):
    specialist, page = await people.signed_in(Role.specialist)
    claim_id = await opened(stack, specialist, 40_000)
    await page.goto(f"/cases/{claim_id}")
    before = await page.locator("#timeline-title + .table-wrap").inner_text()
    assert await page.get_by_role("button", name="Record the decision").count() == 0
    await page.get_by_label("Why the claim is withdrawn").fill("the customer and the pro settled it")
    await page.get_by_role("button", name="Withdraw the claim").click()
    await status_reads(page, "withdrawn")
    offered = page.locator("#actions-title ~ .action h3")
    assert await offered.all_inner_texts() == ["Ask another team"], "nothing more to do but ask another team"
    assert before != await page.locator("#timeline-title + .table-wrap").inner_text()
    await check_page(page, "claim-withdrawn")


async def test_another_specialist_reads_but_is_offered_nothing(people, stack):
    owner = people.account(Role.specialist)
    claim_id = await opened(stack, owner, 30_000)
    _, page = await people.signed_in(Role.specialist)
    await page.goto(f"/cases/{claim_id}")
    await page.get_by_role("heading", name=f"Claim {claim_id}").wait_for()
    assert await page.get_by_role("heading", name="What you can do now").count() == 0


async def test_the_claims_list_filters_sorts_and_pages_at_stable_urls(people, stack, site):
    specialist, page = await people.signed_in(Role.specialist)
    project = unique("prj_")
    ids = [
        await opened(stack, specialist, amount, project_id=f"{project}{n}") for n, amount in enumerate((10_000, 70_000))
    ]
    url = f"/cases?assignee={specialist.user_id}&status=evidence_collection&sort=largest"
    await page.goto(url)
    rows = page.locator("tbody tr")
    assert [await rows.nth(i).locator("td").first.inner_text() for i in range(2)] == ids[::-1]
    assert await page.get_by_label("Sort", exact=True).input_value() == "largest"
    await check_page(page, "claims-list")
    await page.get_by_label("Sort", exact=True).select_option("smallest")
    await page.get_by_role("button", name="Show claims").click()
    assert "sort=smallest" in page.url and f"assignee={specialist.user_id}" in page.url
    assert await rows.first.locator("td").first.inner_text() == ids[0]
