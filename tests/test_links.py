"""Evidence links: a specialist asks the customer or the pro for evidence, who add it with nothing but the link.

The API and the web app run on one context, as `guarantee up` serves them, so a link made through
the API opens on the web app, and what the evidence store holds and stages can be counted file by file.
"""

import dataclasses
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import starter
from api.app import create_app
from schema import tables
from schema.enums import Role
from schema.policy import load_policy
from service import links
from service.users import UserError, add_user, set_role
from tests.conftest import SIGNING_KEY
from tests.test_api import Desk, assert_error
from tests.test_cli import cli, open_args  # noqa: F401 (a fixture)
from tests.test_web_claim import png
from web.app import create_web
from web.site import Site


class Links:
    def __init__(self, client: httpx.AsyncClient, stack, ctx, evidence_dir: Path):
        self.client, self.stack, self.ctx, self.evidence_dir = client, stack, ctx, evidence_dir
        self.desk = Desk(client, stack)
        self.earlier = self.stored()  # files other tests stored in this session's database

    async def make(self, claim_id: str, party: str = "customer", headers: dict | None = None, **body) -> dict:
        r = await self.client.post(
            f"/claims/{claim_id}/links", json={"party": party} | body, headers=headers or self.desk.specialist_h
        )
        assert r.status_code == 201, r.text
        return r.json()

    def stored(self) -> set[str]:
        with self.stack.sessions() as db:
            return set(db.scalars(select(tables.EvidenceFile.sha256)))

    def files(self) -> list[str | Path]:
        """The files this test stored, then the uploads staged and not yet kept or discarded."""
        staged = sorted(p for p in self.evidence_dir.rglob("*") if p.is_file())
        return sorted(self.stored() - self.earlier) + staged

    async def send(
        self, url: str, files: list[tuple[str, bytes, str]], kind: str = "photo", note: str | None = None, client=None
    ) -> httpx.Response:
        """Open the link's page and send its form, as a browser would."""
        client = client or self.client
        path = httpx.URL(url).path
        page = await client.get(path)
        if page.status_code != 200:
            return page
        fields = dict(re.findall(r'name="(check|issued)" value="([^"]*)"', page.text))
        data = fields | {"kind": kind} | ({"note": note} if note else {})
        upload = [("files", f) for f in files] or None
        return await client.post(path, data=data, files=upload)


@pytest.fixture
async def site(stack, tmp_path):
    evidence_dir = tmp_path / "evidence"
    ctx = stack.context(load_policy("v1"), evidence_dir)
    app = Site(create_web(ctx), create_app(ctx))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://site") as client:
        yield Links(client, stack, ctx, evidence_dir)


def photo() -> tuple[str, bytes, str]:
    """A photo no other test stored: the store keeps each content once."""
    return ("damage.png", png(8, 6, tuple(os.urandom(3))), "image/png")


async def test_a_customer_adds_photos_through_a_fresh_link(site):
    claim = await site.desk.open()
    link = await site.make(claim["id"], "customer", days=3)
    assert link["url"].startswith("http://site/e/") and link["party"] == "customer"
    assert link["created_by"] == site.desk.specialist.user_id

    page = await site.client.get(httpx.URL(link["url"]).path)
    assert page.status_code == 200
    assert claim["id"] in page.text and claim["description"] not in page.text and claim["customer_id"] not in page.text

    invoice = ("invoice.pdf", f"%PDF-1.4 invoice {uuid.uuid4()}".encode(), "application/pdf")
    r = await site.send(link["url"], [photo(), invoice], note="hi")
    assert r.status_code == 303 and r.headers["location"].endswith("?done=1")
    done = await site.client.get(r.headers["location"])
    assert done.status_code == 200 and "Thank you" in done.text

    after = await site.desk.get(claim["id"])
    actor = f"link:{link['id']}"
    assert [(e["kind"], e["source"], e["added_by"], e["file"]["filename"]) for e in after["evidence"]] == [
        ("photo", "customer", actor, "damage.png"),
        ("photo", "customer", actor, "invoice.pdf"),
    ]
    added = [t for t in after["timeline"] if t["action"] == "evidence_added"]
    assert [(t["actor_id"], t["actor_role"]) for t in added] == [(actor, "party")] * 2
    assert len(site.files()) == 2

    # A pro's link adds the pro's evidence; a note alone is a note.
    pro = await site.make(claim["id"], "pro")
    r = await site.send(pro["url"], [], note="the work was finished on time")
    assert r.status_code == 303, r.text
    last = (await site.desk.get(claim["id"]))["evidence"][-1]
    assert (last["kind"], last["source"], last["added_by"]) == ("note", "pro", f"link:{pro['id']}")

    listed = (await site.client.get(f"/claims/{claim['id']}/links", headers=site.desk.specialist_h)).json()
    assert [(x["id"], x["party"], x["url"]) for x in listed] == [
        (link["id"], "customer", None),
        (pro["id"], "pro", None),
    ]


