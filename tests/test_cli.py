"""The `guarantee` command line against the real HTTP API (uvicorn on a free port), worker and database.

Each command runs as `starter.main([...])` in a thread, so the API keeps serving in the test's
event loop while the command waits for it.
"""

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

import starter
from schema.enums import Role
from schema.policy import load_policy
from stack.config import STUB_API_KEY
from stack.ports import bind, free_port
from up import serve_site

# Once approved, the payout starts at once: the answer may already show it moving or done.
MONEY_MOVES = "status after approval"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


class Cli:
    def __init__(self, capsys, url: str):
        self.capsys, self.url = capsys, url

    async def __call__(self, *argv: str, token: str | None = None) -> Result:
        self.capsys.readouterr()
        args = [*argv, "--token", token] if token else list(argv)
        code = await asyncio.to_thread(starter.main, args)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    async def ok(self, *argv: str, token: str | None = None) -> Result:
        result = await self(*argv, token=token)
        assert result.code == 0, result.err
        assert result.err == ""
        return result


@pytest.fixture
async def cli(stack, db_url, tmp_path, monkeypatch, capsys):
    """The API served over HTTP on a free port; the CLI pointed at it and at the same database."""
    sock = bind(0)
    server, serving = await serve_site(stack.context(load_policy("v1"), tmp_path / "evidence"), sock)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("GUARANTEE_API_URL", url)
    monkeypatch.setenv("GUARANTEE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("GUARANTEE_TOKEN", raising=False)
    yield Cli(capsys, url)
    server.should_exit = True
    await serving
    sock.close()


def open_args(
    amount: str = "1,250.00",
    type: str = "property_damage",
    incident: date | None = None,
    account: str | None = None,
    charge: str | None = None,
) -> list[str]:
    """`claim open` with fresh ids; payout details (--account, --charge) only when given."""
    tag = uuid.uuid4().hex[:6]
    payout = (["--account", account] if account else []) + (["--charge", charge] if charge else [])
    return [
        "claim", "open", *payout,
        "--customer", f"cus_{tag}", "--pro", f"pro_{tag}", "--project", f"prj_{tag}",
        "--type", type, "--amount", amount, "--currency", "USD",
        "--incident-date", (incident or datetime.now(UTC).date()).isoformat(),
        "--channel", "phone", "--description", "the pro cracked the countertop",
    ]  # fmt: skip


def account() -> str:
    """A made-up connected account; the stub takes any acct_ id it is not told to decline."""
    return f"acct_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def stub_faults(stack):
    """The stub's fault switch; every fault off again after the test, whatever happened."""
    yield stack.stub.control
    stack.stub.control.clear_faults()


async def status_becomes(cli: Cli, claim_id: str, token: str, status: str, within_s: float = 20.0) -> dict:
    deadline = time.monotonic() + within_s
    while True:
        claim = (await cli.ok("claim", "show", claim_id, "--json", token=token)).json
        if claim["status"] == status or time.monotonic() > deadline:
            assert claim["status"] == status
            return claim
        await asyncio.sleep(0.1)


async def test_users_add_prints_the_token_once_and_users_list_shows_them(cli, stack):
    name = f"alice-{uuid.uuid4().hex[:6]}"
    added = await cli.ok("users", "add", name, "--role", "specialist")
    token = re.search(r"token \(shown once\): (gp_\S+)", added.out).group(1)
    me = (await cli.ok("claim", "list", "--json", token=token)).json
    assert me["limit"] == 50

    again = await cli("users", "add", name, "--role", "lead")
    assert again.code == 1
    assert again.err == f"error: a user named {name!r} already exists\n"

    listed = await cli.ok("users", "list")
    header, *rows = listed.out.splitlines()
    assert header.split() == ["NAME", "ROLE", "ID", "CREATED", "(UTC)", "ACTIVE", "TOKEN", "EXPIRES", "(UTC)"]
    assert any(row.split()[:2] == [name, "specialist"] for row in rows)
    as_json = (await cli.ok("users", "list", "--json")).json
    assert {"name": name, "role": "specialist"}.items() <= next(u for u in as_json if u["name"] == name).items()


async def test_a_claim_from_open_to_paid_with_tables_and_json(cli, stack, tmp_path):
    _, specialist = stack.user_with_token(Role.specialist)
    lead_actor, lead = stack.user_with_token(Role.lead)

    to = account()
    opened = await cli.ok(*open_args("1,250.00", account=to), token=specialist)
    line = rf"claim (\w+): evidence_collection, 1,250.00 USD claimed, waiting on u_\w+; pays by transfer to {to}\n"
    claim_id = re.fullmatch(line, opened.out)[1]
    as_json = (await cli.ok("claim", "show", claim_id, "--json", token=specialist)).json
    assert (as_json["amount_cents"], as_json["currency"]) == (125_000, "USD")

    photo = tmp_path / "crack.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    await cli.ok("claim", "evidence", claim_id, "--kind", "photo", "--source", "customer", "--file", str(photo),
                 token=specialist)  # fmt: skip
    noted = await cli.ok("claim", "evidence", claim_id, "--kind", "note", "--source", "pro", "--note", "pro agrees",
                         "--json", token=specialist)  # fmt: skip
    assert [e["source"] for e in noted.json["evidence"]] == ["customer", "pro"]
    assert noted.json["evidence"][0]["file"]["size_bytes"] == 6
    done = await cli.ok("claim", "complete-evidence", claim_id, token=specialist)
    assert done.out.startswith(f"claim {claim_id}: specialist_review")
    decided = await cli.ok("claim", "decide", claim_id, "--approve", "1,000.00", "--rationale", "quote matches",
                           token=specialist)  # fmt: skip
    assert decided.out == f"claim {claim_id}: pending_approval, 1,000.00 USD decided, waiting on tier:lead\n"

    queue = await cli.ok("claim", "list", "--awaiting-me", "--json", token=lead)
    assert claim_id in [c["id"] for c in queue.json["items"]]
    approved = await cli.ok("claim", "approve", claim_id, "--note", "fine", token=lead)
    assert re.match(rf"claim {claim_id}: (approved|paying|paid), 1,000.00 USD decided", approved.out), MONEY_MOVES

    paid = await status_becomes(cli, claim_id, lead, "paid")
    assert paid["payouts"][0]["amount_cents"] == 100_000
    shown = (await cli.ok("claim", "show", claim_id, token=lead)).out
    assert shown.startswith(f"Claim {claim_id}  PAID\n")
    assert re.search(r"claimed\s+1,250.00 USD", shown) and re.search(r"approved\s+1,000.00 USD", shown)
    assert "crack.jpg (6 bytes" in shown
    assert re.search(rf"1\s+approve\s+{lead_actor.user_id}\s+lead\s+fine", shown)
    assert re.search(rf"payout to\s+transfer to {to}, set by u_\w+\n", shown)
    assert re.search(rf"Payout details \(1\)\n.*\n\s+\d+\s+transfer\s+{to}\s+u_\w+", shown)
    assert re.search(r"Payouts \(1\)\n.*\n\s+1\s+1,000.00 USD\s+transfer\s+paid\s+stripe\s+tr_", shown)
    [transfer] = stack.stub.transfers(claim_id)
    assert (transfer.id, transfer.destination, transfer.amount) == (paid["payouts"][0]["provider_ref"], to, 100_000)
    timeline = shown.split("Timeline")[1]
    assert re.search(r"approved\s+pending_approval -> approved\s+" + lead_actor.user_id, timeline)
    assert re.search(r"paid\s+paying -> paid\s+system", timeline)

    table = (await cli.ok("claim", "list", "--status", "paid", "--limit", "500", token=lead)).out.splitlines()
    assert table[0].split()[:4] == ["ID", "STATUS", "TYPE", "CLAIMED"]
    row = next(line for line in table if line.startswith(claim_id))
    assert row.split()[1:6] == ["paid", "property_damage", "1,250.00", "USD", "1,000.00"]
    assert re.fullmatch(r"1-\d+ of \d+", table[-1])


