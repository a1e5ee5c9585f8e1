"""Signing in and out of the web app, in a real browser, as people and as someone trying their luck."""

from schema.enums import Role
from tests.browser import PASSWORD, check_page


async def test_a_person_signs_in_sees_their_work_and_signs_out(people, site):
    page = await people.page()
    await page.goto("/")
    assert page.url == f"{site}/sign-in", "no page without signing in"
    await check_page(page, "sign-in")
    specialist = people.account(Role.specialist)
    await page.get_by_label("Name").fill(specialist.name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{site}/")
    await page.get_by_role("heading", name="My work").wait_for()
    assert specialist.name in await page.locator(".who").inner_text()
    await check_page(page, "home-specialist")

    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "gp_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_text("You are signed out.").wait_for()

    # The old cookie, put back by someone who kept it, opens nothing: the session ended on the server.
    await page.context.add_cookies([session])
    await page.goto("/")
    assert page.url == f"{site}/sign-in"


async def test_wrong_passwords_are_refused_and_five_in_a_row_lock_the_name(people, site):
    person = people.account(Role.lead)
    page = await people.page()
    for attempt in range(5):
        await page.goto("/sign-in")
        await page.get_by_label("Name").fill(person.name)
        await page.get_by_label("Password").fill(f"not it {attempt}")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").wait_for()
        assert "the name or the password is not right" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "too many failed sign-ins" in await alert.inner_text(), "locked, even with the right password"
    assert page.url.endswith("/sign-in")
    await check_page(page, "sign-in-locked")


async def test_a_form_posted_without_its_csrf_token_is_refused(people, site):
    _, page = await people.signed_in(Role.specialist)
    refused = await page.request.post(f"{site}/sign-out", form={})
    assert refused.status == 403 and "did not come from this site" in await refused.text()
    await page.goto("/")
    assert page.url == f"{site}/", "still signed in: the forged sign-out did nothing"
    forged = await page.request.post(f"{site}/sign-out", form={"csrf": "guessed"})
    assert forged.status == 403


async def test_a_sign_in_form_from_elsewhere_is_refused(people, site):
    person = people.account(Role.specialist)
    page = await people.page()
    response = await page.request.post(
        f"{site}/sign-in", form={"name": person.name, "password": PASSWORD, "csrf": "made-up"}
    )
    assert response.status == 403 and "out of date" in await response.text()
    assert not [c for c in await page.context.cookies() if c["name"] == "gp_session"]
