"""`guarantee demo seed`: demo users, and claims left in different states, so there is something to look at.

Users are created in the database `guarantee up` uses, each with an API token and a web password
(random, like the token: a fixed demo password would open any instance that was ever seeded). Both
are saved to GUARANTEE_HOME/demo-tokens.json (readable by its owner only), so a second seed reuses
them while they still work; every claim goes through the
HTTP API like a person's would, each with payout details (a transfer to a made-up connected
account). With the embedded Stripe stub (`guarantee up` without STRIPE_API_BASE), the paid
money-back claim is a refund of a charge made on the stub, and one more claim is left in
payout_failed: its account is one the stub is told to decline.
"""

import json
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import stripe

from cli import show
from cli.db import user_sessions
from cli.http import Api, CliError
from schema.enums import STAFF_ROLES
from stack.config import embedded_stub_key, load_settings
from stripe_stub.control import StubControl

PAYOUT_DEADLINE_S = 30.0
MOVING = ("approved", "paying")  # a payout under way: the seed waits for where it ends


def seed(json_out: bool = False) -> None:
    settings = load_settings()
    with Api(None) as probe:
        probe.get("/healthz")  # fails early, before anything is created, if the API is not running
        api_url = probe.url
    tokens_file = settings.home / "demo-tokens.json"
    with user_sessions() as sessions:
        users = _users(sessions, _saved(tokens_file))
    _save(tokens_file, api_url, users)
    with Api(users["specialist"]["token"]) as specialist:
        try:
            specialist.get("/users/me")
        except CliError as err:
            if err.status != 401:
                raise
            raise CliError(
                f"the API at {api_url} does not know the demo users: run `guarantee demo seed` with the same "
                "GUARANTEE_HOME (or DATABASE_URL) as `guarantee up`"
            ) from None
    stub = EmbeddedStub.find(settings.stub_url_file, embedded_stub_key(settings))
    claims = _claims({role: u["token"] for role, u in users.items()}, stub)
    if json_out:
        out = {"tokens_file": str(tokens_file), "users": users, "claims": claims, "stripe_stub": stub and stub.url}
        print(json.dumps(out, indent=2))
        return
    print(f"Demo users (tokens and web passwords saved to {tokens_file}):")
    rows = [[role, u["name"], u["user_id"], u["password"], u["token"]] for role, u in users.items()]
    table = show.table(["ROLE", "NAME", "ID", "PASSWORD", "TOKEN"], rows, width=64)
    print("\n".join("  " + line for line in table.splitlines()))
    print("\nDemo claims:")
    page = {"items": claims, "total": len(claims), "offset": 0}
    print("\n".join("  " + line for line in show.claims_table(page).splitlines()[:-1]))
    if stub is None:
        print("  (no payout_failed claim: that needs the embedded Stripe stub, `guarantee up` without STRIPE_API_BASE)")
    pending = next((c["id"] for c in claims if c["status"] == "pending_approval"), None)
    failed = next((c["id"] for c in claims if c["status"] == "payout_failed"), None)
    print("\nTry:")
    print(f"  export GUARANTEE_TOKEN={users['specialist']['token']}")
    print("  guarantee claim list")
    if pending:
        print(f"  guarantee claim show {pending}")
        print(f"  guarantee claim approve {pending} --token {users['manager']['token']}")
    if failed:
        print(
            f'  guarantee claim payout-retry {failed} --reason "new account from the customer" '
            f"--account acct_demo{uuid.uuid4().hex[:6]} --token {users['finance']['token']}"
        )


