"""Processes of one installation on a shared Temporal, as an operator starts them: `up` and `guarantee api`
share a GUARANTEE_HOME, the API runs no worker, and what would quietly split the cluster is refused."""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from schema.names import TASK_QUEUE
from stack.codec import ENV as CODEC_ENV
from stack.config import STUB_API_KEY
from stack.temporal import DEV_SERVER
from stripe_stub.server import start_in_thread
from tests.codec_key import CONVERTER, TEST_CODEC_KEYS

GUARANTEE = Path(sys.executable).parent / "guarantee"
ROOT = Path(__file__).resolve().parent.parent
READY_S = 60.0

pytestmark = pytest.mark.timeout(180)


def clean_env(home: Path, **variables: str) -> dict[str, str]:
    drop = ("GUARANTEE_", "TEMPORAL_", "DATABASE_URL", "STRIPE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env |= {"GUARANTEE_HOME": str(home), CODEC_ENV: TEST_CODEC_KEYS, "PYTHONPATH": str(ROOT)}
    env |= {"GUARANTEE_API_PORT": "0", "GUARANTEE_SMTP_PORT": "0", "GUARANTEE_TEMPORAL_METRICS_PORT": "off"}
    return env | variables


def refused(command: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(GUARANTEE), command], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_up_on_a_shared_temporal_refuses_to_start_a_private_stripe_stub(tmp_path):
    env = clean_env(tmp_path / "home", TEMPORAL_ADDRESS="127.0.0.1:7233")
    assert refused("up", env).startswith("error: TEMPORAL_ADDRESS is set but STRIPE_API_BASE is not: ")
    assert not (tmp_path / "home" / "stripe-stub.json").exists()


def test_the_api_alone_needs_a_temporal_to_share(tmp_path):
    assert refused("api", clean_env(tmp_path / "home")).startswith("error: TEMPORAL_ADDRESS is not set: ")


@pytest.fixture(scope="module")
async def temporal():
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER), data_converter=CONVERTER)
    yield env.client
    await env.shutdown()


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(GUARANTEE), command], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def api_url(proc: subprocess.Popen, log: Path) -> str:
    """The address the process printed, once it answers there."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited early:\n{log.read_text()}"
        found = re.search(r"^  API +(\S+)", log.read_text(), re.M)
        if found and httpx.get(f"{found.group(1)}/healthz", timeout=2).status_code == 200:
            return found.group(1)
        time.sleep(0.1)
    pytest.fail(f"not ready in {READY_S:.0f} s:\n{log.read_text()}")


async def pollers(client) -> set[str]:
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    found = await client.workflow_service.describe_task_queue(request)
    return {p.identity.split("@")[0] for p in found.pollers}


async def test_two_ups_and_an_api_share_one_home_and_only_the_ups_run_workers(temporal, tmp_path):
    stub_url, stop_stub = start_in_thread(tmp_path / "stripe.json")
    address = temporal.service_client.config.target_host
    env = clean_env(tmp_path / "home", TEMPORAL_ADDRESS=address, STRIPE_API_BASE=stub_url, STRIPE_API_KEY=STUB_API_KEY)
    commands = ["up", "up", "api"]
    logs = [tmp_path / f"{n}-{command}.log" for n, command in enumerate(commands)]
    procs = [start(command, env, log) for command, log in zip(commands, logs, strict=True)]
    try:
        urls = [api_url(proc, log) for proc, log in zip(procs, logs, strict=True)]
        assert len(set(urls)) == 3
        assert re.search(r"^  Worker +none here", logs[2].read_text(), re.M)
        workers = {worker_pid(log) for log in logs[:2]}  # each `up` runs its worker as a process of its own
        deadline = time.monotonic() + READY_S
        while await pollers(temporal) != workers and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await pollers(temporal) == workers  # the API's process polls nothing
        for proc, log in zip(procs, logs, strict=True):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, log.read_text()
            assert log.read_text().rstrip().endswith("Stopped.")
        assert not [pid for pid in workers if alive(int(pid))], "each worker stops with its `up`"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stop_stub()


def test_a_killed_up_takes_its_worker_with_it(temporal, tmp_path):
    """SIGKILLed, `up` cannot stop its worker: the worker sees its parent gone and stops by itself."""
    stub_url, stop_stub = start_in_thread(tmp_path / "stripe.json")
    address = temporal.service_client.config.target_host
    env = clean_env(tmp_path / "home", TEMPORAL_ADDRESS=address, STRIPE_API_BASE=stub_url, STRIPE_API_KEY=STUB_API_KEY)
    log = tmp_path / "up.log"
    proc = start("up", env, log)
    try:
        api_url(proc, log)
        worker = int(worker_pid(log))
        assert alive(worker)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the worker outlived its `up`"
    finally:
        with contextlib.suppress(ProcessLookupError):  # `up` and, if the test failed, its worker
            os.killpg(proc.pid, signal.SIGKILL)
        stop_stub()


def worker_pid(log: Path) -> str:
    return re.search(r"^  Worker +process (\d+)", log.read_text(), re.M).group(1)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by whoever adopted it, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
