"""Each signal rule at its threshold and just below it, on claims planted at known moments.

Each test has a year of its own (2042 on), so no other claim falls in its windows.
"""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from schema.enums import Role
from schema.policy import load_policy
from schema.signals import load_signal_rules
from service import signals
from service.users import add_user
from tests.planting import Planter
from tests.test_cli import cli as cli  # noqa: F401 (a fixture)

RULES = load_signal_rules()
POLICY = load_policy()
YEARS = count(2042)
DAY = timedelta(days=1)


@pytest.fixture
def world(sessions):
    now = datetime(next(YEARS), 6, 30, 12, tzinfo=UTC)
    person, _ = add_user(sessions, f"signals-{now.year}-{id(sessions)}", Role.specialist)
    return Planter(sessions), person.user_id, now


def found(sessions, now, rule: str) -> list:
    return [s for s in signals.find(sessions, POLICY, RULES, now).signals if s.rule == rule]


def test_the_rules_are_versioned_data():
    assert RULES.version == "signals-v1"
    assert (RULES.pro_claims.min_claims, RULES.pro_claims.window_days) == (3, 90)


@pytest.mark.parametrize(
    ("rule", "field"), [("pro_claims", "pro"), ("repeat_customer", "customer"), ("project_claims", "project")]
)
def test_claims_by_one_party_at_the_threshold_and_just_below(sessions, world, rule, field):
    planter, person, now = world
    limits = getattr(RULES, rule)
    window = timedelta(days=limits.window_days)
    # One claim opened just outside the window never counts.
    planter.claim(person, now - window, **{field: "at"})
    at = [planter.claim(person, now - window + DAY * (i + 1), **{field: "at"}) for i in range(limits.min_claims)]
    for i in range(limits.min_claims - 1):
        planter.claim(person, now - DAY * (i + 1), **{field: "below"})
    [signal] = found(sessions, now, rule)
    assert (signal.subject, signal.count, signal.claim_ids) == ("at", limits.min_claims, sorted(at))


def test_a_claim_type_over_twice_its_median(sessions, world):
    planter, person, now = world
    surge = RULES.type_surge
    # Eight weeks before: 2 work_not_done and 3 not_as_agreed claims each week (medians 2 and 3).
    for week in range(1, surge.weeks + 1):
        for claim_type, n in (("work_not_done", 2), ("not_as_agreed", 3)):
            for _ in range(n):
                planter.claim(person, now - timedelta(days=7 * week + 1), type=claim_type)
    # The last 7 days: work_not_done 5 (over 2 × 2), not_as_agreed 6 (exactly 2 × 3: not over).
    for claim_type, n in (("work_not_done", 5), ("not_as_agreed", 6)):
        for _ in range(n):
            planter.claim(person, now - DAY, type=claim_type)
    [signal] = found(sessions, now, "type_surge")
    assert (signal.subject, signal.count, len(signal.claim_ids)) == ("work_not_done", 5, 5)
    assert "median before 2" in signal.detail


def test_amounts_just_under_a_tier_limit_by_one_specialist(sessions, world):
    planter, person, now = world
    other, _ = add_user(sessions, f"signals-other-{now.year}-{id(sessions)}", Role.specialist)
    near = RULES.near_tier_limit
    limit = POLICY.authority_cents[Role.lead]
    lowest = int(limit * (1 - near.within_percent / 100))
    amounts = [limit, lowest, limit - 1]  # at the limit, at the band's floor, in between
    for amount in amounts[: near.min_claims]:
        planter.claim(person, now - DAY, decisions=[(amount, person, now - DAY)])
    for amount in [lowest - 1, *amounts[: near.min_claims - 1]]:  # the same at one below the floor: two only
        planter.claim(other.user_id, now - DAY, decisions=[(amount, other.user_id, now - DAY)])
    [signal] = found(sessions, now, "near_tier_limit")
    assert (signal.subject, signal.count) == (person, near.min_claims)
    assert "lead limit" in signal.detail


async def test_leads_read_the_signals_through_the_api_and_the_command(sessions, world, api, stack, cli):
    from tests.test_api import assert_error, auth

    planter, person, now = world
    for i in range(RULES.pro_claims.min_claims):
        planter.claim(person, now - DAY * (i + 1), pro="pro_busy")
    _, lead = stack.user_with_token(Role.lead)
    r = await api.get("/signals", params={"at": now.date().isoformat()}, headers=auth(lead))
    assert r.status_code == 200, r.text
    busy = [s for s in r.json()["signals"] if s["rule"] == "pro_claims"]
    assert [(s["subject"], s["count"]) for s in busy] == [("pro_busy", 3)]
    _, specialist = stack.user_with_token(Role.specialist)
    assert_error(await api.get("/signals", headers=auth(specialist)), 403, "forbidden")
    out = (await cli.ok("signals", "--at", now.date().isoformat(), token=lead)).out
    assert out.startswith(f"Signals at {now.date()}T23:59:59+00:00 (rules signals-v1)")
    assert "pro_claims" in out and "pro_busy" in out
