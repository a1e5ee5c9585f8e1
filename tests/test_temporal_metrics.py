"""The Temporal SDK's own metrics: a runtime with a Prometheus endpoint, as `up` and the worker make it."""

import socket
import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from stack.temporal import METRICS_PORT_VARIABLE, TemporalConfigError, metrics_runtime
from tests.codec_key import CONVERTER


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn(sandboxed=False)  # a test module imports what no workflow may
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))


async def test_a_runtime_serves_the_sdks_metrics_after_a_workflow_ran(env):
    runtime, url = metrics_runtime(0)
    client = await Client.connect(
        env.client.service_client.config.target_host, data_converter=CONVERTER, runtime=runtime
    )
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Greeting], activities=[greet]):
        assert await client.execute_workflow(Greeting.run, "you", id=queue, task_queue=queue) == "hello you"
    async with httpx.AsyncClient() as http:
        r = await http.get(url)
    assert r.status_code == 200
    samples = {s.name: s for f in text_string_to_metric_families(r.text) for s in f.samples}
    temporal = {name for name in samples if name.startswith("temporal_")}
    # Counters are exported without `_total` (the SDK's names); prometheus_client's parser adds it.
    completed = "temporal_workflow_completed_total"
    assert {completed, "temporal_activity_execution_latency_count", "temporal_request_total"} <= temporal, temporal
    assert samples[completed].labels["task_queue"] == queue
    assert samples[completed].labels["workflow_type"] == "Greeting"
    assert samples[completed].value == 1


def test_the_port_comes_from_the_setting_and_a_taken_one_is_replaced(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(METRICS_PORT_VARIABLE, str(port))
        runtime, url = metrics_runtime()
        assert runtime is not None and url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        assert f":{port}/" not in url
        assert httpx.get(url).status_code == 200
    monkeypatch.setenv(METRICS_PORT_VARIABLE, "off")
    assert metrics_runtime() == (None, None)
    monkeypatch.setenv(METRICS_PORT_VARIABLE, "nine")
    with pytest.raises(TemporalConfigError, match="port number or off"):
        metrics_runtime()
