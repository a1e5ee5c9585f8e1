"""Roles × routes: every route of the app, for every role and for no token, answers as expected.

The table is written out by hand, not derived from the rules, so a change to who may do what
shows up here as a deliberate edit. A route added to the app without a row fails the first test.
Each allowed cell acts on a claim prepared for it and must succeed; each refused cell must leave
the claim exactly as it was.
"""

import uuid
from datetime import date, timedelta
from email.message import EmailMessage

import pytest

from activities.digest import DigestActivities
from mail.out import Mailer, Outbox
from schema.claims import ClaimOpen, Contacts, EvidenceAdd, MediationRequest
from schema.enums import STAFF_ROLES, Role
from schema.policy import load_policy
from schema.signals import load_signal_rules
from service import claims, digests, inbox
from tests.test_api import Desk, assert_error, auth, claim_body
from tests.test_api_payouts import refused_payouts

# None: no token at all. The party role is an evidence link's, which has no token: see tests/test_links.py.
EVERYONE = [*STAFF_ROLES, None]
CASEWORK = {Role.specialist, Role.lead, Role.manager, Role.director}
FINANCE_READERS = {Role.finance, Role.admin}
HISTORY_READERS = {Role.lead, Role.manager, Role.director, Role.admin}
KPI_READERS = {Role.lead, Role.manager, Role.director, Role.finance, Role.admin}


def only(success: int, allowed: set, **special) -> dict:
    """`success` for the allowed roles, 403 for the other roles, 401 without a token; `special` overrides."""
    cells = {role: success if role in allowed else 403 for role in STAFF_ROLES} | {None: 401}
    return cells | {Role(name): status for name, status in special.items()}


PUBLIC = dict.fromkeys(EVERYONE, 200)
WEEK = timedelta(days=7)

EXPECTED = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # Prometheus scrapes without a user: open, or with its own GUARANTEE_METRICS_TOKEN (tests/test_metrics.py).
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/users/me"): only(200, set(STAFF_ROLES)),
    ("POST", "/claims"): only(201, CASEWORK),
    ("GET", "/claims"): only(200, set(STAFF_ROLES)),
    ("GET", "/claims/{claim_id}"): only(200, set(STAFF_ROLES)),
    ("POST", "/claims/{claim_id}/evidence"): only(201, CASEWORK),
    ("POST", "/claims/{claim_id}/evidence/complete"): only(200, CASEWORK),
    # Evidence links: made and revoked by who may add evidence, listed to every role that reads claims.
    ("POST", "/claims/{claim_id}/links"): only(201, CASEWORK),
    ("GET", "/claims/{claim_id}/links"): only(200, set(STAFF_ROLES)),
    ("POST", "/claims/{claim_id}/links/{link_id}/revoke"): only(200, CASEWORK),
    # The pro's statement: asked by whoever works the claim (policy v3, with the pro's address).
    ("POST", "/claims/{claim_id}/pro-statement"): only(200, CASEWORK),
    ("POST", "/claims/{claim_id}/decision"): only(200, CASEWORK),
    # Finance approves only at the top tier: a lead-tier decision is beyond its authority.
    ("POST", "/claims/{claim_id}/approval"): only(200, {Role.lead, Role.manager, Role.director}),
    ("PUT", "/claims/{claim_id}/payout-details"): only(200, CASEWORK),
    ("PUT", "/claims/{claim_id}/contacts"): only(200, CASEWORK),
    ("POST", "/claims/{claim_id}/payout/retry"): only(200, {Role.finance}),
    ("POST", "/claims/{claim_id}/payout/cancel"): only(200, {Role.finance}),
    ("POST", "/claims/{claim_id}/withdraw"): only(200, CASEWORK),
    # Severity: judged by whoever works the claim (policy v4 on).
    ("POST", "/claims/{claim_id}/severity"): only(200, CASEWORK),
    # Legal holds: put on by whoever works the claim (or a lead and above); released by legal only.
    ("POST", "/claims/{claim_id}/hold"): only(200, CASEWORK),
    ("POST", "/claims/{claim_id}/hold/release"): only(200, {Role.legal}),
    # Mediated outcomes (policy v5): the agreement and what the customer said of it, by whoever works the claim.
    ("POST", "/claims/{claim_id}/mediation"): only(200, CASEWORK),
    ("POST", "/claims/{claim_id}/mediation/outcome"): only(200, CASEWORK),
    ("POST", "/claims/{claim_id}/assignee"): only(200, {Role.lead, Role.manager, Role.director}),
    ("POST", "/claims/{claim_id}/referrals"): only(201, CASEWORK),
    ("GET", "/referrals"): only(200, set(STAFF_ROLES)),
    # Anyone on staff takes a team's referral, but the person who asked it; only who took it answers.
    ("POST", "/referrals/{referral_id}/take"): only(200, set(STAFF_ROLES)),
    ("POST", "/referrals/{referral_id}/answer"): only(200, set(STAFF_ROLES)),
    ("GET", "/payouts"): only(200, FINANCE_READERS),
    ("POST", "/reconciliations"): only(202, FINANCE_READERS),
    ("GET", "/reconciliations"): only(200, FINANCE_READERS),
    ("GET", "/reconciliations/{reconciliation_id}"): only(200, FINANCE_READERS),
    # Temporal's codec-server protocol, for the Temporal UI and CLI: payloads decoded for those who oversee.
    ("POST", "/codec/decode"): only(200, HISTORY_READERS),
    ("POST", "/codec/encode"): only(200, HISTORY_READERS),
    # Which rows of which claims were tampered with: admins investigate, finance reconciles.
    ("GET", "/audit/verify"): only(200, {Role.admin}),
    # Email in: the intake inbox is worked by those who open claims; a mail provider posts raw mail with the
    # shared secret, never a token, so every token alone is refused.
    ("GET", "/inbox"): only(200, CASEWORK),
    ("GET", "/inbox/{message_id}"): only(200, CASEWORK),
    ("POST", "/inbox/{message_id}/claim"): only(201, CASEWORK),
    ("POST", "/inbox/{message_id}/dismiss"): only(200, CASEWORK),
    ("POST", "/inbound/email"): dict.fromkeys(EVERYONE, 401),
    # The KPI report names specialists, customers and pros: those who oversee the work, finance and admin.
    ("GET", "/kpis"): only(200, KPI_READERS),
    ("GET", "/signals"): only(200, KPI_READERS),
    ("GET", "/digests"): only(200, KPI_READERS),
    ("GET", "/digests/{digest_id}"): only(200, KPI_READERS),
}


