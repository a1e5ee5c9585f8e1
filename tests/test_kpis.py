"""The KPI report on claims planted with known timestamps: every figure computed by hand here.

The period is 2040-03-05 (a Monday) to 2040-03-18, two ISO weeks; nothing else is ever planted then.
"""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from schema.enums import ClaimStatus as S
from schema.enums import Role
from schema.kpis import Breakdown
from service import kpis
from service.users import add_user
from tests.planting import Event, Planter
from tests.test_cli import cli as cli  # noqa: F401 (a fixture)

FROM, TO = date(2040, 3, 5), date(2040, 3, 18)
T0 = datetime(2040, 3, 5, 9, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)


_PLANTED: dict[int, SimpleNamespace] = {}  # per database: the period is planted once, whoever asks first


@pytest.fixture(scope="module")
def planted(sessions):
    """Seven claims in and around the period, two reconciliations inside it and one after."""
    if id(sessions) not in _PLANTED:
        _PLANTED[id(sessions)] = _plant(sessions)
    return _PLANTED[id(sessions)]


def _plant(sessions) -> SimpleNamespace:
    s1, _ = add_user(sessions, f"Sam One {uuid.uuid4().hex[:8]}", Role.specialist)
    s2, _ = add_user(sessions, f"Sue Two {uuid.uuid4().hex[:8]}", Role.specialist)
    p = Planter(sessions)
    a = p.claim(
        s1.user_id,
        T0,
        [
            Event("evidence_completed", T0 + H, S.specialist_review),
            Event("decided", T0 + 2 * H, S.pending_approval),
            Event("approved", T0 + 5 * H, S.approved),
            Event("payout_started", T0 + 5 * H, S.paying),
            Event("paid", T0 + 6 * H, S.paid),
        ],
        amount_cents=100_000,
        decided_by=s1.user_id,
        tier="manager",
        approved_cents=80_000,
        payouts=[("paid", 80_000, T0 + 6 * H, None)],
    )
    b = p.claim(
        s1.user_id,
        T0 + D,
        [
            Event("evidence_completed", T0 + D + H, S.specialist_review),
            Event("sla_breached", T0 + D + 3 * H, reason="decision SLA"),
            Event("decided", T0 + D + 4 * H, S.pending_approval),
            Event("sent_back", T0 + D + 5 * H, S.specialist_review),
            Event("decided", T0 + D + 7 * H, S.pending_approval),
            Event("denied", T0 + D + 8 * H, S.denied, reason="excluded_peril"),
        ],
        type="work_not_done",
        channel="email",
        amount_cents=20_000,
        decided_by=s1.user_id,
        tier="lead",
        breaches=["decision"],
    )
    c = p.claim(
        s2.user_id, T0 + 8 * D, [Event("withdrawn", T0 + 9 * D, S.withdrawn)], channel="web", amount_cents=500_000
    )
    d = p.claim(
        s2.user_id,
        T0 + 8 * D,
        [Event("evidence_window_closed", T0 + 10 * D, S.closed_no_evidence)],
        type="not_as_agreed",
        amount_cents=15_000,
    )
    e = p.claim(  # opened before the period, escalated, approved and refused by the provider in it
        s2.user_id,
        T0 - 10 * D,
        [
            Event("evidence_completed", T0 - 10 * D + H, S.specialist_review),
            Event("decided", T0 - 9 * D, S.pending_approval),
            Event("escalated", T0 + H, reason="approval SLA breached; escalated to director"),
            Event("approved", T0 + 2 * H, S.approved),
            Event("payout_started", T0 + 2 * H, S.paying),
            Event("payout_failed", T0 + 3 * H, S.payout_failed, reason="account_closed: closed"),
        ],
        channel="chat",
        amount_cents=300_000,
        decided_by=s2.user_id,
        tier="director",
        approved_cents=300_000,
        breaches=["approval"],
        payouts=[("failed", 300_000, T0 + 3 * H, "account_closed")],
    )
    f = p.claim(s2.user_id, datetime(2040, 3, 18, 23, 59, 59, tzinfo=UTC), amount_cents=7_000, currency="EUR")
    g = p.claim(s2.user_id, datetime(2040, 3, 19, tzinfo=UTC), amount_cents=9_999)  # the day after: not in it
    p.reconciliation(T0 + D, [("missing_at_provider", "k1", a), ("amount_mismatch", "k2", e)])
    p.reconciliation(T0 + 2 * D, [("missing_at_provider", "k1", a)])  # the same discrepancy found again
    p.reconciliation(datetime(2040, 3, 19, 1, tzinfo=UTC), [("duplicate", "k3", a)])
    return SimpleNamespace(sessions=sessions, s1=s1, s2=s2, a=a, b=b, c=c, d=d, e=e, f=f, g=g)