async def assert_refused(site, claim_id: str, url: str, status: int, words: str, client=None) -> None:
    """The link's page and its form both refuse in plain words, and nothing is added or stored."""
    before, files = await site.desk.get(claim_id), site.files()
    client = client or site.client
    path = httpx.URL(url).path
    page = await client.get(path)
    assert page.status_code == status, page.text
    assert words in page.text and claim_id not in page.text
    fields = {"check": "x", "issued": "1", "kind": "photo"}
    r = await client.post(path, data=fields, files=[("files", photo())])
    assert r.status_code == status and words in r.text
    assert (await site.desk.get(claim_id))["evidence"] == before["evidence"]
    assert site.files() == files


def token_of(url: str) -> str:
    return url.rsplit("/e/", 1)[1]


async def test_expired_revoked_tampered_and_wrong_claim_links_are_refused(site, stack):
    claim = await site.desk.open()
    other = await site.desk.open()
    link = await site.make(claim["id"], days=1)
    await site.send(link["url"], [photo()])  # it works now
    assert len((await site.desk.get(claim["id"]))["evidence"]) == 1

    # Expired: the same app, two days on.
    now = await stack.env.get_current_time()

    async def later():
        return now + timedelta(days=1, seconds=1)

    later_app = Site(create_web(dataclasses.replace(site.ctx, clock=later)), create_app(site.ctx))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=later_app), base_url="http://site") as client:
        await assert_refused(site, claim["id"], link["url"], 410, "expired", client=client)

    # Tampered: one character of the signature changed, or of what it signs.
    token = token_of(link["url"])
    payload, mac = token.split(".")
    flipped = mac[:10] + ("A" if mac[10] != "A" else "B") + mac[11:]
    await assert_refused(site, claim["id"], f"/e/{payload}.{flipped}", 403, "not valid")
    await assert_refused(
        site, claim["id"], f"/e/{payload[:-2]}{'x' if payload[-2] != 'x' else 'y'}{payload[-1]}.{mac}", 403, "not valid"
    )
    await assert_refused(site, claim["id"], "/e/nonsense", 403, "not valid")

    # Wrong claim: a token naming this link (rightly signed) but another claim.
    link_id, _, party, expires = links.read_token(SIGNING_KEY, token)
    wrong = links.make_token(SIGNING_KEY, link_id, other["id"], party, expires)
    await assert_refused(site, other["id"], f"/e/{wrong}", 403, "not valid")
    await assert_refused(site, claim["id"], f"/e/{wrong}", 403, "not valid")

    # Revoked: at once, and the list says who revoked it.
    r = await site.client.post(f"/claims/{claim['id']}/links/{link['id']}/revoke", headers=site.desk.specialist_h)
    assert r.status_code == 200 and r.json()["revoked_by"] == site.desk.specialist.user_id
    await assert_refused(site, claim["id"], link["url"], 410, "no longer works")


async def test_a_link_works_only_while_the_claim_collects_evidence(site):
    claim = await site.desk.open()
    link = await site.make(claim["id"], "pro")
    page = await site.client.get(httpx.URL(link["url"]).path)  # opened before the evidence is complete
    fields = dict(re.findall(r'name="(check|issued)" value="([^"]*)"', page.text))
    r = await site.client.post(f"/claims/{claim['id']}/evidence/complete", headers=site.desk.specialist_h)
    assert r.status_code == 200, r.text
    await assert_refused(site, claim["id"], link["url"], 410, "no longer takes evidence")
    before = site.files()
    r = await site.client.post(httpx.URL(link["url"]).path, data=fields | {"kind": "photo"}, files=[("files", photo())])
    assert r.status_code == 410 and site.files() == before
    r = await site.client.post(f"/claims/{claim['id']}/links", json={"party": "pro"}, headers=site.desk.specialist_h)
    assert_error(r, 409, "invalid_state")


async def test_the_form_needs_its_page(site):
    """No session to tie it to: the form carries a MAC of the token and when the page was served."""
    claim = await site.desk.open()
    link = await site.make(claim["id"])
    path = httpx.URL(link["url"]).path
    page = await site.client.get(path)
    fields = dict(re.findall(r'name="(check|issued)" value="([^"]*)"', page.text))
    for data, headers in [
        ({}, {}),
        ({"check": "0" * 64, "issued": fields["issued"]}, {}),
        ({"check": fields["check"], "issued": str(int(fields["issued"]) - 1)}, {}),
        (fields, {"Origin": "https://elsewhere.example"}),
        (fields, {"Sec-Fetch-Site": "cross-site"}),
    ]:
        r = await site.client.post(path, data=data | {"kind": "photo"}, files=[("files", photo())], headers=headers)
        assert r.status_code == 403 and "out of date" in r.text
    assert (await site.desk.get(claim["id"]))["evidence"] == [] and site.files() == []
    r = await site.client.post(path, data=fields | {"kind": "photo"}, files=[("files", photo())])
    assert r.status_code == 303