async def test_deny_send_back_and_withdraw(cli, stack):
    _, specialist = stack.user_with_token(Role.specialist)
    _, lead = stack.user_with_token(Role.lead)
    claim_id = (await cli.ok(*open_args("300"), "--json", token=specialist)).json["id"]
    await cli.ok("claim", "complete-evidence", claim_id, token=specialist)
    denied = await cli.ok("claim", "decide", claim_id, "--deny", "insufficient_evidence", "--rationale", "no photos",
                          "--json", token=specialist)  # fmt: skip
    assert denied.json["decisions"][0]["reason_code"] == "insufficient_evidence"
    back = await cli.ok("claim", "send-back", claim_id, "--note", "ask the customer again", token=lead)
    assert back.out.startswith(f"claim {claim_id}: specialist_review")
    gone = await cli.ok("claim", "withdraw", claim_id, "--reason", "customer withdrew", token=specialist)
    assert gone.out == f"claim {claim_id}: withdrawn, 300.00 USD claimed\n"
    shown = (await cli.ok("claim", "show", claim_id, token=lead)).out
    assert re.search(r"sent_back\s+pending_approval -> specialist_review", shown)
    assert re.search(r"withdrawn\s+specialist_review -> withdrawn", shown)


async def test_errors_are_one_line_with_a_non_zero_exit(cli, stack, monkeypatch):
    _, specialist = stack.user_with_token(Role.specialist)
    _, admin = stack.user_with_token(Role.admin)
    claim_id = (await cli.ok(*open_args("100.00", account=account()), "--json", token=specialist)).json["id"]
    await cli.ok("claim", "complete-evidence", claim_id, token=specialist)

    async def fails(code: int, message: str, *argv: str, token: str | None = specialist) -> None:
        result = await cli(*argv, token=token)
        assert result.code == code, result
        assert result.out == ""
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
        assert message in result.err

    await fails(2, "argument --amount: not an amount: '12,50' (write it like 1,250.00)", *open_args("12,50"))
    await fails(2, "argument --amount: not an amount: '-5'", *open_args("-5"))
    await fails(2, "not a date: '31/03/2025'", *open_args()[:-6], "--incident-date", "31/03/2025",
                "--channel", "phone", "--description", "x")  # fmt: skip
    await fails(2, "argument --approve: not an amount: '1.000,00'", "claim", "decide", claim_id,
                "--approve", "1.000,00", "--rationale", "x")  # fmt: skip
    await fails(1, "error: no claim 'c0ffee000000'", "claim", "show", "c0ffee000000")
    await fails(1, "error: no claim 'c0ffee000000'", "claim", "withdraw", "c0ffee000000", "--reason", "x")
    await fails(1, "is more than the 100.00 USD claimed", "claim", "decide", claim_id, "--approve", "100.01",
                "--rationale", "x")  # fmt: skip
    await fails(1, "the admin role cannot do this", *open_args(), token=admin)
    future = datetime.now(UTC).date() + timedelta(days=3)
    await fails(1, "the incident date is in the future", *open_args(incident=future))
    await fails(1, "error: the token is not valid", "claim", "list", token="gp_not_a_token")
    await fails(1, "error: no token: pass --token or set GUARANTEE_TOKEN", "claim", "list", token=None)
    await fails(1, "error: evidence needs --note, --file or both", "claim", "evidence", claim_id,
                "--kind", "photo", "--source", "customer")  # fmt: skip
    await fails(1, "error: cannot read", "claim", "evidence", claim_id, "--kind", "photo", "--source", "customer",
                "--file", "/nonexistent/photo.jpg")  # fmt: skip
    await fails(2, "argument --deny: invalid choice", "claim", "decide", claim_id, "--deny", "nope", "--rationale", "x")
    await fails(
        2, "argument --charge: not allowed with argument --account", *open_args(account="acct_1", charge="ch_1")
    )
    await fails(1, "error: payout.account_id: String should match pattern", *open_args(account="acct_no-dashes"))
    await fails(1, "refunds are for money-back claims", *open_args(charge="ch_1"))
    await fails(2, "one of the arguments --account --charge is required", "claim", "payout-details", claim_id)
    await fails(1, "error: charge_id: String should match pattern", "claim", "payout-details", claim_id,
                "--charge", "re_123")  # fmt: skip
    await fails(2, "the following arguments are required: --reason", "claim", "payout-cancel", claim_id)

    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GUARANTEE_API_URL", down)
    await fails(1, f"error: the API is not running at {down}: start it with `guarantee up`", "claim", "list")