def cycle(count, p50, p90, top):
    return {"count": count, "p50_seconds": p50, "p90_seconds": p90, "max_seconds": top}


def test_every_figure_of_the_period(planted):
    total = kpis.report(planted.sessions, FROM, TO).total.model_dump()
    # Opened: a, b, c, d and f (at 23:59:59 on the last day); e before, g after.
    assert (total["opened"], total["resolved"]) == (5, 4)
    assert (total["paid"], total["denied"], total["withdrawn"], total["closed_no_evidence"]) == (1, 1, 1, 1)
    assert total["payout_cancelled"] == 0
    times = total["cycle_times"]
    # First decisions in the period: a after 2 h, b after 4 h (e decided before it).
    assert times["open_to_decision"] == cycle(2, 2 * 3600, 4 * 3600, 4 * 3600)
    # Last decision to the confirming review: b 1 h, a 3 h, e 9 days and 2 h. Nearest rank: ceil(.5*3)=2, ceil(.9*3)=3.
    e_wait = 9 * 86400 + 2 * 3600
    assert times["decision_to_approval"] == cycle(3, 3 * 3600, e_wait, e_wait)
    assert times["approval_to_paid"] == cycle(1, 3600, 3600, 3600)
    # a 6 h, b 8 h, c 1 day, d 2 days: p50 the 2nd, p90 the 4th.
    assert times["open_to_final"] == cycle(4, 8 * 3600, 2 * 86400, 2 * 86400)
    assert total["sla_breaches"] == {"decision": 1, "approval": 1}
    assert (total["resolved_with_breach"], total["breach_share"]) == (1, 0.25)
    # First reviews: a confirmed, e confirmed, b sent back.
    assert (total["first_reviews"], total["approved_at_first_review"]) == (3, 2)
    assert total["first_review_approval_rate"] == pytest.approx(2 / 3)
    # Reviews: a approved, b sent back, b denied, e approved.
    assert (total["reviews"], total["sent_back"], total["send_back_rate"]) == (4, 1, 0.25)
    assert total["amounts"] == [
        {"currency": "EUR", "claimed_cents": 7_000, "approved_cents": 0, "paid_cents": 0},
        {"currency": "USD", "claimed_cents": 635_000, "approved_cents": 380_000, "paid_cents": 80_000},
    ]
    assert total["paid_to_claimed_ratio"] == 0.8
    assert total["denials_by_reason"] == {"excluded_peril": 1}
    assert (total["payout_failures"], total["payout_failures_by_code"]) == (1, {"account_closed": 1})
    assert total["discrepancies_by_kind"] == {"amount_mismatch": 1, "missing_at_provider": 1}