class EmbeddedStub:
    """The Stripe stub `guarantee up` runs in-process: its address file, its admin routes, the SDK on it."""

    def __init__(self, url: str, key: str):
        self.url = url
        self._sdk = stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)
        self._control = StubControl(url, key)

    @classmethod
    def find(cls, url_file, key: str) -> "EmbeddedStub | None":
        """The stub named in `url_file` if it answers; None for real Stripe, or a stub elsewhere."""
        try:
            url = url_file.read_text().strip().rstrip("/")
        except OSError:
            return None
        if not url:
            return None
        try:
            if httpx.get(f"{url}/_stub/health", timeout=5).json().get("ok") is not True:
                return None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return cls(url, key)

    def charge(self, amount_cents: int, currency: str, description: str) -> str:
        """A card charge on the platform, as the customer's original payment; its id (ch_...)."""
        try:
            made = self._sdk.v1.charges.create(
                params={
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "source": "tok_visa",
                    "description": description,
                }
            )
        except stripe.StripeError as err:
            raise CliError(f"the Stripe stub at {self.url} refused a demo charge: {err.user_message or err}") from None
        return made.id

    def decline(self, account: str) -> None:
        """Transfers to `account` fail (account_invalid) from now on; the other faults stay as they were."""
        try:
            current = self._control.describe_faults()["faults"]
            current["declined_destinations"] = [*current.get("declined_destinations", []), account]
            self._control.faults(**current)
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError) as err:
            raise CliError(f"cannot set up the Stripe stub at {self.url} for the demo: {err}") from None


def _saved(path) -> dict:
    try:
        return json.loads(path.read_text()).get("users", {})
    except (OSError, ValueError, AttributeError):
        return {}


def _save(path, api_url: str, users: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"api_url": api_url, "users": users}, out, indent=2)


def _users(sessions, saved: dict) -> dict:
    """One user per role: the saved one if its token still works, a new token for them if it has expired
    (and they are still active in that role), else a new user. Each has a web password: the saved one
    while it still works, else a new one."""
    from service.sign_in import add_user
    from service.users import UserExists, authenticate, list_users, rotate_token

    users = {}
    current = {u.name: u for u in list_users(sessions)}
    for role in STAFF_ROLES:
        known = saved.get(role.value) or {}
        actor = known.get("token") and authenticate(sessions, known["token"])
        user = current.get(known.get("name"))
        if actor and actor.role == role:
            users[role.value] = _with_password(sessions, known)
            continue
        if user and user.id == known.get("user_id") and user.active and user.role == role:
            new = rotate_token(sessions, user.name, reason="demo seed: the saved token no longer works")
            known = known | {"token": new.token}
            users[role.value] = _with_password(sessions, known)
            continue
        password = _password()
        for n in range(1, 100):
            name = f"demo-{role.value}" + (f"-{n}" if n > 1 else "")
            try:
                actor, token = add_user(sessions, name, role, password)
                break
            except UserExists:
                continue
        else:
            raise CliError(f"cannot find a free name for a demo {role.value}")
        users[role.value] = {"name": actor.name, "user_id": actor.user_id, "token": token, "password": password}
    return users


def _password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters


def _with_password(sessions, known: dict) -> dict:
    """A saved demo user, with the saved password if it still works, else a new one (their web sessions end)."""
    from service.sign_in import password_matches, set_password

    if known.get("password") and password_matches(sessions, known["name"], known["password"]):
        return known
    password = _password()
    set_password(sessions, known["name"], password, reason="demo seed: the saved password no longer works")
    return {"name": known["name"], "user_id": known["user_id"], "token": known["token"], "password": password}


