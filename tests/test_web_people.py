"""People, for admins, in a real browser: adding someone, roles, tokens, passwords, deactivation; and
everyone else, and forged forms, refused."""

from schema import tables
from schema.enums import Role
from service import sign_in, users
from tests.browser import PASSWORD, check_page, unique


async def signs_in(people, name: str, password: str):
    """A fresh browser context, signed in as `name`; returns its page, at the home page or the sign-in page."""
    page = await people.page()
    await page.goto("/sign-in")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    return page


def user(stack, user_id: str) -> tables.User:
    with stack.sessions() as db:
        return db.get(tables.User, user_id)


async def test_an_admin_adds_a_person_who_then_signs_in_with_that_password(people, stack, site):
    admin, page = await people.signed_in(Role.admin)
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="People")
    await nav.click()
    await page.wait_for_url(f"{site}/admin/people")
    assert await nav.get_attribute("aria-current") == "page"
    await check_page(page, "people")

    name = unique("nora-")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Role").select_option("lead")
    await page.get_by_label("Web password").fill("nora's first password")
    await page.get_by_role("button", name="Add the person").click()
    await page.wait_for_url(f"{site}/admin/people?done=added&who={name}")
    assert await page.get_by_role("status").inner_text() == f"Done: {name} added."
    row = page.locator("tbody tr", has_text=name)
    assert [await c.inner_text() for c in await row.locator("td").all()][:3] == [name, "lead", "yes"]
    assert "password set, " in await row.locator("td").nth(3).inner_text()

    nora = await signs_in(people, name, "nora's first password")
    assert nora.url == f"{site}/" and name in await nora.locator(".who").inner_text()
    changes = [(c.change, c.detail, c.by) for c, _ in users.history(stack.sessions, name)]
    assert changes == [("added", "as lead", f"web:{admin.user_id}"), ("password_set", None, f"web:{admin.user_id}")]

    # The same name again is refused on the page, with what was typed (but never the password).
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Web password").fill("another long password")
    async with page.expect_response(f"{site}/admin/people/add") as answer:
        await page.get_by_role("button", name="Add the person").click()
    assert (await answer.value).status == 409
    assert await page.get_by_role("alert").inner_text() == f"Not done: a user named {name!r} already exists"
    assert await page.get_by_label("Name").input_value() == name
    assert await page.get_by_label("Web password").input_value() == ""
    csrf = await page.locator("input[name=csrf]").first.input_value()
    short = await page.request.post(
        f"{site}/admin/people/add", form={"csrf": csrf, "name": unique("x-"), "role": "lead", "password": "short"}
    )
    assert short.status == 422 and "a password is 10 to 200 characters" in await short.text()


async def test_an_admin_changes_a_role_sets_a_password_and_makes_a_token_shown_once(people, stack, site):
    admin, page = await people.signed_in(Role.admin)
    sam, old_token = stack.user_with_token(Role.specialist)
    await page.goto(f"/admin/people/{sam.user_id}")
    await page.get_by_label("New role").select_option("lead")
    await page.locator("#role-reason").fill("promoted")
    await page.get_by_role("button", name=f"Change {sam.name}'s role").click()
    await page.wait_for_url(f"{site}/admin/people?done=role_changed&who={sam.name}")
    assert user(stack, sam.user_id).role == "lead"

    await page.goto(f"/admin/people/{sam.user_id}")
    await page.get_by_label("New password").fill("sam's new password")
    await page.get_by_role("button", name=f"Set {sam.name}'s password").click()
    await page.wait_for_url(f"{site}/admin/people?done=password_set&who={sam.name}")
    assert (await signs_in(people, sam.name, "sam's new password")).url == f"{site}/"

    await page.goto(f"/admin/people/{sam.user_id}")
    await page.locator("#token-reason").fill("laptop stolen")
    async with page.expect_response(f"{site}/admin/people/{sam.user_id}/token") as answer:
        await page.get_by_role("button", name=f"New API token for {sam.name}").click()
    assert (await answer.value).headers["cache-control"] == "no-store"
    new_token = await page.locator("#new-token").inner_text()
    assert new_token.startswith("gp_")
    assert users.authenticate(stack.sessions, old_token) is None, "the old token no longer works"
    assert users.authenticate(stack.sessions, new_token).user_id == sam.user_id
    await check_page(page, "person-new-token")

    await page.goto(f"/admin/people/{sam.user_id}")
    assert new_token not in await page.content(), "shown once, never again"
    history = page.locator("#history-title + .table-wrap tbody tr")
    assert [await r.locator("td").nth(1).inner_text() for r in await history.all()] == [
        "added",
        "role changed",
        "password set",
        "token rotated",
    ]
    assert await history.nth(1).locator("td").nth(3).inner_text() == admin.name, "who did it, by name"
    assert await history.nth(3).locator("td").nth(4).inner_text() == "laptop stolen"
    await check_page(page, "person")


