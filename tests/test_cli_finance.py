"""`guarantee finance`: the payout ledger and reconciliations, against the real HTTP API, worker and stub.

As in tests/test_cli.py, each command runs as `starter.main([...])` in a thread while the API serves
in the test's event loop; reconciliations reuse tests/test_reconciliation.py's planted days.
"""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from cli.finance import wait_until_done
from cli.http import CliError
from schema.enums import Role
from schema.finance import FindingView, ReconciliationCounts
from stack.ports import free_port
from tests.test_cli import account, open_args, status_becomes
from tests.test_cli import cli as cli  # noqa: F401 (a fixture)
from tests.test_reconciliation import DAYS, Books, expected
from tests.test_reconciliation import planted as planted  # noqa: F401 (a fixture)

DISCREPANCY_KINDS = {
    "missing_at_provider",
    "missing_in_ledger",
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",
    "duplicate",
}
EMPTY_DAY = "2039-06-01"  # nothing is ever planted there


def lines_after(out: str, title: str) -> list[str]:
    """The table under a section title, up to the next blank line."""
    return [line.strip() for line in out.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].splitlines()]


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_payouts_of_a_paid_claim_as_a_table_json_and_csv(cli, stack):
    _, specialist = stack.user_with_token(Role.specialist)
    _, lead = stack.user_with_token(Role.lead)
    _, finance = stack.user_with_token(Role.finance)
    claim_id = (await cli.ok(*open_args("1,300.00", account=account()), "--json", token=specialist)).json["id"]
    await cli.ok("claim", "complete-evidence", claim_id, token=specialist)
    await cli.ok("claim", "decide", claim_id, "--approve", "1,234.56", "--rationale", "quote", token=specialist)
    await cli.ok("claim", "approve", claim_id, token=lead)
    [payout] = (await status_becomes(cli, claim_id, lead, "paid"))["payouts"]
    day = datetime.fromisoformat(payout["created_at"]).astimezone(UTC).date().isoformat()
    that_day = ("finance", "payouts", "--from", day, "--to", day, "--type", "property_damage")

    shown = (await cli.ok(*that_day, "--limit", "500", token=finance)).out
    header, *listed = shown.split("\n\n")[0].splitlines()
    assert header.split() == [
        "CREATED", "(UTC)", "CLAIM", "TYPE", "ATTEMPT", "STATUS", "METHOD", "AMOUNT", "REFERENCE", "COMPLETED", "(UTC)",
    ]  # fmt: skip
    [row] = [line for line in listed if f" {claim_id} " in line]
    assert row.split()[2:10] == [
        claim_id, "property_damage", "1", "paid", "transfer", "1,234.56", "USD", payout["provider_ref"],
    ]  # fmt: skip
    assert re.fullmatch(r"1-(\d+) of \1", listed[-1]), listed[-1]

    ledger = (await cli.ok(*that_day, "--limit", "500", "--json", token=finance)).json
    [mine] = [p for p in ledger["items"] if p["claim_id"] == claim_id]
    assert (mine["amount_cents"], mine["currency"], mine["status"]) == (123_456, "USD", "paid")
    [paid_total] = [t for t in ledger["by_day"] if (t["group"], t["status"], t["currency"]) == (day, "paid", "USD")]
    by_day = lines_after(shown, "Totals by day (UTC), every matching payout")
    amount = f"{paid_total['amount_cents'] // 100:,}.{paid_total['amount_cents'] % 100:02d}"
    assert [r.split() for r in by_day[1:] if r.split()[:2] == [day, "paid"]] == [
        [day, "paid", str(paid_total["count"]), amount, "USD"]
    ]
    by_type = lines_after(shown, "Totals by claim type, every matching payout")
    assert by_type[0].split() == ["TYPE", "STATUS", "COUNT", "AMOUNT"]
    assert ["property_damage", "paid", str(paid_total["count"]), amount, "USD"] in [r.split() for r in by_type]

    exported = await cli.ok(*that_day, "--csv", token=finance)
    assert exported.out.startswith("created_utc,claim_id,claim_type,attempt,idempotency_key,status,method,amount,")
    [line] = [r for r in rows(exported.out) if r["claim_id"] == claim_id]
    assert (line["amount"], line["currency"], line["status"], line["provider_ref"]) == (
        "1234.56", "usd", "paid", payout["provider_ref"],
    )  # fmt: skip
    assert len(rows(exported.out)) == ledger["total"], "the CSV has every matching payout"


