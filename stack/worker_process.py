"""The worker of `guarantee up` as a process of its own (`guarantee worker`), so that the API and the worker
each have a core: in one process they share one interpreter lock.

The child gets what a cluster's worker gets (TEMPORAL_ADDRESS, STRIPE_API_BASE, ...) and the same
GUARANTEE_HOME; it stops with `up`, even when `up` is SIGKILLed (`PARENT_VARIABLE`: it watches for that).
Its activity timings reach the API's /metrics through prometheus_client's multiprocess files
(`share_metrics`, set before either process imports prometheus_client).
"""

import asyncio
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

READY = "worker on task queue"  # the first line `guarantee worker` prints, as it starts polling
PARENT_VARIABLE = "GUARANTEE_WORKER_PARENT"  # the pid of the `up` the worker stops with
STOP_S = 20


def share_metrics() -> None:
    """Counters and histograms kept in files every process of this `up` writes and /metrics reads."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="guarantee-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The worker started and polling; its process and what it said of itself (the line `READY` begins).

    Its later output goes on to this process's stdout; SystemExit with the reason if it does not start."""
    env = env | {PARENT_VARIABLE: str(os.getpid())}
    proc = subprocess.Popen([sys.executable, "-m", "worker"], env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith(READY):
        stop(proc)
        said = (line + proc.stdout.read()).strip().splitlines()
        raise SystemExit(said[-1] if said else f"error: the worker exited ({proc.returncode}) as it started")
    threading.Thread(target=_forward, args=(proc.stdout,), daemon=True).start()
    return proc, line.strip()


def temporal_metrics(ready_line: str) -> str | None:
    """Where the worker serves the Temporal SDK's metrics, from its first line."""
    found = re.search(r"Temporal metrics (\S+?);", ready_line)
    return found.group(1) if found and found.group(1) != "off" else None


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, so its activities get their graceful shutdown; SIGKILL if it has not stopped by then."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def stop_when_orphaned(stop: asyncio.Event) -> None:
    """In the worker: set `stop` once the `up` that started it is gone (its parent is then another process)."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent:
        return
    while os.getppid() == int(parent):
        await asyncio.sleep(1)
    stop.set()


def _forward(stream) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
