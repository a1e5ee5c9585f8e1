"""ops/alerts.yml: well-formed Prometheus alerting rules, one for each thing the issue names, and every
metric an expression reads is one GET /metrics exports (or Prometheus' own `up`)."""

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parent.parent / "ops" / "alerts.yml"
PROMETHEUS_OWN = {"up"}  # the series Prometheus writes for every scrape target
FUNCTIONS_AND_WORDS = {
    "sum", "max", "min", "avg", "count", "increase", "rate", "histogram_quantile", "absent", "time",
    "by", "without", "and", "or", "unless", "offset", "on", "ignoring", "bool", "le",
}  # fmt: skip
NEEDED = {
    "stuck claims": "GuaranteeClaimsStuck",
    "payout failures": "GuaranteePayoutFailures",
    "SLA breaches rising": "GuaranteeSlaBreachesRising",
    "reconciliation discrepancies": "GuaranteeReconciliationDiscrepancies",
    "the worker being down": "GuaranteeWorkerDown",
}


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside {labels}, [ranges], strings and
    `by (...)` lists, that are neither functions nor keywords."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\w+", " ", text)
    names = set()
    for found in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", text):
        if not text[found.end() :].lstrip().startswith("("):  # a function's name
            names.add(found.group())
    return names - FUNCTIONS_AND_WORDS


def test_the_rules_are_well_formed_and_cover_the_issue():
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["expr"].strip() and rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]
    missing = {what: alert for what, alert in NEEDED.items() if alert not in names}
    assert not missing


def test_the_parser_finds_metric_names_only():
    expr = 'sum by (code) (increase(a_total{job="x"}[1h])) > 1.5 * b offset 7d and absent(up{job="w"})'
    assert metric_names(expr) == {"a_total", "b", "up"}


@pytest.fixture
async def exported(api) -> set[str]:
    r = await api.get("/metrics")
    assert r.status_code == 200
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    # The series names Prometheus stores for each family, whether or not it has a sample yet.
    return {f.name + end for f in text_string_to_metric_families(r.text) for end in suffixes[f.type]}


async def test_every_expression_reads_only_metrics_that_are_exported(exported):
    for rule in rules():
        unknown = metric_names(rule["expr"]) - exported - PROMETHEUS_OWN
        assert not unknown, f"{rule['alert']} reads {unknown}, which /metrics does not export"
    assert {"guarantee_api_request_duration_seconds_bucket", "guarantee_actions_total", "guarantee_claims"} <= exported