async def test_the_api_address_comes_from_the_file_up_writes(cli, stack, monkeypatch, tmp_path):
    _, specialist = stack.user_with_token(Role.specialist)
    monkeypatch.delenv("GUARANTEE_API_URL")
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "api-url").write_text(cli.url + "\n")
    monkeypatch.setenv("GUARANTEE_TOKEN", specialist)
    assert (await cli.ok("claim", "list", "--json")).json["offset"] == 0


async def test_demo_seed_leaves_claims_in_every_state_and_reuses_its_users(cli, stack, tmp_path, stub_faults):
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "stripe-stub-url").write_text(stack.stub.url + "\n")  # as `up` with the embedded stub
    (tmp_path / "home" / "stripe-stub-key").write_text(STUB_API_KEY + "\n")  # and its key (stack.config)
    first = (await cli.ok("demo", "seed", "--json")).json
    assert set(first["users"]) == {"specialist", "lead", "manager", "director", "finance", "admin", "legal"}
    assert [c["status"] for c in first["claims"]] == [
        "evidence_collection", "specialist_review", "pending_approval", "paid", "denied", "withdrawn", "payout_failed",
    ]  # fmt: skip
    assert first["stripe_stub"] == stack.stub.url
    finance = first["users"]["finance"]["token"]
    paid = (await cli.ok("claim", "show", first["claims"][3]["id"], "--json", token=finance)).json
    [details] = paid["payout_details"]
    assert details["method"] == "refund" and details["destination"].startswith("ch_")
    [payout] = paid["payouts"]
    refund = stack.stub.client.v1.refunds.retrieve(payout["provider_ref"])
    assert (payout["method"], refund.charge, refund.amount) == ("refund", details["destination"], 120_000)
    failed = (await cli.ok("claim", "show", first["claims"][6]["id"], "--json", token=finance)).json
    assert [(p["status"], p["failure_code"]) for p in failed["payouts"]] == [("failed", "account_invalid")]
    assert failed["assignee"] == "tier:finance"
    for claim in first["claims"][:3] + first["claims"][4:6]:
        shown = (await cli.ok("claim", "show", claim["id"], "--json", token=finance)).json
        assert [d["method"] for d in shown["payout_details"]] == ["transfer"]
    saved = json.loads((tmp_path / "home" / "demo-tokens.json").read_text())
    assert saved["users"] == first["users"]
    manager = first["users"]["manager"]["token"]
    pending = first["claims"][2]["id"]
    approved = await cli.ok("claim", "approve", pending, token=manager)
    assert re.match(rf"claim {pending}: (approved|paying|paid), 11,500.00 USD decided", approved.out), MONEY_MOVES

    second = await cli.ok("demo", "seed")
    for role, user in first["users"].items():
        row = rf"^  {role}\s+{user['name']}\s+{user['user_id']}\s+{re.escape(user['password'])}\s+{user['token']}$"
        assert re.search(row, second.out, re.M), "the same users, tokens and passwords"
    assert "Demo claims:" in second.out and second.out.count("pending_approval") >= 1
    assert "guarantee claim payout-retry" in second.out