async def test_payouts_of_days_of_their_own_with_exact_totals(cli, stack):
    """Ledger rows planted on two days nobody else uses, so every total is known."""
    day = next(DAYS)
    books = Books(stack, day)
    big, small, refused, next_day = (books.claim() for _ in range(4))
    books.ledger(big, 123_456, ref="tr_big")
    books.ledger(small, 2_000, ref="tr_small", at=books.noon + timedelta(hours=1))
    books.ledger(refused, 800, status="failed", at=books.noon + timedelta(hours=2))
    books.ledger(next_day, 5, ref="tr_next", at=books.noon + timedelta(days=1))
    _, admin = stack.user_with_token(Role.admin)
    d, d1 = day.isoformat(), (day + timedelta(days=1)).isoformat()

    one = (await cli.ok("finance", "payouts", "--from", d, "--to", d, token=admin)).out
    assert [line.split()[2] for line in one.splitlines()[1:4]] == [refused, small, big]  # newest first
    assert one.splitlines()[1].split()[5:9] == ["failed", "transfer", "8.00", "USD"]
    assert one.splitlines()[4] == "1-3 of 3"
    assert [r.split() for r in lines_after(one, "Totals by day (UTC), every matching payout")] == [
        ["DAY", "STATUS", "COUNT", "AMOUNT"],
        [d, "failed", "1", "8.00", "USD"],
        [d, "paid", "2", "1,254.56", "USD"],
    ]
    assert [r.split() for r in lines_after(one, "Totals by claim type, every matching payout")][1:] == [
        ["work_not_done", "failed", "1", "8.00", "USD"],
        ["work_not_done", "paid", "2", "1,254.56", "USD"],
    ]

    two = (await cli.ok("finance", "payouts", "--from", d, "--to", d1, "--status", "paid", "--limit", "1",
                        "--offset", "1", token=admin)).out  # fmt: skip
    assert two.splitlines()[1].split()[2] == small and two.splitlines()[2] == "2-2 of 3"
    assert [r.split()[:3] for r in lines_after(two, "Totals by day (UTC), every matching payout")[1:]] == [
        [d, "paid", "2"],
        [d1, "paid", "1"],
    ]
    past = await cli.ok("finance", "payouts", "--from", d, "--to", d, "--offset", "3", token=admin)
    assert past.out.startswith("no payouts from 4 on (3 match)\n")
    none = await cli.ok("finance", "payouts", "--from", EMPTY_DAY, "--to", EMPTY_DAY, token=admin)
    assert none.out == "no payouts\n"
    empty_csv = await cli.ok("finance", "payouts", "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--csv", token=admin)
    assert len(empty_csv.out.splitlines()) == 1  # the header only