def test_mediated_claims_count_as_resolved_apart_from_payouts_and_denials(sessions):
    """A week of its own (2041-06-02, a Monday): two agreements kept or left to expire, one broken."""
    monday = datetime(2041, 6, 2, 9, tzinfo=UTC)
    who, _ = add_user(sessions, f"Mia Three {uuid.uuid4().hex[:8]}", Role.specialist)
    p = Planter(sessions)
    for outcome, ends, status in (
        ("mediation_kept", 2 * D, S.resolved_by_mediation),
        ("mediation_expired", 3 * D, S.resolved_by_mediation),
        ("mediation_broken", D, S.specialist_review),  # back to review: not resolved
    ):
        agreed = Event("mediation_agreed", monday + H, S.mediation)
        p.claim(who.user_id, monday, [agreed, Event(outcome, monday + ends, status)], amount_cents=30_000)
    found = kpis.report(sessions, date(2041, 6, 2), date(2041, 6, 8))
    total = found.total
    assert (total.opened, total.resolved, total.mediated, total.paid, total.denied, total.withdrawn) == (
        3,
        2,
        2,
        0,
        0,
        0,
    )
    # Opened to final: 2 days (kept) and 3 days (expired); nearest rank: p50 the 1st, p90 the 2nd.
    assert total.cycle_times["open_to_final"].model_dump() == cycle(2, 2 * 86400, 3 * 86400, 3 * 86400)
    assert (total.paid_to_claimed_ratio, total.amounts[0].paid_cents, total.breach_share) == (None, 0, 0.0)
    rows = list(csv.DictReader(io.StringIO(kpis.csv_text(found))))
    assert (rows[0]["resolved"], rows[0]["mediated"]) == ("2", "2")


def test_one_day_periods_hold_only_their_own_events(planted):
    day = kpis.report(planted.sessions, T0.date(), T0.date()).total
    # 2040-03-05: a opened, decided, approved, paid; e escalated, approved, refused; b not yet opened.
    assert (day.opened, day.paid, day.resolved, day.payout_failures) == (1, 1, 1, 1)
    assert day.sla_breaches == {"decision": 0, "approval": 1}
    assert day.discrepancies_by_kind == {}
    after = kpis.report(planted.sessions, date(2040, 3, 19), date(2040, 3, 19)).total
    assert (after.opened, after.resolved, after.discrepancies_by_kind) == (1, 0, {"duplicate": 1})


def by(planted, breakdown) -> dict:
    found = kpis.report(planted.sessions, FROM, TO, breakdown)
    return {g.group: g for g in found.groups}


def test_by_type(planted):
    groups = by(planted, Breakdown.type)
    assert set(groups) == {"property_damage", "work_not_done", "not_as_agreed"}
    pd, wnd, naa = groups["property_damage"], groups["work_not_done"], groups["not_as_agreed"]
    # property_damage: a, c, e, f (e opened before the period).
    assert (pd.opened, pd.paid, pd.withdrawn, pd.resolved, pd.payout_failures) == (3, 1, 1, 2, 1)
    assert pd.discrepancies_by_kind == {"amount_mismatch": 1, "missing_at_provider": 1}
    assert pd.cycle_times["decision_to_approval"].count == 2
    assert (wnd.opened, wnd.denied, wnd.reviews, wnd.send_back_rate, wnd.breach_share) == (1, 1, 2, 0.5, 1.0)
    assert (wnd.first_reviews, wnd.first_review_approval_rate) == (1, 0.0)
    assert (naa.opened, naa.closed_no_evidence, naa.cycle_times["open_to_final"].max_seconds) == (1, 1, 2 * 86400)
    assert naa.amounts[0].claimed_cents == 15_000 and naa.payout_failures == 0


def test_by_channel_tier_and_specialist(planted):
    channels = by(planted, Breakdown.channel)
    assert {k: v.opened for k, v in channels.items()} == {"phone": 3, "email": 1, "web": 1, "chat": 0}
    assert channels["chat"].payout_failures == 1 and channels["phone"].payout_failures == 0
    tiers = by(planted, Breakdown.tier)
    assert {k: (v.opened, v.resolved) for k, v in tiers.items()} == {
        "manager": (1, 1),
        "lead": (1, 1),
        "director": (0, 0),
        "none": (3, 2),
    }
    assert tiers["director"].sla_breaches == {"decision": 0, "approval": 1}
    people = by(planted, Breakdown.specialist)
    one, two = people[planted.s1.user_id], people[planted.s2.user_id]
    assert one.label == planted.s1.name and two.label == planted.s2.name
    assert (one.opened, one.paid, one.denied, one.reviews) == (2, 1, 1, 3)
    assert (two.opened, two.withdrawn, two.closed_no_evidence, two.reviews) == (3, 1, 1, 1)