async def test_demo_seed_without_the_embedded_stub_skips_the_refused_payout(cli, stack):
    seeded = (await cli.ok("demo", "seed", "--json")).json
    assert seeded["stripe_stub"] is None
    assert [c["status"] for c in seeded["claims"]] == [
        "evidence_collection", "specialist_review", "pending_approval", "paid", "denied", "withdrawn",
    ]  # fmt: skip
    finance = seeded["users"]["finance"]["token"]
    paid = (await cli.ok("claim", "show", seeded["claims"][3]["id"], "--json", token=finance)).json
    assert [(p["method"], p["status"]) for p in paid["payouts"]] == [("transfer", "paid")]
    table = await cli.ok("demo", "seed")
    assert "(no payout_failed claim: that needs the embedded Stripe stub" in table.out


async def test_payout_details_set_at_opening_then_changed_and_paid_by_refund(cli, stack):
    _, specialist = stack.user_with_token(Role.specialist)
    _, lead = stack.user_with_token(Role.lead)
    first = account()
    opened = await cli.ok(*open_args("600.00", type="not_as_agreed", account=first), "--json", token=specialist)
    claim_id = opened.json["id"]
    assert [(d["method"], d["destination"]) for d in opened.json["payout_details"]] == [("transfer", first)]

    charge = stack.stub.client.v1.charges.create(params={"amount": 60_000, "currency": "usd", "source": "tok_visa"})
    changed = await cli.ok("claim", "payout-details", claim_id, "--charge", charge.id, token=specialist)
    assert changed.out == (
        f"claim {claim_id}: evidence_collection, 600.00 USD claimed, waiting on {opened.json['assignee']}; "
        f"pays by refund of {charge.id}\n"
    )
    await cli.ok("claim", "complete-evidence", claim_id, token=specialist)
    await cli.ok("claim", "decide", claim_id, "--approve", "500.00", "--rationale", "half the doors", token=specialist)
    await cli.ok("claim", "approve", claim_id, token=lead)
    paid = await status_becomes(cli, claim_id, lead, "paid")
    [payout] = paid["payouts"]
    refund = stack.stub.client.v1.refunds.retrieve(payout["provider_ref"])
    assert (payout["method"], refund.charge, refund.amount) == ("refund", charge.id, 50_000)
    assert stack.stub.transfers(claim_id) == []

    shown = (await cli.ok("claim", "show", claim_id, token=lead)).out
    assert re.search(rf"payout to\s+refund of {charge.id}, set by u_\w+\n", shown)
    details = shown.split("Payout details (2)\n")[1].split("\n\n")[0].splitlines()
    assert details[0].split() == ["#", "METHOD", "DESTINATION", "ADDED", "BY", "AT", "(UTC)"]
    assert [row.split()[1:3] for row in details[1:]] == [["transfer", first], ["refund", charge.id]]
    assert re.search(r"Payouts \(1\)\n.*\n\s+1\s+500.00 USD\s+refund\s+paid\s+stripe\s+re_", shown)
    assert re.search(r"payout_details_added\s+-\s+u_\w+ \(specialist\)\s+refund #\d+", shown)

    late = await cli("claim", "payout-details", claim_id, "--account", account(), token=specialist)
    assert (late.code, late.out, late.err) == (1, "", "error: the claim is paid; it can no longer change\n")
    assert len((await cli.ok("claim", "show", claim_id, "--json", token=lead)).json["payout_details"]) == 2