def _claims(tokens: dict, stub: EmbeddedStub | None) -> list[dict]:
    """Six claims, each left in another state; a seventh in payout_failed with the embedded stub."""
    run = uuid.uuid4().hex[:4]
    today = datetime.now(UTC).date()
    with Api(tokens["specialist"]) as spec, Api(tokens["lead"]) as lead:

        def open_(n: int, type: str, amount_cents: int, description: str, days_ago: int = 2, payout=None) -> str:
            claim = spec.post(
                "/claims",
                {
                    "customer_id": f"cus_demo{run}_{n}",
                    "pro_id": f"pro_demo{run}_{n}",
                    "project_id": f"prj_demo{run}_{n}",
                    "type": type,
                    "amount_cents": amount_cents,
                    "currency": "USD",
                    "incident_date": (today - timedelta(days=days_ago)).isoformat(),
                    "channel": "phone" if n % 2 else "email",
                    "description": description,
                    "payout": payout or {"method": "transfer", "account_id": f"acct_demo{run}n{n}"},
                },
            )
            return claim["id"]

        def evidence(claim_id: str, kind: str, source: str, note: str) -> None:
            spec.post(f"/claims/{claim_id}/evidence", {"kind": kind, "source": source, "note": note})

        def ready(claim_id: str) -> None:
            spec.post(f"/claims/{claim_id}/evidence/complete")

        def decide(claim_id: str, body: dict) -> None:
            spec.post(f"/claims/{claim_id}/decision", body)

        ids = []
        # evidence_collection: waiting for the pro's side.
        c = open_(1, "property_damage", 340_000, "The pro's ladder cracked two bathroom tiles while re-grouting.")
        evidence(c, "photo", "customer", "two cracked tiles next to the bathtub")
        ids.append(c)
        # specialist_review: the evidence is in, a decision is due.
        c = open_(2, "work_not_done", 85_000, "The pro took the deposit and never came back to build the fence.")
        evidence(c, "message", "customer", "three unanswered messages to the pro over two weeks")
        evidence(c, "contract", "customer", "quote for 1,700.00 with a 50% deposit")
        ready(c)
        ids.append(c)
        # pending_approval: above a lead's authority, so it waits for a manager.
        c = open_(
            3,
            "property_damage",
            1_200_000,
            "Water came through the ceiling below after the pro re-plumbed the bathroom.",
        )
        evidence(c, "invoice", "customer", "plasterer's invoice for the ceiling below")
        ready(c)
        decide(c, {"outcome": "approve", "amount_cents": 1_150_000, "rationale": "invoice matches; paint excluded"})
        ids.append(c)
        # paid: approved by a lead, the payout goes out; money back, so a refund of the customer's
        # charge when the stub can make one.
        refund = None
        if stub is not None:
            charge = stub.charge(120_000, "USD", f"cabinets, project prj_demo{run}_4")
            refund = {"method": "refund", "charge_id": charge}
        paid = open_(
            4,
            "not_as_agreed",
            120_000,
            "Cabinets were installed in the wrong colour and the pro refused to fix them.",
            payout=refund,
        )
        evidence(paid, "photo", "customer", "photos of the cabinets against the signed order")
        ready(paid)
        decide(paid, {"outcome": "approve", "amount_cents": 120_000, "rationale": "order and photos differ"})
        lead.post(f"/claims/{paid}/approval", {"verdict": "approve", "note": "clear case"})
        ids.append(paid)
        # denied: filed too late for property damage.
        c = open_(
            5, "property_damage", 200_000, "A scratched floor noticed weeks after the move-in cleaning.", days_ago=30
        )
        evidence(c, "photo", "customer", "scratches along the hallway floor")
        ready(c)
        decide(c, {"outcome": "deny", "reason_code": "outside_filing_window", "rationale": "reported 30 days after"})
        lead.post(f"/claims/{c}/approval", {"verdict": "approve", "note": "window is 14 days"})
        ids.append(c)
        # withdrawn: settled between customer and pro.
        c = open_(6, "work_not_done", 40_000, "The pro skipped the second coat of paint in the hallway.")
        spec.post(f"/claims/{c}/withdraw", {"reason": "the customer and the pro settled it between them"})
        ids.append(c)
        # payout_failed: the stub declines the account, so the claim waits for finance.
        if stub is not None:
            closed = f"acct_demo{run}closed"
            stub.decline(closed)
            c = open_(
                7,
                "property_damage",
                45_000,
                "The pro's trailer dented the garage door while unloading.",
                payout={"method": "transfer", "account_id": closed},
            )
            evidence(c, "estimate", "customer", "garage door repair estimate")
            ready(c)
            decide(c, {"outcome": "approve", "amount_cents": 45_000, "rationale": "estimate is fair"})
            lead.post(f"/claims/{c}/approval", {"verdict": "approve", "note": "ok"})
            ids.append(c)

        deadline = time.monotonic() + PAYOUT_DEADLINE_S
        claims = [spec.get(f"/claims/{claim_id}") for claim_id in ids]
        while any(c["status"] in MOVING for c in claims) and time.monotonic() < deadline:
            time.sleep(0.2)
            claims = [c if c["status"] not in MOVING else spec.get(f"/claims/{c['id']}") for c in claims]
        return [_summary(c) for c in claims]


def _summary(claim: dict) -> dict:
    drop = ("evidence", "decisions", "approvals", "payouts", "payout_details", "notifications", "timeline")
    return {k: v for k, v in claim.items() if k not in drop}