def test_by_week(planted):
    weeks = by(planted, Breakdown.week)
    assert list(weeks) == ["2040-03-05", "2040-03-12"]
    first, second = weeks["2040-03-05"], weeks["2040-03-12"]
    assert (first.opened, first.resolved, first.paid, first.denied, first.payout_failures) == (2, 2, 1, 1, 1)
    assert (second.opened, second.resolved, second.withdrawn, second.closed_no_evidence) == (3, 2, 1, 1)
    assert first.label == "week of 2040-03-05"
    assert [a.claimed_cents for a in second.amounts] == [7_000, 515_000]


def test_a_period_of_one_midweek_day_is_one_week_group(planted):
    found = kpis.report(planted.sessions, date(2040, 3, 14), date(2040, 3, 14), Breakdown.week)
    assert [g.group for g in found.groups] == ["2040-03-12"]
    # c was withdrawn that day (2040-03-14 09:00); d closed the day after.
    assert found.groups[0].withdrawn == 1 and found.total.resolved == 1 and found.total.closed_no_evidence == 0


# The same report through the API, the command line and CSV.


@pytest.fixture
def desk(api, stack):
    from tests.test_api import Desk

    return Desk(api, stack)


async def test_the_api_answers_leads_finance_and_admin_with_the_same_figures(planted, desk):
    from tests.test_api import assert_error

    params = {"from": "2040-03-05", "to": "2040-03-18", "by": "type"}
    expected = kpis.report(planted.sessions, FROM, TO, Breakdown.type).model_dump(mode="json")
    for role in (Role.lead, Role.manager, Role.director, Role.finance, Role.admin):
        r = await desk.client.get("/kpis", params=params, headers=desk.person(role)[1])
        assert r.status_code == 200, r.text
        assert r.json() == expected
    assert_error(await desk.client.get("/kpis", params=params, headers=desk.specialist_h), 403, "forbidden")
    lead = desk.person(Role.lead)[1]
    r = await desk.client.get("/kpis", params=params, headers=lead | {"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["group"] for row in rows] == ["all", "not_as_agreed", "property_damage", "work_not_done"]
    assert (rows[0]["opened"], rows[0]["claimed_USD"], rows[0]["claimed_EUR"]) == ("5", "6350.00", "70.00")
    assert rows[0]["open_to_final_p50_seconds"] == "28800.0"
    assert rows[0]["denials_by_reason"] == "excluded_peril=1"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2040-03-19", "to": "2040-03-18"},
        {"from": "2039-01-01", "to": "2040-03-18"},
        {"from": "2040-13-01"},
        {"by": "pro"},
    ],
)
async def test_bad_periods_and_breakdowns_are_422(desk, params):
    from tests.test_api import assert_error

    assert_error(await desk.client.get("/kpis", params=params, headers=desk.person(Role.lead)[1]), 422)


def test_the_default_period_is_the_last_seven_days():
    found = kpis.period(None, None, today=date(2040, 3, 18))
    assert (found.date_from, found.date_to) == (date(2040, 3, 12), date(2040, 3, 18))
    assert kpis.period(None, date(2040, 3, 5)).date_from == date(2040, 2, 28)


async def test_the_command_prints_tables_json_and_csv(planted, cli, stack):
    _, lead = stack.user_with_token(Role.lead)
    days = ["--from", "2040-03-05", "--to", "2040-03-18"]
    out = (await cli.ok("kpis", *days, "--by", "week", token=lead)).out
    assert out.startswith("KPIs 2040-03-05 to 2040-03-18 (UTC days), by week\n")
    claims = out.split("\nClaims\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert claims[1].split() == ["All", "claims", "5", "4", "1", "1", "1", "1", "0", "0"]
    assert claims[2].split()[3:] == ["2", "2", "1", "1", "0", "0", "0", "0"]
    assert "6,350.00" in out and "excluded_peril 1" in out
    found = (await cli.ok("kpis", *days, "--json", token=lead)).json
    assert found["total"]["opened"] == 5 and found["groups"] == []
    text = (await cli.ok("kpis", *days, "--csv", token=lead)).out
    assert text.splitlines()[0].startswith("group,label,opened,resolved")
    _, specialist = stack.user_with_token(Role.specialist)
    refused = await cli("kpis", *days, token=specialist)
    assert refused.code == 1 and refused.err.startswith("error: ")
