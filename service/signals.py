"""Trend and risk signals across claims, each a rule with its threshold in schema/policies/signals-v*.json.

Read from the database at a moment `now`: claims opened in each rule's window before it.
"""

import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import sessionmaker

from schema import tables
from schema.policy import Policy
from schema.signals import Signal, SignalList, SignalRules


def find(
    sessions: sessionmaker, policy: Policy, rules: SignalRules, now: datetime, claim_id: str | None = None
) -> SignalList:
    """Every signal that holds at `now`; with `claim_id`, only those that touch that claim (its risk flags).

    For one claim only the claims that share its pro, customer, project or type are read, and the
    decisions of whoever approved it: each signal it can be in is then computed over all its claims.
    """
    c, d = tables.Claim, tables.Decision
    longest = max(
        rules.pro_claims.window_days,
        rules.repeat_customer.window_days,
        rules.project_claims.window_days,
        7 * (rules.type_surge.weeks + 1),
    )
    near = rules.near_tier_limit
    claim_query = select(c.id, c.customer_id, c.pro_id, c.project_id, c.type, c.opened_at).where(
        c.opened_at > now - timedelta(days=longest), c.opened_at <= now
    )
    decision_query = select(d.claim_id, d.decided_by, d.amount_cents, d.decided_at).where(
        d.outcome == "approve", d.decided_at > now - timedelta(days=near.window_days), d.decided_at <= now
    )
    with sessions() as db:
        if claim_id is not None:
            one = db.get(tables.Claim, claim_id)
            if one is None:
                return SignalList(at=now.isoformat(), rules_version=rules.version, signals=[])
            claim_query = claim_query.where(
                or_(
                    c.pro_id == one.pro_id,
                    c.customer_id == one.customer_id,
                    c.project_id == one.project_id,
                    c.type == one.type,
                )
            )
            deciders = select(d.decided_by).where(d.claim_id == claim_id, d.outcome == "approve")
            decision_query = decision_query.where(d.decided_by.in_(deciders))
        claims = db.execute(claim_query).all()
        decisions = db.execute(decision_query).all()
    found: list[Signal] = []
    for rule, column in (("pro_claims", 2), ("repeat_customer", 1), ("project_claims", 3)):
        limits = getattr(rules, rule)
        since = now - timedelta(days=limits.window_days)
        groups: dict[str, list[str]] = defaultdict(list)
        for row in claims:
            if row[5] > since:
                groups[row[column]].append(row[0])
        for subject, ids in sorted(groups.items()):
            if len(ids) >= limits.min_claims:
                found.append(
                    Signal(
                        rule=rule,
                        subject=subject,
                        count=len(ids),
                        threshold=f"{limits.min_claims} or more claims in {limits.window_days} days",
                        detail=f"{len(ids)} claims in {limits.window_days} days",
                        claim_ids=sorted(ids),
                    )
                )
    found += _surges(claims, rules, now)
    found += _near_limits(decisions, policy, rules, now)
    if claim_id is not None:
        found = [s for s in found if claim_id in s.claim_ids]
    return SignalList(at=now.isoformat(), rules_version=rules.version, signals=found)


def _surges(claims, rules: SignalRules, now: datetime) -> list[Signal]:
    """A claim type whose count in the last 7 days is over `factor` times its median over the weeks before."""
    surge = rules.type_surge
    weekly: dict[str, list[int]] = defaultdict(lambda: [0] * (surge.weeks + 1))
    latest: dict[str, list[str]] = defaultdict(list)
    for claim_id, _, _, _, claim_type, opened_at in claims:
        weeks_ago = int((now - opened_at) / timedelta(days=7))
        if weeks_ago <= surge.weeks:
            weekly[claim_type][weeks_ago] += 1
            if weeks_ago == 0:
                latest[claim_type].append(claim_id)
    found = []
    for claim_type, counts in sorted(weekly.items()):
        median = statistics.median(counts[1:])
        if counts[0] >= surge.min_count and counts[0] > surge.factor * median:
            found.append(
                Signal(
                    rule="type_surge",
                    subject=claim_type,
                    count=counts[0],
                    threshold=f"over {surge.factor:g}× the median of the {surge.weeks} weeks before "
                    f"(and at least {surge.min_count})",
                    detail=f"{counts[0]} in the last 7 days; weekly median before {median:g}",
                    claim_ids=sorted(latest[claim_type]),
                )
            )
    return found


def _near_limits(decisions, policy: Policy, rules: SignalRules, now: datetime) -> list[Signal]:
    """Approvals decided just under an approval tier's limit, several by the same specialist."""
    near = rules.near_tier_limit
    by_person: dict[tuple[str, str], list[str]] = defaultdict(list)
    for claim_id, decided_by, amount, _ in decisions:
        for tier, limit in policy.authority_cents.items():
            if amount is not None and limit * (1 - near.within_percent / 100) <= amount <= limit:
                by_person[(decided_by, tier)].append(claim_id)
    found = []
    for (person, tier), ids in sorted(by_person.items()):
        if len(ids) >= near.min_claims:
            found.append(
                Signal(
                    rule="near_tier_limit",
                    subject=person,
                    count=len(ids),
                    threshold=f"{near.min_claims} or more approvals within {near.within_percent:g}% under a "
                    f"tier's limit in {near.window_days} days",
                    detail=f"{len(ids)} decisions just under the {tier} limit",
                    claim_ids=sorted(ids),
                )
            )
    return found
