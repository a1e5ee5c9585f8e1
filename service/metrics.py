"""Operations metrics in Prometheus' text format, for engineers on call.

Two kinds:
- counted in this process as things happen: people's actions by kind and outcome (`service.claims._act`
  and opening), the API's request latency by route template (`api.metrics.Timing`), and the latency of
  the activities this process's worker ran, by activity type and outcome (`ActivityTiming`, a worker
  interceptor: under `guarantee up` the worker's process writes them to the files the API's /metrics reads);
- read from the database at scrape time, so every API process reports the same figures: claims by
  status, stuck claims, payouts by status and provider error code, SLA breaches recorded, and the
  discrepancies of the latest reconciliation.

Who reads it: `GET /metrics` is public, as the interface contract says, unless GUARANTEE_METRICS_TOKEN is
set; then it takes `Authorization: Bearer <that token>` (Prometheus' `authorization` scrape setting)
and nothing else, not even a user's token.
"""

import asyncio
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from temporalio import activity
from temporalio.exceptions import CancelledError as ActivityCancelled
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from schema import tables
from schema.enums import ClaimStatus, PayoutStatus

PREFIX = "guarantee"
# Metric names the alerting rules (ops/alerts.yml) may use; tests/test_metrics.py checks both ways.
ACTIONS = f"{PREFIX}_actions"
REQUEST_SECONDS = f"{PREFIX}_api_request_duration_seconds"
ACTIVITY_SECONDS = f"{PREFIX}_activity_duration_seconds"
CLAIMS = f"{PREFIX}_claims"
STUCK = f"{PREFIX}_stuck_claims"
PAYOUTS = f"{PREFIX}_payouts"
PAYOUT_FAILURES = f"{PREFIX}_payout_failures"
SLA_BREACHES = f"{PREFIX}_sla_breaches"
DISCREPANCIES = f"{PREFIX}_reconciliation_discrepancies"
RECONCILIATION_AGE = f"{PREFIX}_reconciliation_last_finished_timestamp_seconds"
SCRAPE_ERRORS = f"{PREFIX}_metrics_database_errors"


# Counted in this process: every app in it shares them, as a process's counters do.
_PROCESS = CollectorRegistry(auto_describe=True)
ACTIONS_DONE = Counter(
    ACTIONS,
    "People's actions on claims through the service, by action and outcome (ok, or the refusal's code)",
    ["action", "outcome"],
    registry=_PROCESS,
)
REQUESTS = Histogram(
    REQUEST_SECONDS,
    "HTTP API request latency by method, route template and status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=_PROCESS,
)

ACTIVITIES = Histogram(
    ACTIVITY_SECONDS,
    "Temporal activity latency in this process's worker, by activity type and outcome (ok, error, cancelled)",
    ["activity", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=_PROCESS,
)


def acted(action: str, outcome: str) -> None:
    ACTIONS_DONE.labels(action=action, outcome=outcome).inc()


def timed(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, route=route, status=str(status)).observe(seconds)


class _ProcessCollector(Collector):
    def collect(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # `up`: its worker's process counts into the same files
            yield from MultiProcessCollector(None).collect()
            return
        yield from ACTIONS_DONE.collect()
        yield from REQUESTS.collect()
        yield from ACTIVITIES.collect()


class ActivityTiming(Interceptor):
    """Worker interceptor: times each activity attempt into ACTIVITY_SECONDS.

    `error` is an attempt that raised (Temporal may retry it), `cancelled` one that was cancelled.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TimedActivity(next)


class _TimedActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput):
        name, outcome, start = activity.info().activity_type, "error", time.perf_counter()
        try:
            result = await super().execute_activity(input)
            outcome = "ok"
            return result
        except (asyncio.CancelledError, ActivityCancelled):
            outcome = "cancelled"
            raise
        finally:
            ACTIVITIES.labels(activity=name, outcome=outcome).observe(time.perf_counter() - start)


def registry(sessions: sessionmaker) -> CollectorRegistry:
    """What one app's /metrics shows: this process's counters and its database's figures."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_ProcessCollector())
    found.register(DatabaseCollector(sessions))
    return found


def exposition(found: CollectorRegistry) -> bytes:
    return generate_latest(found)


class DatabaseCollector(Collector):
    """Figures read from the system of record at each scrape: a handful of grouped counts on indexed columns."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def describe(self):
        return []  # no description at registration: that would query the database

    def collect(self):
        errors = GaugeMetricFamily(SCRAPE_ERRORS, "1 when the database could not be read for this scrape")
        try:
            families = list(self._read())
        except Exception:  # a scrape still answers, saying the database could not be read
            errors.add_metric([], 1)
            yield errors
            return
        errors.add_metric([], 0)
        yield errors
        yield from families

    def _read(self):
        c, p, a = tables.Claim, tables.Payout, tables.AuditEntry
        with self.sessions() as db:
            by_status = dict(db.execute(select(c.status, func.count()).group_by(c.status)).all())
            stuck = db.scalar(select(func.count()).where(c.stuck_since.is_not(None)))
            payouts = db.execute(
                select(p.status, p.failure_code, func.count(), func.coalesce(func.sum(p.amount_cents), 0)).group_by(
                    p.status, p.failure_code
                )
            ).all()
            breaches = db.execute(
                select(a.action, a.reason, func.count())
                .where(a.action.in_(("sla_breached", "escalated")))
                .group_by(a.action, a.reason)
            ).all()
            r = tables.Reconciliation
            latest = db.execute(
                select(r.id, r.finished_at).where(r.finished_at.is_not(None)).order_by(r.finished_at.desc()).limit(1)
            ).first()
            findings = []
            if latest is not None:
                f = tables.ReconciliationFinding
                findings = db.execute(
                    select(f.kind, func.count()).where(f.reconciliation_id == latest[0]).group_by(f.kind)
                ).all()
        claims = GaugeMetricFamily(CLAIMS, "Claims by status, now", labels=["status"])
        for status in ClaimStatus:
            claims.add_metric([status.value], by_status.get(status.value, 0))
        yield claims
        yield _gauge(STUCK, "Claims whose process could not record a step, now", stuck or 0)
        count = GaugeMetricFamily(PAYOUTS, "Payout attempts in the ledger by status, now", labels=["status"])
        failures = CounterMetricFamily(
            PAYOUT_FAILURES, "Payout attempts the provider refused, by its error code", labels=["code"]
        )
        totals = dict.fromkeys((s.value for s in PayoutStatus), 0)
        for status, code, n, _ in payouts:
            totals[status] = totals.get(status, 0) + n
            if status == PayoutStatus.failed:
                failures.add_metric([code or "unknown"], n)
        for status, n in totals.items():
            count.add_metric([status], n)
        yield count
        yield failures
        kinds = {"decision": 0, "approval": 0}
        for action, reason, n in breaches:
            kind = "decision" if action == "sla_breached" and (reason or "").startswith("decision") else "approval"
            kinds[kind] += n
        sla = CounterMetricFamily(SLA_BREACHES, "SLA breaches recorded on claims, by kind", labels=["kind"])
        for kind, n in kinds.items():
            sla.add_metric([kind], n)
        yield sla
        found = GaugeMetricFamily(
            DISCREPANCIES, "Discrepancies the latest finished reconciliation found, by kind", labels=["kind"]
        )
        for kind, n in findings:
            found.add_metric([kind], n)
        yield found
        age = GaugeMetricFamily(RECONCILIATION_AGE, "When the latest reconciliation finished (Unix time)")
        if latest is not None:
            age.add_metric([], latest[1].timestamp())
        yield age


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family
