"""The worker's sandbox answers the SDK's per-payload context questions itself only for a converter that reads
no context, and the workflow code still runs sandboxed."""

import uuid
from datetime import datetime

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.converter import DataConverter, PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError, SandboxedWorkflowRunner

with workflow.unsafe.imports_passed_through():  # the sandbox imports this module again for ReadsTheClock
    from stack import sandbox
    from tests.conftest import AUDIT_KEY
    from worker import build_worker


@workflow.defn(sandboxed=True)
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


class PerWorkflowCodec(PayloadCodec, WithSerializationContext):
    """A codec keyed by workflow, as a tenant's key might be: it must get its context."""

    def __init__(self, context: SerializationContext | None = None):
        self.context = context

    def with_context(self, context: SerializationContext) -> "PerWorkflowCodec":
        return PerWorkflowCodec(context)

    async def encode(self, payloads):
        return list(payloads)

    async def decode(self, payloads):
        return list(payloads)


async def test_the_product_worker_runs_claims_in_the_context_free_sandbox(env, sessions, provider):
    assert not sandbox.reads_context(env.client.data_converter), "pydantic, AES-GCM, encoded failures: no context"
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    worker = build_worker(env.client, sessions, provider, b"key", task_queue=queue, audit_key=AUDIT_KEY)
    assert isinstance(worker.config()["workflow_runner"], sandbox.ContextFreeSandbox)


def test_a_converter_that_reads_its_context_keeps_the_sdks_own_path():
    converter = DataConverter(payload_codec=PerWorkflowCodec())
    assert sandbox.reads_context(converter)
    assert type(sandbox.runner(converter)) is SandboxedWorkflowRunner


@pytest.mark.timeout(60)
async def test_workflow_code_still_runs_in_the_sandbox(env):
    """A clock read in workflow code is refused, as the plain sandbox refuses it."""
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ReadsTheClock],
        workflow_runner=sandbox.runner(env.client.data_converter),
        workflow_failure_exception_types=[RestrictedWorkflowAccessError],
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await env.client.execute_workflow(ReadsTheClock.run, id=queue, task_queue=queue)
    assert "datetime.datetime.now" in str(failed.value.cause)