async def refused(cli: Cli, stack, specialist: str, lead: str, to: str) -> str:
    """A claim approved for 100.00 to `to`, an account the stub declines: it ends in payout_failed."""
    claim_id = (await cli.ok(*open_args("100.00", account=to), "--json", token=specialist)).json["id"]
    await cli.ok("claim", "complete-evidence", claim_id, token=specialist)
    await cli.ok("claim", "decide", claim_id, "--approve", "100.00", "--rationale", "ok", token=specialist)
    await cli.ok("claim", "approve", claim_id, token=lead)
    return claim_id


async def test_finance_retries_a_refused_payout_to_new_details_and_cancels_another(cli, stack, stub_faults):
    _, specialist = stack.user_with_token(Role.specialist)
    _, lead = stack.user_with_token(Role.lead)
    finance_actor, finance = stack.user_with_token(Role.finance)
    declined = [account(), account()]
    stub_faults.faults(declined_destinations=declined)
    retried = await refused(cli, stack, specialist, lead, declined[0])
    cancelled = await refused(cli, stack, specialist, lead, declined[1])
    await status_becomes(cli, retried, finance, "payout_failed")
    await status_becomes(cli, cancelled, finance, "payout_failed")
    stub_faults.clear_faults()

    queue = (await cli.ok("claim", "list", "--awaiting-me", "--status", "payout_failed", "--json", token=finance)).json
    assert {retried, cancelled} <= {c["id"] for c in queue["items"]}
    shown = (await cli.ok("claim", "show", retried, token=finance)).out
    assert shown.startswith(f"Claim {retried}  PAYOUT_FAILED\n")
    assert re.search(r"assignee\s+tier:finance\n", shown)
    assert re.search(r"Payouts \(1\)\n.*\n\s+1\s+100.00 USD\s+transfer\s+failed\s+stripe\s+account_invalid", shown)

    async def fails(code: int, message: str, *argv: str, token: str) -> None:
        result = await cli(*argv, token=token)
        assert (result.code, result.out) == (code, ""), result
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
        assert message in result.err, result.err

    retry = ("claim", "payout-retry", retried, "--reason", "new account")
    await fails(1, "error: the specialist role cannot do this (allowed: finance)", *retry, token=specialist)
    await fails(1, "error: the lead role cannot do this (allowed: finance)", "claim", "payout-cancel", retried,
                "--reason", "x", token=lead)  # fmt: skip
    await fails(1, "error: payout.account_id: String should match pattern", *retry, "--account", "acct_bad-id",
                token=finance)  # fmt: skip
    await fails(1, "refunds are for money-back claims", *retry, "--charge", "ch_123", token=finance)
    await fails(2, "argument --charge: not allowed with argument --account", *retry, "--account", "acct_1",
                "--charge", "ch_1", token=finance)  # fmt: skip
    await fails(2, "the following arguments are required: --reason", "claim", "payout-retry", retried, token=finance)
    still = (await cli.ok("claim", "show", retried, "--json", token=finance)).json
    assert (still["status"], [d["destination"] for d in still["payout_details"]]) == ("payout_failed", declined[:1])

    fixed = account()
    again = await cli.ok(*retry, "--account", fixed, token=finance)
    assert re.fullmatch(
        rf"claim {retried}: specialist_review, 100.00 USD claimed, waiting on u_\w+; pays by transfer to {fixed}\n",
        again.out,
    ), "new details go back to the specialist for a new decision and approval"
    await cli.ok("claim", "decide", retried, "--approve", "100.00", "--rationale", "new account", token=specialist)
    await fails(1, "error: you set the payout details this decision pays", "claim", "approve", retried, token=finance)
    await cli.ok("claim", "approve", retried, token=lead)
    paid = await status_becomes(cli, retried, finance, "paid")
    assert [(p["attempt"], p["method"], p["status"]) for p in paid["payouts"]] == [
        (1, "transfer", "failed"),
        (2, "transfer", "paid"),
    ]
    assert [d["destination"] for d in paid["payout_details"]] == [declined[0], fixed]
    [transfer] = stack.stub.transfers(retried)
    assert (transfer.id, transfer.destination, transfer.amount) == (paid["payouts"][1]["provider_ref"], fixed, 10_000)
    await fails(1, "error: the claim is paid; it can no longer change", *retry, token=finance)

    ended = await cli.ok("claim", "payout-cancel", cancelled, "--reason", "paid by cheque outside the platform",
                         token=finance)  # fmt: skip
    assert ended.out == f"claim {cancelled}: payout_cancelled, 100.00 USD decided\n"
    shown = (await cli.ok("claim", "show", cancelled, token=finance)).out
    assert shown.startswith(f"Claim {cancelled}  PAYOUT_CANCELLED\n")
    timeline = shown.split("Timeline")[1]
    assert re.search(
        rf"payout_cancelled\s+payout_failed -> payout_cancelled\s+{finance_actor.user_id} \(finance\)\s+"
        "paid by cheque outside the platform",
        timeline,
    )
    assert stack.stub.transfers(cancelled) == []
    await fails(1, "error: the claim is payout_cancelled; it can no longer change", "claim", "payout-cancel",
                cancelled, "--reason", "again", token=finance)  # fmt: skip