async def test_reconcile_a_planted_day_exits_3_with_every_kind_and_a_csv(cli, stack, planted, tmp_path):
    day, kinds = planted
    finance_actor, finance = stack.user_with_token(Role.finance)
    export = tmp_path / "findings.csv"
    d = day.isoformat()

    ran = await cli("finance", "reconcile", "--from", d, "--to", d, "--csv", str(export), token=finance)
    assert (ran.code, ran.err) == (3, ""), ran
    head, *_ = ran.out.splitlines()
    run_id = re.fullmatch(r"Reconciliation (reconciliation-\w+)  DONE: 6 discrepancies", head)[1]
    assert re.search(rf"days\s+{d} \(UTC, whole days\)\n\s+requested by\s+{finance_actor.user_id}\n", ran.out)
    counts = {line.split()[0]: line.split()[1:] for line in lines_after(ran.out, "Lines by kind")[1:]}
    want = expected(kinds)
    assert {kind: int(n) for kind, (n, *_) in counts.items() if int(n)} == want
    assert {kind: flag for kind, (_, flag) in counts.items()} == {
        kind: "no" if kind in ("matched", "no_money_moved") else "yes" for kind in ReconciliationCounts.model_fields
    }
    found = lines_after(ran.out, "Discrepancies (6)")
    assert found[0].split()[:4] == ["KIND", "CLAIM", "LEDGER", "PROVIDER"]
    assert sorted((line.split()[0], line.split()[1]) for line in found[1:]) == sorted(
        (kind, claim) for claim, kind in kinds.items() if kind in DISCREPANCY_KINDS
    )
    amounts = next(line for line in found if line.startswith("amount_mismatch")).split()
    assert amounts[2:5] == ["10.00", "9.00", "USD"]
    assert ran.out.endswith(f"\n\nevery discrepancy, as CSV: {export}\n")

    saved = export.read_text()
    assert saved.splitlines()[0].split(",") == list(FindingView.model_fields)
    assert sorted((r["claim_id"], r["kind"]) for r in rows(saved)) == sorted(
        (claim, kind) for claim, kind in kinds.items() if kind in DISCREPANCY_KINDS
    )
    assert list(tmp_path.iterdir()) == [export], "no partial file left beside it"

    report = await cli.ok("finance", "report", run_id, token=finance)
    assert report.out == ran.out.removesuffix(f"\nevery discrepancy, as CSV: {export}\n")
    as_json = (await cli.ok("finance", "report", run_id, "--json", token=finance)).json
    assert (as_json["status"], as_json["discrepancies"], len(as_json["findings"])) == ("done", 6, 6)
    assert {k: v for k, v in as_json["counts"].items() if v} == want
    assert (await cli.ok("finance", "report", run_id, "--csv", token=finance)).out == saved
    paged = (await cli.ok("finance", "report", run_id, "--limit", "2", "--offset", "2", token=finance)).out
    assert len(lines_after(paged, "Discrepancies (6)")) == 1 + 2 + 1
    assert paged.endswith("\n  shown: 3-4 of 6; every one with --csv\n")

    listed = (await cli.ok("finance", "reconciliations", "--limit", "500", token=finance)).out.splitlines()
    assert listed[0].split()[:5] == ["ID", "FROM", "TO", "STATUS", "DISCREPANCIES"]
    [row] = [line for line in listed if line.startswith(run_id)]
    assert row.split()[1:6] == [d, d, "done", "6", finance_actor.user_id]

    again = await cli("finance", "reconcile", "--from", d, "--to", d, "--json", token=finance)
    assert again.code == 3 and again.err == ""
    assert again.json["id"] != run_id and again.json["discrepancies"] == 6


async def test_reconcile_an_empty_day_exits_0(cli, stack, tmp_path):
    _, admin = stack.user_with_token(Role.admin)
    export = tmp_path / "none.csv"
    ran = await cli.ok("finance", "reconcile", "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--csv", str(export),
                       token=admin)  # fmt: skip
    assert re.fullmatch(r"Reconciliation reconciliation-\w+  DONE: no discrepancies", ran.out.splitlines()[0])
    assert {line.split()[1] for line in lines_after(ran.out, "Lines by kind")[1:]} == {"0"}
    assert "\nDiscrepancies: none\n" in ran.out
    assert export.read_text().splitlines() == [",".join(FindingView.model_fields)]
    as_json = (await cli.ok("finance", "reconcile", "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--json",
                            token=admin)).json  # fmt: skip
    assert (as_json["status"], as_json["discrepancies"], as_json["findings"]) == ("done", 0, [])