async def test_a_deactivated_persons_session_stops_and_an_admin_cannot_lock_themselves_out(people, stack, site):
    victim, victim_page = await people.signed_in(Role.specialist)
    admin, page = await people.signed_in(Role.admin)
    await page.goto(f"/admin/people/{victim.user_id}")
    await page.locator("#deactivate-reason").fill("left the team")
    await page.get_by_role("button", name=f"Deactivate {victim.name}").click()
    await page.wait_for_url(f"{site}/admin/people?done=deactivated&who={victim.name}")
    assert not user(stack, victim.user_id).active
    await victim_page.goto("/")
    assert victim_page.url == f"{site}/sign-in", "their open session stopped working"
    await page.goto(f"/admin/people/{victim.user_id}")
    assert await page.get_by_role("button", name=f"Deactivate {victim.name}").count() == 0

    # Their own page offers no deactivation; a role other than admin is refused, and so is a forged form.
    await page.goto(f"/admin/people/{admin.user_id}")
    assert await page.get_by_role("button", name=f"Deactivate {admin.name}").count() == 0
    await page.get_by_label("New role").select_option("lead")
    async with page.expect_response(f"{site}/admin/people/{admin.user_id}/role") as answer:
        await page.get_by_role("button", name=f"Change {admin.name}'s role").click()
    assert (await answer.value).status == 403
    alert = await page.get_by_role("alert").inner_text()
    assert alert == "Not done: you cannot take the admin role from yourself; another admin can"
    await check_page(page, "person-refused")
    csrf = await page.locator("input[name=csrf]").first.input_value()
    forged = await page.request.post(
        f"{site}/admin/people/{admin.user_id}/deactivate", form={"csrf": csrf, "reason": "testing"}
    )
    assert forged.status == 403 and "you cannot deactivate yourself" in await forged.text()
    mine = user(stack, admin.user_id)
    assert mine.active and mine.role == "admin"
    await page.goto("/admin/people")
    assert page.url == f"{site}/admin/people", "still signed in, still an admin"


async def test_only_an_admin_may_see_or_use_the_people_page(people, stack, site):
    target, _ = stack.user_with_token(Role.finance)
    _, page = await people.signed_in(Role.specialist)
    assert await page.get_by_role("link", name="People").count() == 0
    for path in ("/admin/people", f"/admin/people/{target.user_id}"):
        answer = await page.goto(path)
        assert answer.status == 403 and "the specialist role cannot do this" in await page.content()
    csrf = await page.locator("input[name=csrf]").first.input_value()
    name = unique("sneaky-")
    added = await page.request.post(
        f"{site}/admin/people/add", form={"csrf": csrf, "name": name, "role": "admin", "password": PASSWORD}
    )
    changed = await page.request.post(
        f"{site}/admin/people/{target.user_id}/role", form={"csrf": csrf, "role": "admin"}
    )
    assert (added.status, changed.status) == (403, 403)
    assert users.find(stack.sessions, name) is None and user(stack, target.user_id).role == "finance"


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(people, stack, site):
    _, page = await people.signed_in(Role.admin)
    target, token = stack.user_with_token(Role.lead)
    sign_in.set_password(stack.sessions, target.name, PASSWORD)
    name = unique("forged-")
    posts = [
        ("add", {"name": name, "role": "admin", "password": PASSWORD}),
        (f"{target.user_id}/deactivate", {"reason": "forged"}),
        (f"{target.user_id}/role", {"role": "admin"}),
        (f"{target.user_id}/token", {}),
        (f"{target.user_id}/password", {"password": "a forged password"}),
    ]
    for path, form in posts:
        for csrf in ({}, {"csrf": "guessed"}):
            refused = await page.request.post(f"{site}/admin/people/{path}", form=form | csrf)
            assert refused.status == 403 and "did not come from this site" in await refused.text(), path
    assert users.find(stack.sessions, name) is None
    assert user(stack, target.user_id).active and user(stack, target.user_id).role == "lead"
    assert users.authenticate(stack.sessions, token).user_id == target.user_id
    assert sign_in.sign_in(stack.sessions, target.name, PASSWORD)
    assert [c.change for c, _ in users.history(stack.sessions, target.name)] == ["added", "password_set"]
