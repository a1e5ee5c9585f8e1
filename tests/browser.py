"""Browser tests' parts: the site served on a real port, Debian's Chromium driven by Playwright, people signed in.

Chromium comes from Debian's `chromium` package (`./run test` installs it when it runs as root);
no step downloads a browser build. axe-core comes from npm into `.cache/axe` (`./run test` again).
Without either, the browser tests are skipped, and the reason is printed.
GUARANTEE_SCREENSHOTS=1 makes the tests write each page at 1280 and 390 px into docs/screenshots/.
"""

import os
import shutil
import uuid
from pathlib import Path

import pytest

from schema.enums import Role
from schema.policy import load_policy
from service import sign_in
from stack.ports import bind
from up import serve_site

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "a long test password"
WIDTHS = (1280, 390)


@pytest.fixture(scope="session")
async def site(stack, tmp_path_factory):
    """The web app and the API, as `guarantee up` serves them, on the stack's worker."""
    ctx = stack.context(load_policy(), tmp_path_factory.mktemp("site-evidence"))
    sock = bind(0)
    server, serving = await serve_site(ctx, sock)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await serving
    sock.close()


@pytest.fixture(scope="session")
async def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium: install Debian's chromium package (`./run test` does, as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        await browser.close()


class People:
    """People of each role, each signed in in a browser context of their own."""

    def __init__(self, stack, site: str, chromium):
        self.stack, self.site, self.chromium = stack, site, chromium
        self.contexts = []

    def account(self, role: Role):
        actor, _ = self.stack.user_with_token(role)
        sign_in.set_password(self.stack.sessions, actor.name, PASSWORD)
        return actor

    async def page(self, width: int = WIDTHS[0]):
        context = await self.chromium.new_context(viewport={"width": width, "height": 900}, base_url=self.site)
        self.contexts.append(context)
        return await context.new_page()

    async def signed_in(self, role: Role):
        """A new person of `role`, signed in through the sign-in page; returns them and their page."""
        actor = self.account(role)
        page = await self.page()
        await page.goto("/sign-in")
        await page.get_by_label("Name").fill(actor.name)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{self.site}/")
        return actor, page

    async def close(self):
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(stack, site, chromium):
    crowd = People(stack, site, chromium)
    yield crowd
    await crowd.close()


async def accessible(page) -> None:
    """axe-core on the page as it stands: no serious or critical violation."""
    if not AXE.exists():
        pytest.skip("no axe-core: `./run test` installs it from npm into .cache/axe")
    await page.add_script_tag(path=str(AXE))
    violations = await page.evaluate(
        "async () => (await axe.run()).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, bad


async def shoot(page, name: str) -> None:
    """With GUARANTEE_SCREENSHOTS=1: the page at both widths into docs/screenshots/NAME-WIDTH.png."""
    if not os.environ.get("GUARANTEE_SCREENSHOTS"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size(size)


async def fits(page, width: int = WIDTHS[-1]) -> None:
    """At a phone's width the page does not scroll sideways (wide tables scroll inside their own box)."""
    size = page.viewport_size
    await page.set_viewport_size({"width": width, "height": 900})
    wider = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ': '
                 + (e.textContent || '').trim().slice(0, 40))"""
    )
    await page.set_viewport_size(size)
    assert not wider, f"wider than {width} px: {wider}"


async def check_page(page, name: str) -> None:
    """Every page gets all three: the accessibility check, a phone's width, and its screenshots."""
    await accessible(page)
    await fits(page)
    await shoot(page, name)


# An image's own width once it has loaded (a preview may still be on its way when the page shows it).
LOADED_WIDTH = """img => img.complete && img.naturalWidth ? img.naturalWidth
    : new Promise(done => img.addEventListener("load", () => done(img.naturalWidth), { once: true }))"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
