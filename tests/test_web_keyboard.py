"""The web app by keyboard alone: sign in, skip to the content, open a claim and act on it, no mouse."""

from datetime import UTC, datetime

from schema.enums import Role
from tests.browser import PASSWORD, unique


async def focused(page) -> str:
    """What has the focus, as a person hears it: its label, its name or its text."""
    return await page.evaluate(
        """() => { const el = document.activeElement;
                   return (el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute('aria-label')
                          || el.innerText || el.name || el.tagName; }"""
    )


async def tab_to(page, wanted: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if (await focused(page)).strip().startswith(wanted):
            return
    raise AssertionError(f"Tab never reached {wanted!r}")


async def test_a_specialist_works_by_keyboard_alone(people, site):
    person = people.account(Role.specialist)
    page = await people.page()
    await page.goto("/sign-in")
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to the content", "the first stop skips the header"
    await tab_to(page, "Name")
    await page.keyboard.type(person.name)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{site}/")

    await tab_to(page, "Open a claim")
    assert await page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "focus is visible"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{site}/cases/new")
    tag = unique("")
    typed = {
        "Customer id": f"cus_{tag}",
        "Pro id": f"pro_{tag}",
        "Project id": f"prj_{tag}",
    }
    for label, value in typed.items():
        await tab_to(page, label)
        await page.keyboard.type(value)
    await tab_to(page, "Incident date")
    await page.get_by_label("Incident date").fill(datetime.now(UTC).date().isoformat())
    await tab_to(page, "Amount")
    await page.keyboard.type("310.00")
    await tab_to(page, "What happened")
    await page.keyboard.type("the pro left the job half done")
    await tab_to(page, "Open the claim")
    await page.keyboard.press("Enter")
    await page.get_by_role("status").filter(has_text="Done: opened").wait_for()

    await tab_to(page, "Why the claim is withdrawn")
    await page.keyboard.type("opened by mistake")
    await tab_to(page, "Withdraw the claim")
    await page.keyboard.press("Enter")
    await page.locator("h1 .tag").filter(has_text="withdrawn").wait_for()
