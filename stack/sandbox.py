"""The workflow sandbox, without entering it again for every payload.

For each payload sequence a workflow task decodes or encodes, the SDK asks the workflow instance, three
or four times, which serialization context applies: the workflow's, an activity's, a child's. A sandboxed
instance answers each time by running code inside the sandbox; py-spy put that at about a sixth of a busy
worker's time. A converter that reads no context, as ours does not (pydantic, AES-GCM, failure attributes
encoded), is the same converter whatever the answer, so this runner answers without entering. The
workflow code itself runs in the sandbox as before.
"""

from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

# One context of each kind a claim's payloads are encoded under: a converter that reads either is kept
# on the SDK's own path.
_CONTEXTS = (
    WorkflowSerializationContext(namespace="default", workflow_id="claim"),
    ActivitySerializationContext(
        namespace="default",
        workflow_id="claim",
        workflow_type="ClaimWorkflow",
        activity_type="record_event",
        activity_task_queue="claims",
        activity_id="1",
        is_local=True,
    ),
)


def reads_context(converter: DataConverter) -> bool:
    """Whether any part of `converter` changes with the serialization context, or stores payloads elsewhere."""
    return converter.external_storage is not None or any(converter.with_context(c) is not converter for c in _CONTEXTS)


def runner(converter: DataConverter) -> WorkflowRunner:
    """The sandbox; one that answers the per-payload context questions itself when `converter` reads none."""
    sandbox = SandboxedWorkflowRunner()
    return sandbox if reads_context(converter) else ContextFreeSandbox(sandbox)


class ContextFreeSandbox(WorkflowRunner):
    def __init__(self, sandbox: SandboxedWorkflowRunner):
        self._sandbox = sandbox

    def prepare_workflow(self, defn) -> None:
        self._sandbox.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFree(self._sandbox.create_instance(det))

    def set_worker_level_failure_exception_types(self, types) -> None:
        self._sandbox.set_worker_level_failure_exception_types(types)


class _ContextFree(WorkflowInstance):
    def __init__(self, sandboxed: WorkflowInstance):
        self._sandboxed = sandboxed

    def activate(self, act):
        return self._sandboxed.activate(act)

    def get_info(self):
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()

    def get_serialization_context(self, command_info) -> None:
        """None: the SDK then uses the worker's converter, which every context would give back unchanged."""
        return None

    def get_external_store_context(self, command_info) -> StorageDriverStoreContext:
        """No store: `runner` chose this only for a converter without external storage."""
        return StorageDriverStoreContext(target=None)
