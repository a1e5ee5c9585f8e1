"""Traces with OpenTelemetry: the HTTP API, Temporal (client, workflows, activities) and the Stripe calls.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then `configure()` installs a tracer provider exporting
spans by OTLP over HTTP (the exporter's own OTEL_* settings apply; the service is OTEL_SERVICE_NAME, else
`guarantee`). Without one, no tracer provider is installed, the clients get no tracing interceptor and
the API no instrumentation, and the few spans the code opens itself (`stripe.*`) are the API's no-ops.

One trace follows an approval from the HTTP request to the Stripe call. Temporal's `TracingInterceptor`
puts what a workflow does into the trace of whoever *started* the workflow (the request that opened the
claim) and only links each Update's handling to the Update's sender. `Tracing` keeps that, except:
- an Update's handler runs in the sender's trace (`HandleUpdate:review` is a child of the client's
  `StartWorkflowUpdate:review`), so the activities it starts are in that trace too;
- the activities in `FOLLOW_LATEST_UPDATE` (the payout), which the workflow's main loop starts after an
  Update changed the claim, join the trace of the latest Update the workflow handled: the approval, or
  finance's retry. The latest Update is read from the history's Update headers, so a replay finds the
  same one.
"""

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import opentelemetry.context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from temporalio import worker
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# The SDK's workflow-side outbound tracing interceptor is not exported; we extend its start_activity only.
from temporalio.contrib.opentelemetry._interceptor import _TracingWorkflowOutboundInterceptor

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "guarantee"
# Activities the workflow's main loop starts because of a person's action: traced with that action's Update.
FOLLOW_LATEST_UPDATE = frozenset({"pay_claim"})


def configure() -> bool:
    """Install the OTLP-exporting tracer provider when OTEL_EXPORTER_OTLP_ENDPOINT is set; True if tracing is on."""
    if not os.environ.get(ENDPOINT_VARIABLE):
        return active()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", SERVICE)}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def active() -> bool:
    """Whether this process has a tracer provider that records (one `configure` or a test installed)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def interceptors() -> list:
    """The Temporal client interceptors for this process: tracing when it is on (the worker inherits them)."""
    return [Tracing()] if active() else []


def instrument(app) -> None:
    """OpenTelemetry's FastAPI instrumentation on `app` when tracing is on: a server span per request."""
    if active():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])


class Tracing(TracingInterceptor):
    """Temporal's TracingInterceptor, with Updates and the payout traced as their sender's (see the module)."""

    def workflow_interceptor_class(self, input: worker.WorkflowInterceptorClassInput):
        super().workflow_interceptor_class(input)
        return _WorkflowTracing


class _WorkflowTracing(TracingWorkflowInboundInterceptor):
    def __init__(self, next: worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self.latest_update: dict | None = None  # the carrier of the latest Update's sender context

    def init(self, outbound: worker.WorkflowOutboundInterceptor) -> None:
        worker.WorkflowInboundInterceptor.init(self, _FollowingOutbound(outbound, self))

    async def handle_update_handler(self, input: worker.HandleUpdateInput) -> Any:
        header = input.headers.get(self.header_key)
        if not header:
            return await super().handle_update_handler(input)
        carrier = self.payload_converter.from_payloads([header])[0]
        self.latest_update = carrier
        with _attached(self._set_on_context(self.text_map_propagator.extract(carrier))):
            self._completed_span(
                f"HandleUpdate:{input.update}",
                link_context_carrier=self._load_workflow_context_carrier(),
                kind=trace.SpanKind.SERVER,
            )
            return await worker.WorkflowInboundInterceptor.handle_update_handler(self, input)


class _FollowingOutbound(_TracingWorkflowOutboundInterceptor):
    root: _WorkflowTracing

    def start_activity(self, input: worker.StartActivityInput):
        carrier = self.root.latest_update
        if input.activity not in FOLLOW_LATEST_UPDATE or carrier is None:
            return super().start_activity(input)
        with _attached(self.root._set_on_context(self.root.text_map_propagator.extract(carrier))):
            return super().start_activity(input)


@contextlib.contextmanager
def _attached(context: opentelemetry.context.Context) -> Iterator[None]:
    """Attach `context` for the block; detach only where it is still current (as the SDK's own helper does)."""
    token = opentelemetry.context.attach(context)
    try:
        yield
    finally:
        if opentelemetry.context.get_current() is context:
            with contextlib.suppress(ValueError):  # a token of another contextvars.Context: nothing to detach
                token.var.reset(token)