async def test_finance_errors_are_one_line_with_a_non_zero_exit(cli, stack, monkeypatch, tmp_path):
    _, specialist = stack.user_with_token(Role.specialist)
    _, finance = stack.user_with_token(Role.finance)

    async def fails(code: int, message: str, *argv: str, token: str | None = finance) -> None:
        result = await cli(*argv, token=token)
        assert (result.code, result.out) == (code, ""), result
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
        assert message in result.err, result.err

    forbidden = "error: the specialist role cannot do this (allowed: admin, finance)\n"
    for argv in (
        ("finance", "payouts"),
        ("finance", "payouts", "--csv"),
        ("finance", "reconcile", "--from", EMPTY_DAY, "--to", EMPTY_DAY),
        ("finance", "reconciliations"),
        ("finance", "report", "reconciliation-000000000000"),
    ):
        result = await cli(*argv, token=specialist)
        assert (result.code, result.out, result.err) == (1, "", forbidden), argv

    await fails(2, "argument --from: not a date: '2031-02-30' (write it like 2025-03-31)",
                "finance", "payouts", "--from", "2031-02-30")  # fmt: skip
    await fails(2, "argument --to: not a date: '31/03/2031'", "finance", "reconcile", "--from", "2031-03-01",
                "--to", "31/03/2031")  # fmt: skip
    await fails(2, "the following arguments are required: --to", "finance", "reconcile", "--from", "2031-03-01")
    await fails(2, "argument --status: invalid choice: 'refunded'", "finance", "payouts", "--status", "refunded")
    await fails(2, "argument --csv: not allowed with argument --json", "finance", "payouts", "--json", "--csv")
    await fails(2, "argument --wait-seconds: not a number of seconds: '0'", "finance", "reconcile",
                "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--wait-seconds", "0")  # fmt: skip
    await fails(1, "error: `to` is before `from`", "finance", "payouts", "--from", "2031-03-11", "--to", "2031-03-10")
    await fails(1, "error: `to` is before `from`", "finance", "reconcile", "--from", "2031-03-11", "--to", "2031-03-10")
    await fails(1, "error: a range is at most 366 days", "finance", "reconcile", "--from", "2030-01-01",
                "--to", "2031-03-10")  # fmt: skip
    await fails(2, "argument --limit: not a whole number from 1 to 500: '501'", "finance", "payouts", "--limit", "501")
    await fails(2, "argument --offset: not a whole number 0 or more: '-1'", "finance", "report", "x", "--offset", "-1")
    await fails(1, "error: no reconciliation 'reconciliation-000000000000'", "finance", "report",
                "reconciliation-000000000000")  # fmt: skip
    await fails(1, "error: no reconciliation 'nope'", "finance", "report", "nope", "--csv")

    before = len((await cli.ok("finance", "reconciliations", "--limit", "500", "--json", token=finance)).json)
    nowhere = tmp_path / "absent" / "x.csv"
    await fails(1, f"error: cannot write {nowhere}: No such file or directory", "finance", "reconcile",
                "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--csv", str(nowhere))  # fmt: skip
    await fails(1, f"error: cannot write {tmp_path}: it is a directory", "finance", "reconcile",
                "--from", EMPTY_DAY, "--to", EMPTY_DAY, "--csv", str(tmp_path))  # fmt: skip
    after = len((await cli.ok("finance", "reconciliations", "--limit", "500", "--json", token=finance)).json)
    assert after == before, "an unwritable --csv fails before any reconciliation starts"

    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GUARANTEE_API_URL", down)
    await fails(1, f"error: the API is not running at {down}", "finance", "payouts", "--csv")
    await fails(1, f"error: the API is not running at {down}", "finance", "reconcile", "--from", EMPTY_DAY,
                "--to", EMPTY_DAY)  # fmt: skip


class Running:
    """An API whose reconciliation never finishes, or ends `status`."""

    def __init__(self, status: str = "running"):
        self.status, self.looks = status, 0

    def get(self, path: str, **params) -> dict:
        self.looks += 1
        assert params == {"limit": 0}
        return {"id": path.rsplit("/", 1)[1], "status": self.status}


def test_waiting_stops_at_the_deadline_with_where_to_read_the_report_later():
    now = [0.0]
    pauses = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    api = Running()
    with pytest.raises(CliError) as err:
        wait_until_done(api, "reconciliation-1", 10, sleep=sleep, clock=lambda: now[0])
    assert str(err.value) == (
        "reconciliation reconciliation-1 is still running after 10 s; "
        "read it later with `guarantee finance report reconciliation-1`"
    )
    assert pauses[0] == 0.2 and max(pauses) == 2.0 and sum(pauses) == pytest.approx(10)
    assert api.looks == len(pauses) + 1

    with pytest.raises(CliError, match="reconciliation r ended failed; read it later"):
        wait_until_done(Running("failed"), "r", 10, sleep=sleep, clock=lambda: now[0])

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match=r"interrupted; reconciliation r goes on: read it later"):
        wait_until_done(Running(), "r", 10, sleep=interrupted)