async def test_text_from_the_api_reaches_the_terminal_without_control_characters(cli, stack, tmp_path):
    """A description, a note, a file name carrying terminal escapes, a bell and a bidi override: shown
    without them, in the claim, the list and the one-line answers."""
    _, specialist = stack.user_with_token(Role.specialist)
    hostile = "cracked \x1b[31mRED\x1b[0m\x07 counter\x1b]0;owned\x07top \u202eevil\x9b2J"
    args = open_args("100.00")
    args[args.index("--description") + 1] = hostile
    opened = await cli.ok(*args, "--json", token=specialist)
    claim_id = opened.json["id"]
    assert opened.json["description"] == hostile, "the API keeps what was typed; only the terminal is spared"
    photo = tmp_path / "ab.jpg"  # a file name with control characters is refused (tests/test_inputs.py)
    photo.write_bytes(b"jpeg")
    await cli.ok("claim", "evidence", claim_id, "--kind", "photo", "--source", "customer", "--file", str(photo),
                 "--note", "see \x1b[1mthis\x1b[0m\x07 and \x1b[8mhidden", token=specialist)  # fmt: skip

    shown = (await cli.ok("claim", "show", claim_id, token=specialist)).out
    listed = (await cli.ok("claim", "list", "--limit", "500", token=specialist)).out
    line = (await cli.ok("claim", "complete-evidence", claim_id, token=specialist)).out
    for out in (shown, listed, line):
        bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e"]
        assert bad == [], bad
    assert re.search(r"description\s+cracked RED countertop evil\n", shown), shown
    assert "see this and hidden" in shown and "ab.jpg (4 bytes" in shown


async def test_the_parties_email_addresses_at_opening_and_later(cli, stack):
    _, specialist = stack.user_with_token(Role.specialist)
    opened = await cli.ok(*open_args(), "--customer-email", "Ana@Example.com", "--json", token=specialist)
    claim_id = opened.json["id"]
    await cli.ok("claim", "contacts", claim_id, "--pro-email", "pro@fixers.example", token=specialist)
    shown = (await cli.ok("claim", "show", claim_id, token=specialist)).out
    assert re.search(r"customer email\s+ana@example.com\n\s+pro email\s+pro@fixers.example", shown)
    none = await cli("claim", "contacts", claim_id, token=specialist)
    assert (none.code, none.err) == (1, "error: give --customer-email, --pro-email or both\n")
    bad = await cli("claim", "contacts", claim_id, "--pro-email", "not an address", token=specialist)
    assert bad.code == 1 and "write an email address like name@example.com" in bad.err
