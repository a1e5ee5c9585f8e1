"""One trace follows an approval: the HTTP request, the Update, the payout activity and the Stripe call.

Spans are collected with the OpenTelemetry SDK's in-memory exporter, from a tracer provider this module
installs for the process (a process has one), a client and worker of its own with the tracing interceptor,
and the API app instrumented as `up` instruments it when OTEL_EXPORTER_OTLP_ENDPOINT is set.
"""

import dataclasses
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.worker import Replayer

from api.app import create_app
from mail.out import Mailer, Outbox
from payments.provider import PaymentRequest
from payments.stripe_provider import StripeProvider
from schema.enums import PayoutMethod, Role
from schema.policy import load_policy
from stack import tracing
from stack.config import STUB_API_KEY
from tests.codec_key import CONVERTER
from tests.conftest import AUDIT_KEY, SIGNING_KEY
from tests.test_api import Desk, finish
from worker import build_worker
from workflows.claim import ClaimWorkflow

EXPORTER = InMemorySpanExporter()
ROOT = Path(__file__).resolve().parent.parent


_INSTALLED = []


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The process's tracer provider (installed once), exporting to EXPORTER; cleared for each test."""
    if not _INSTALLED:
        if not tracing.active():
            trace.set_tracer_provider(TracerProvider())
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(EXPORTER))
        _INSTALLED.append(EXPORTER)
    EXPORTER.clear()
    return EXPORTER


@pytest.fixture
async def traced(spans, stack, tmp_path):
    """A Desk on an API app and a worker whose Temporal client traces, as `up`'s do with tracing on."""
    assert tracing.active() and tracing.interceptors()
    target = stack.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=CONVERTER, interceptors=tracing.interceptors())
    queue = f"traced-{uuid.uuid4().hex[:8]}"
    ctx = dataclasses.replace(stack.context(load_policy("v1"), tmp_path / "evidence"), client=client, task_queue=queue)
    mailer = Mailer(Outbox(tmp_path / "outbox"), "claims@guarantee.test", "http://api")
    worker = build_worker(
        client, stack.sessions, _provider(stack), SIGNING_KEY, task_queue=queue, audit_key=AUDIT_KEY, mailer=mailer
    )
    async with worker:
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield Desk(http, stack)


def _provider(stack) -> StripeProvider:
    return StripeProvider(STUB_API_KEY, stack.stub.url, timeout_seconds=5)


async def test_one_trace_from_the_approval_request_to_the_stripe_call(traced, spans):
    _, lead_h = traced.person(Role.lead)
    claim = await traced.pending(12_345)
    spans.clear()
    await traced.approve(claim["id"], lead_h)
    assert await finish(traced.stack, claim["id"]) == "paid"

    found = spans.get_finished_spans()
    by_name = {}
    for span in found:
        by_name.setdefault(span.name, []).append(span)
    [request] = [s for s in found if s.name == "POST /claims/{claim_id}/approval" and s.kind == trace.SpanKind.SERVER]
    one_trace = request.context.trace_id
    for name in (
        "StartWorkflowUpdate:review",
        "HandleUpdate:review",
        "StartActivity:pay_claim",
        "RunActivity:pay_claim",
        "stripe.transfer",
    ):
        assert name in by_name, f"no {name} span; spans: {sorted(by_name)}"
        [span] = by_name[name]
        assert span.context.trace_id == one_trace, f"{name} is in another trace"

    # Parent to child, request to Stripe call.
    ids = {s.context.span_id: s for s in found}
    chain, span = [], by_name["stripe.transfer"][0]
    while span is not None:
        chain.append(span.name)
        span = ids.get(span.parent.span_id) if span.parent else None
    assert chain[0] == "stripe.transfer" and chain[-1] == request.name
    assert chain.index("RunActivity:pay_claim") < chain.index("StartActivity:pay_claim")
    assert chain.index("StartActivity:pay_claim") < chain.index("StartWorkflowUpdate:review")

    # The Stripe span: the idempotency key, and nothing that names a person or an account.
    stripe_span = by_name["stripe.transfer"][0]
    assert stripe_span.attributes["payout.idempotency_key"] == f"claim-{claim['id']}-payout-1"
    assert stripe_span.attributes["payout.amount_cents"] == 12_345
    shown = " ".join(f"{k}={v}" for s in found for k, v in (s.attributes or {}).items())
    assert "acct_" not in shown and "@" not in shown

    # The history replays with the tracing interceptor (the Update headers it reads are in the history) and
    # without it (a worker with tracing off); neither makes spans.
    spans.clear()
    history = await traced.stack.client.get_workflow_handle(f"claim-{claim['id']}").fetch_history()
    for interceptors in ([tracing.Tracing()], []):
        replayer = Replayer(workflows=[ClaimWorkflow], data_converter=CONVERTER, interceptors=interceptors)
        await replayer.replay_workflow(history)
    assert not [s for s in spans.get_finished_spans() if s.name.startswith(("HandleUpdate", "StartActivity"))]


def test_a_refused_stripe_call_records_its_code_and_not_its_message(spans, stub):
    spans.clear()
    provider = StripeProvider(STUB_API_KEY, stub.url, timeout_seconds=5)
    key = f"trace-test-{uuid.uuid4().hex[:8]}"
    request = PaymentRequest(
        idempotency_key=key,
        claim_id="C-x",
        attempt=1,
        amount_cents=100,
        currency="USD",
        method=PayoutMethod.refund,
        destination="ch_does_not_exist",
    )
    with pytest.raises(Exception):  # noqa: B017 - FinalPaymentError or whatever the stub answers
        provider.pay(request)
    [span] = [s for s in spans.get_finished_spans() if (s.attributes or {}).get("payout.idempotency_key") == key]
    assert span.name == "stripe.refund"
    assert span.status.status_code == trace.StatusCode.ERROR
    assert not span.events, "no exception event: Stripe's messages may name the account"
    assert "ch_does_not_exist" not in str(span.to_json())


def test_tracing_is_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    assert tracing.configure() == tracing.active()  # nothing installed by it


def test_spans_are_exported_by_otlp_when_the_endpoint_is_set(tmp_path):
    """In a process of its own (a process has one tracer provider): `configure` with the endpoint set
    installs the OTLP exporter, and a Stripe span reaches a collector as OTLP/HTTP protobuf."""
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "from opentelemetry import trace\n"
        "from stack import tracing\n"
        "assert tracing.configure() and tracing.active() and tracing.interceptors()\n"
        "with trace.get_tracer('payments.stripe_provider').start_as_current_span('stripe.transfer'):\n"
        "    pass\n"
        "trace.get_tracer_provider().shutdown()\n"
    )
    env = {**os.environ, tracing.ENDPOINT_VARIABLE: f"http://127.0.0.1:{server.server_port}", "OTEL_SERVICE_NAME": "t"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    [(path, body)] = received
    assert path == "/v1/traces"
    exported = ExportTraceServiceRequest.FromString(body)
    [resource] = exported.resource_spans
    assert {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"] == "t"
    assert [s.name for scope in resource.scope_spans for s in scope.spans] == ["stripe.transfer"]
