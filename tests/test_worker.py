"""The worker is sized the way the SDK asks: a thread for every activity it may run, and time to finish on shutdown."""

import uuid
from datetime import timedelta

from tests.conftest import AUDIT_KEY
from worker import build_worker


async def test_the_worker_has_a_thread_per_activity_slot_and_a_grace_period(env, sessions, provider):
    queue = f"sizing-{uuid.uuid4().hex[:8]}"
    config = build_worker(env.client, sessions, provider, b"key", task_queue=queue, audit_key=AUDIT_KEY).config()
    assert config["activity_executor"]._max_workers >= config["max_concurrent_activities"] > 0
    assert config["graceful_shutdown_timeout"] >= timedelta(seconds=5)