async def test_only_who_works_the_claim_makes_and_revokes_its_links(site):
    claim = await site.desk.open()
    other_specialist = site.desk.person(Role.specialist)[1]
    r = await site.client.post(f"/claims/{claim['id']}/links", json={"party": "customer"}, headers=other_specialist)
    assert_error(r, 403, "not_assignee")
    lead = site.desk.person(Role.lead)[1]
    link = await site.make(claim["id"], headers=lead)  # a lead and above may
    r = await site.client.post(f"/claims/{claim['id']}/links/{link['id']}/revoke", headers=other_specialist)
    assert_error(r, 403, "not_assignee")
    for role in (Role.finance, Role.admin):
        r = await site.client.post(
            f"/claims/{claim['id']}/links", json={"party": "customer"}, headers=site.desk.person(role)[1]
        )
        assert_error(r, 403, "forbidden")
    for body in ({"party": "specialist"}, {"party": "customer", "days": 31}, {"party": "customer", "days": 0}):
        r = await site.client.post(f"/claims/{claim['id']}/links", json=body, headers=site.desk.specialist_h)
        assert_error(r, 422)
    r = await site.client.post(f"/claims/{claim['id']}/links/999999/revoke", headers=site.desk.specialist_h)
    assert_error(r, 404, "not_found")
    assert (await site.client.get(f"/claims/{claim['id']}/links", headers=site.desk.specialist_h)).json()[0][
        "revoked_at"
    ] is None


def test_nobody_is_given_the_party_role(sessions, db_url, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GUARANTEE_HOME", str(tmp_path / "home"))
    assert starter.main(["users", "add", "someone-party", "--role", "party"]) == 2
    assert "invalid choice: 'party'" in capsys.readouterr().err
    with pytest.raises(UserError, match="belongs to evidence links"):
        add_user(sessions, "someone-party", Role.party)
    actor, _ = add_user(sessions, f"someone-{uuid.uuid4().hex[:6]}", Role.specialist)
    with pytest.raises(UserError, match="belongs to evidence links"):
        set_role(sessions, actor.name, Role.party)


async def test_the_claim_page_makes_lists_and_revokes_links(site, stack):
    """The specialist's claim page: the URL once, then the list with a revoke button."""
    from service import sign_in

    claim = await site.desk.open()
    sign_in.set_password(stack.sessions, site.desk.specialist.name, "a long enough password 1")
    session = sign_in.sign_in(stack.sessions, site.desk.specialist.name, "a long enough password 1")
    site.client.cookies.set(sign_in.COOKIE, session.token)
    page = await site.client.get(f"/cases/{claim['id']}")
    assert "Links for the customer and the pro" in page.text
    r = await site.client.post(f"/cases/{claim['id']}/links", data={"csrf": session.csrf, "party": "pro", "days": "5"})
    assert r.status_code == 201
    url = re.search(r'id="new-link-url"[^>]*value="([^"]+)"', r.text).group(1)
    assert url.startswith("http://site/e/")
    page = await site.client.get(f"/cases/{claim['id']}")
    assert url not in page.text and "works until" in page.text
    [link] = (await site.client.get(f"/claims/{claim['id']}/links", headers=site.desk.specialist_h)).json()
    r = await site.client.post(f"/cases/{claim['id']}/links/{link['id']}/revoke", data={"csrf": "wrong"})
    assert r.status_code == 403
    r = await site.client.post(f"/cases/{claim['id']}/links/{link['id']}/revoke", data={"csrf": session.csrf})
    assert r.status_code == 303
    assert "revoked" in (await site.client.get(f"/cases/{claim['id']}")).text
    site.client.cookies.clear()
    await assert_refused(site, claim["id"], url, 410, "no longer works")


async def test_the_command_line_makes_lists_and_revokes_links(cli, stack):  # noqa: F811 (the fixture)
    token = stack.user_with_token(Role.specialist)[1]
    claim = (await cli.ok(*open_args(), "--json", token=token)).json
    made = await cli.ok("claim", "link", claim["id"], "--party", "customer", "--days", "3", token=token)
    link_id = re.search(r"^link (\d+) for the customer", made.out, re.M).group(1)
    url = made.out.split("URL (shown once; send it to them now): ")[1].strip()
    assert "/e/" in url
    listed = await cli.ok("claim", "links", claim["id"], token=token)
    assert "works" in listed.out and url not in listed.out
    revoked = await cli.ok("claim", "revoke-link", claim["id"], link_id, token=token)
    assert revoked.out == f"link {link_id} for the customer of claim {claim['id']} revoked\n"
    assert "revoked" in (await cli.ok("claim", "links", claim["id"], token=token)).out
    assert (await cli("claim", "link", claim["id"], "--party", "customer", "--days", "31", token=token)).code == 2