# Cells refused by a rule rather than by the role: asked on a claim the action could apply to.
REFUSED_BY_RULE = {
    ("POST", "/claims/{claim_id}/approval", Role.finance),
    ("POST", "/claims/{claim_id}/approval", Role.legal),
}


def app_routes(app) -> set[tuple[str, str]]:
    return {(method, route.path) for route in app.routes for method in route.methods - {"HEAD"}}


def test_every_route_has_a_row(api):
    assert app_routes(api._transport.app) == set(EXPECTED)


class Cells:
    """Prepares the request of one cell: a claim in the state the route needs, fresh where it changes it."""

    def __init__(self, desk: Desk, faults):
        self.desk, self.faults = desk, faults
        self.shared: dict | None = None
        self.reconciliation: str | None = None
        self.asker: dict | None = None
        self.people: dict[Role, dict] = {}

    async def request(self, method: str, path: str, fresh: bool, role: Role | None = None) -> tuple[str, dict, str]:
        """The URL, the request and the claim it acts on (as `role` will send it)."""
        desk = self.desk
        if self.shared is None:
            self.shared = await desk.open()
        claim_id = self.shared["id"]
        deny = {"outcome": "deny", "reason_code": "excluded_peril", "rationale": "x"}
        if path.startswith("/claims/{claim_id}") and fresh:
            claim_id = await self.fresh(path)
        url = path.replace("{claim_id}", claim_id)
        bodies = {
            "/claims": {"json": claim_body()},
            "/claims/{claim_id}/evidence": {"json": {"kind": "note", "source": "specialist", "note": "x"}},
            "/claims/{claim_id}/links": {"json": {"party": "customer"}},
            "/claims/{claim_id}/decision": {"json": deny},
            "/claims/{claim_id}/approval": {"json": {"verdict": "approve"}},
            "/claims/{claim_id}/payout-details": {"json": {"method": "transfer", "account_id": "acct_matrix"}},
            "/claims/{claim_id}/contacts": {"json": {"customer_email": "matrix@example.com"}},
            "/claims/{claim_id}/referrals": {"json": {"team": "legal", "note": "may we pay?"}},
            "/referrals/{referral_id}/answer": {"json": {"answer": "yes"}},
            "/claims/{claim_id}/payout/retry": {"json": {"reason": "try again"}},
            "/claims/{claim_id}/payout/cancel": {"json": {"reason": "paid by cheque"}},
            "/claims/{claim_id}/withdraw": {"json": {"reason": "settled"}},
            "/claims/{claim_id}/severity": {"json": {"severity": "s2", "reason": "no heat in winter"}},
            "/claims/{claim_id}/hold": {"json": {"reason_code": "attorney_letter", "note": "a letter came"}},
            "/claims/{claim_id}/hold/release": {"json": {"note": "cleared"}},
            "/claims/{claim_id}/mediation/outcome": {"json": {"outcome": "kept", "note": "the customer confirmed"}},
            "/claims/{claim_id}/assignee": {"json": {"assignee": desk.specialist.user_id, "reason": "theirs"}},
            "/reconciliations": {"json": {"from": "2026-01-01", "to": "2026-01-01"}},
            "/codec/decode": {"json": {"payloads": []}},
            "/codec/encode": {"json": {"payloads": []}},
            "/inbox/{message_id}/claim": {"json": claim_body()},
            "/inbox/{message_id}/dismiss": {"json": {"reason": "not a claim"}},
            "/inbound/email": {"content": b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"},
        }
        if path.endswith("/mediation"):
            bodies[path] = {"json": (await self.agreement(claim_id)).model_dump(mode="json")}
        if "{link_id}" in path:
            url = url.replace("{link_id}", await self.a_link(claim_id))
        if "{referral_id}" in path:
            url = url.replace("{referral_id}", await self.a_referral(claim_id, path.endswith("/answer") and role))
        if "{message_id}" in path:
            url = url.replace("{message_id}", await self.a_message())
        if "{digest_id}" in path:
            url = path.replace("{digest_id}", self.a_digest())
        if "{reconciliation_id}" in path:
            url = path.replace("{reconciliation_id}", await self.a_reconciliation())
        return url, bodies.get(path, {}) if method != "GET" else {}, claim_id

    async def fresh(self, path: str) -> str:
        """A claim of its own for an allowed cell, in the state the route acts on."""
        desk = self.desk
        if path.endswith(("/payout/retry", "/payout/cancel")):
            [claim] = await refused_payouts(desk, self.faults)
            return claim["id"]
        if path.endswith("/decision"):
            return (await desk.in_review())["id"]
        if path.endswith("/approval"):
            return (await desk.pending(amount_cents=10_000))["id"]
        if path.endswith("/pro-statement"):
            return await self.asks_a_pro()
        if path.endswith("/severity"):
            return await self.under_v4()
        if path.endswith("/hold"):
            return (await desk.open())["id"]
        if path.endswith("/hold/release"):
            return await self.held()
        if path.endswith("/mediation"):
            return await self.under_v5()
        if path.endswith("/mediation/outcome"):
            claim_id = await self.under_v5()
            await claims.mediate(self.desk.stack.ctx, claim_id, self.desk.specialist, await self.agreement(claim_id))
            return claim_id
        if path.endswith(("/withdraw", "/evidence/complete", "/assignee")):
            return (await desk.open())["id"]
        return self.shared["id"]

    async def asks_a_pro(self) -> str:
        """A claim under policy v3 (the API's claims are under v1), with the pro's address."""
        stack = self.desk.stack
        ctx = stack.context(load_policy("v3"), stack.ctx.evidence.staging)
        body = ClaimOpen.model_validate({k: v for k, v in claim_body().items() if k != "payout"})
        claim = await claims.open_claim(ctx, self.desk.specialist, body, contacts=Contacts(pro_email="p@example.com"))
        return claim.id

    async def held(self) -> str:
        """A claim on legal hold, put on by its specialist."""
        claim = await self.desk.open()
        body = {"reason_code": "injury", "note": "the customer was hurt"}
        r = await self.desk.client.post(f"/claims/{claim['id']}/hold", json=body, headers=self.desk.specialist_h)
        assert r.status_code == 200, r.text
        return claim["id"]

    async def under_v4(self) -> str:
        """A claim under policy v4, which has severity rules (the API's claims are under v1): proposed s3."""
        stack = self.desk.stack
        ctx = stack.context(load_policy("v4"), stack.ctx.evidence.staging)
        body = ClaimOpen.model_validate({k: v for k, v in claim_body().items() if k != "payout"})
        return (await claims.open_claim(ctx, self.desk.specialist, body)).id

    async def under_v5(self) -> str:
        """A claim under policy v5, which follows agreements up, with the customer's photo on it."""
        stack = self.desk.stack
        ctx = stack.context(load_policy("v5"), stack.ctx.evidence.staging)
        body = ClaimOpen.model_validate({k: v for k, v in claim_body().items() if k != "payout"})
        claim = await claims.open_claim(ctx, self.desk.specialist, body)
        photo = EvidenceAdd(kind="message", source="customer", note="we agreed he comes back on Monday")
        return (await claims.add_evidence(ctx, claim.id, self.desk.specialist, photo)).id

    async def agreement(self, claim_id: str) -> MediationRequest:
        """An agreement on the claim's evidence, to be followed up in a week (of the test server's time)."""
        evidence = [e.id for e in (await claims.get(self.desk.stack.ctx, claim_id)).evidence] or [1]
        today = (await self.desk.stack.env.get_current_time()).date()
        return MediationRequest(
            kind="pro_returns", terms="the pro redoes the grout", evidence_ids=evidence, follow_up_by=today + WEEK
        )

    async def a_link(self, claim_id: str) -> str:
        desk = self.desk
        r = await desk.client.post(f"/claims/{claim_id}/links", json={"party": "pro"}, headers=desk.specialist_h)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def a_referral(self, claim_id: str, taken_by: Role | None) -> str:
        """An open referral asked by someone no cell acts as; taken by `taken_by`'s person, if given."""
        desk = self.desk
        if self.asker is None:
            self.asker = desk.person(Role.lead)[1]
        r = await desk.client.post(
            f"/claims/{claim_id}/referrals", json={"team": "legal", "note": "may we pay?"}, headers=self.asker
        )
        assert r.status_code == 201, r.text
        referral = str(r.json()["id"])
        if taken_by:
            r = await desk.client.post(f"/referrals/{referral}/take", headers=self.person(taken_by))
            assert r.status_code == 200, r.text
        return referral

    async def a_message(self) -> str:
        """A fresh message in the intake inbox."""
        msg = EmailMessage()
        msg["From"], msg["Subject"], msg["Message-ID"] = "ann@example.com", "help", f"<{uuid.uuid4().hex}@example.com>"
        msg.set_content("my countertop")
        view = await inbox.receive(self.desk.client._transport.app.state.ctx, bytes(msg), "http")
        return str(view.id)

    def a_digest(self) -> str:
        """A digest of a week nothing is planted in, stored as the workflow's activity stores it."""
        sessions, policy, rules = self.desk.stack.sessions, load_policy(), load_signal_rules()
        mailer = Mailer(Outbox(self.desk.stack.outbox), "claims@guarantee.test", "http://api")
        made = DigestActivities(sessions, mailer, lambda week: digests.compose(sessions, policy, rules, week), ())
        return made.build_digest(date(2038, 1, 4)).id

    async def a_reconciliation(self) -> str:
        if self.reconciliation is None:
            r = await self.desk.client.post(
                "/reconciliations", json={"from": "2026-01-02", "to": "2026-01-02"}, headers=self.person(Role.finance)
            )
            assert r.status_code == 202, r.text
            self.reconciliation = r.json()["id"]
        return self.reconciliation

    def person(self, role: Role | None) -> dict:
        """A person of the role; the specialist is the one who opened the claims, so the claims are theirs."""
        if role == Role.specialist:
            return self.desk.specialist_h
        if role is None:
            return {}
        if role not in self.people:
            self.people[role] = self.desk.person(role)[1]
        return self.people[role]


@pytest.fixture
def cells(api, stack):
    control = stack.stub.control
    yield Cells(Desk(api, stack), control)
    control.clear_faults()


@pytest.mark.timeout(240)
async def test_every_role_on_every_route(cells, subtests):
    client = cells.desk.client
    for (method, path), by_role in EXPECTED.items():
        for role in EVERYONE:
            expected = by_role[role]
            with subtests.test(route=f"{method} {path}", role=role and role.value):
                fresh = expected < 400 or (method, path, role) in REFUSED_BY_RULE
                url, request, claim_id = await cells.request(method, path, fresh, role)
                before = await cells.desk.get(claim_id)
                r = await client.request(method, url, headers=cells.person(role), **request)
                if expected < 400:
                    assert r.status_code == expected, f"{r.status_code} {r.text[:300]}"
                else:
                    assert_error(r, expected, "unauthenticated" if role is None else None)
                    assert await cells.desk.get(claim_id) == before


BAD_CREDENTIALS = [{}, auth("gp_wrong"), auth(""), {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "gp_x"}]


async def test_a_missing_or_wrong_token_is_refused_on_every_route(cells):
    """Every route that is not public answers 401 to every kind of bad credential, and changes nothing."""
    claim = await cells.desk.open()
    for (method, path), by_role in EXPECTED.items():
        if by_role is PUBLIC:
            continue
        url = path.replace("{claim_id}", claim["id"]).replace("{reconciliation_id}", "reconciliation-x")
        url = url.replace("{link_id}", "1").replace("{referral_id}", "1").replace("{message_id}", "1")
        for headers in BAD_CREDENTIALS:
            r = await cells.desk.client.request(method, url, json={}, headers=headers)
            assert_error(r, 401, "unauthenticated")
    assert await cells.desk.get(claim["id"]) == claim
