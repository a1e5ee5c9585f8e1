"""Logs are JSON lines carrying the request id, the claim id and the workflow id wherever they are known."""

import dataclasses
import io
import json
import logging

import pytest
from opentelemetry import trace
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from schema.enums import Role
from schema.names import claim_workflow_id
from stack import logs
from tests.test_api import Desk


@pytest.fixture
def lines():
    """Every log line of the test, as the JSON handler writes it (INFO and up)."""
    stream = io.StringIO()
    found = logs.handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(found)
    root.setLevel(logging.INFO)

    def parsed() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield parsed
    root.removeHandler(found)
    root.setLevel(level)


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def test_one_request_acting_on_a_claim_logs_json_lines_with_its_ids(desk, lines):
    claim = await desk.open()
    before = len(lines())
    r = await desk.client.post(
        f"/claims/{claim['id']}/evidence/complete", headers={**desk.specialist_h, "X-Request-ID": "req-42.abc"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "req-42.abc"
    mine = [line for line in lines()[before:] if line["request_id"] == "req-42.abc"]
    assert {line["logger"] for line in mine} >= {"service.claims", "guarantee.http"}
    for line in mine:
        assert line["claim_id"] == claim["id"], line
        assert line["workflow_id"] == f"claim-{claim['id']}", line
        assert line["level"] and line["time"] and line["message"]
    [done] = [line for line in mine if line["logger"] == "guarantee.http"]
    assert (done["route"], done["status"], done["method"]) == ("/claims/{claim_id}/evidence/complete", 200, "POST")
    [acted] = [line for line in mine if line["logger"] == "service.claims"]
    assert acted["action"] == "complete_evidence"


async def test_a_request_without_a_usable_id_gets_a_new_one(desk, lines):
    _, admin_h = desk.person(Role.admin)
    r = await desk.client.get("/claims", headers={**admin_h, "X-Request-ID": "no spaces or newlines\n"})
    assert r.status_code == 200
    given = r.headers["x-request-id"]
    assert len(given) == 32 and " " not in given
    [line] = [line for line in lines() if line["request_id"] == given]
    assert line["claim_id"] is None and line["workflow_id"] is None and line["route"] == "/claims"
    other = await desk.client.get("/healthz")
    assert other.headers["x-request-id"] != given


def test_an_activity_logs_its_workflow_and_claim(lines):
    @activity.defn
    def work() -> None:
        logging.getLogger("activities.test").info("paying")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="claim-C-1")
    env.run(work)
    [line] = [line for line in lines() if line["logger"] == "activities.test"]
    assert (line["claim_id"], line["workflow_id"], line["request_id"]) == ("C-1", "claim-C-1", None)


def test_a_workflow_logger_line_names_its_workflow(lines):
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "stuck", (), None)
    record.temporal_workflow = {"workflow_id": "claim-C-2", "run_id": "r"}
    logging.getLogger("temporalio.workflow").handle(record)
    [line] = [line for line in lines() if line["message"] == "stuck"]
    assert (line["claim_id"], line["workflow_id"]) == ("C-2", "claim-C-2")
    assert "temporal_workflow" not in line


def test_text_or_json_by_setting(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        monkeypatch.setenv(logs.FORMAT_VARIABLE, "text")
        assert logs.configure() == "text"
        monkeypatch.setenv(logs.FORMAT_VARIABLE, "yaml")
        with pytest.raises(SystemExit, match="json or text"):
            logs.configure()
        monkeypatch.delenv(logs.FORMAT_VARIABLE)
        assert logs.configure() == "json"
        assert isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_the_logs_know_claim_workflow_ids_as_schema_names_them():
    assert logs._CLAIM_WORKFLOW + "C-3" == claim_workflow_id("C-3")


def test_a_line_logged_in_a_trace_names_it():
    with_lines = io.StringIO()
    log = logging.getLogger("tests.traced")
    log.addHandler(logs.handler("json", with_lines))
    log.setLevel(logging.INFO)
    context = trace.SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=trace.TraceFlags(1))
    try:
        with trace.use_span(trace.NonRecordingSpan(context)):
            log.info("inside")
        log.info("outside")
    finally:
        log.handlers.clear()
    inside, outside = (json.loads(line) for line in with_lines.getvalue().splitlines())
    assert inside["trace_id"] == f"{0xABC:032x}" and outside["trace_id"] is None
