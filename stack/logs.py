"""Logs as JSON lines: one object per line, with the claim id, workflow id and request id wherever known.

Where they come from:
- `request_id`: the `X-Request-ID` header of the HTTP request being served, or a new one; `RequestIds`
  (an ASGI middleware) keeps it in a context variable and sends it back in the response's header;
- `claim_id`: the request's path (`/claims/{claim_id}/...`), or set by the service when it acts on a claim;
- `workflow_id`: the claim's workflow; inside an activity, the activity's own workflow
  (`activity.info()`); inside a workflow, `workflow.logger` puts it on the record already;
- `trace_id`: the OpenTelemetry trace being recorded, when tracing is on (stack/tracing.py), so a line
  leads to its trace and back.

`configure()` sets the root logger up once for a process (`guarantee up`, `guarantee worker`):
GUARANTEE_LOG_FORMAT is `json` (the default) or `text`, GUARANTEE_LOG_LEVEL a level name (INFO).
"""

import contextvars
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from opentelemetry import trace
from temporalio import activity

FORMAT_VARIABLE = "GUARANTEE_LOG_FORMAT"
LEVEL_VARIABLE = "GUARANTEE_LOG_LEVEL"
REQUEST_HEADER = "x-request-id"
FIELDS = ("claim_id", "workflow_id", "request_id", "trace_id")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
claim_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("claim_id", default=None)

# A caller's request id is kept only if it is short and plain: it goes into every log line as given.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CLAIM_PATH = re.compile(r"^/claims/([^/]+)")
# A claim's workflow id is its id after this prefix (schema.names; `schema` imports `stack`, not the reverse).
_CLAIM_WORKFLOW = "claim-"
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has: anything else on a record came in by `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def about_claim(claim: str) -> None:
    """The claim the rest of this task (request, command) works on, for its log lines."""
    claim_id.set(claim)


class ContextFilter(logging.Filter):
    """Puts `claim_id`, `workflow_id`, `request_id` and `trace_id` on each record, from wherever they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        workflow = getattr(record, "temporal_workflow", None) or {}
        found_workflow = workflow.get("workflow_id")
        if found_workflow is None and activity.in_activity():
            found_workflow = activity.info().workflow_id
        if found_workflow is not None:  # a workflow's or an activity's own line: its claim is its workflow's
            claim = found_workflow.removeprefix(_CLAIM_WORKFLOW) if found_workflow.startswith(_CLAIM_WORKFLOW) else None
        else:
            claim = claim_id.get()
            found_workflow = claim and _CLAIM_WORKFLOW + claim
        span = trace.get_current_span().get_span_context()
        traced = trace.format_trace_id(span.trace_id) if span.is_valid else None
        found = (
            ("claim_id", claim),
            ("workflow_id", found_workflow),
            ("request_id", request_id.get()),
            ("trace_id", traced),
        )
        for name, value in found:
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the ids, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            line[name] = getattr(record, name, None)
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line and name not in ("temporal_workflow", "temporal_activity"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def handler(fmt: str = "json", stream=None) -> logging.Handler:
    """A stream handler writing `fmt` (json or text) with the ids filled in."""
    found = logging.StreamHandler(stream or sys.stderr)
    found.addFilter(ContextFilter())
    found.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    return found


def configure(default_format: str = "json") -> str:
    """The process's logging as GUARANTEE_LOG_FORMAT and GUARANTEE_LOG_LEVEL say; returns the format used."""
    fmt = (os.environ.get(FORMAT_VARIABLE) or default_format).strip().lower()
    if fmt not in ("json", "text"):
        raise SystemExit(f"error: {FORMAT_VARIABLE} is json or text, not {fmt!r}")
    level = (os.environ.get(LEVEL_VARIABLE) or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise SystemExit(f"error: {LEVEL_VARIABLE} is a level name (DEBUG, INFO, WARNING, ERROR), not {level!r}")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(fmt))
    root.setLevel(level)
    return fmt


access = logging.getLogger("guarantee.http")


class RequestIds:
    """ASGI middleware: each HTTP request gets a request id (the caller's `X-Request-ID` if it is plain,
    else a new one), in the logs while it is served and in the response's `X-Request-ID`; one log line
    per request when it ends."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(REQUEST_HEADER.encode(), b"").decode("latin-1")
        rid = given if _GOOD_ID.fullmatch(given) else uuid.uuid4().hex
        path = _CLAIM_PATH.match(scope.get("path", ""))
        tokens = [request_id.set(rid), claim_id.set(path.group(1) if path else None)]
        start, status = time.perf_counter(), 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_HEADER.encode()]
                message = {**message, "headers": [*headers, (REQUEST_HEADER.encode(), rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            access.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={"method": scope["method"], "route": route, "status": status, "ms": _ms(start)},
            )
            claim_id.reset(tokens[1])
            request_id.reset(tokens[0])


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
