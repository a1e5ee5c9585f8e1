"""The worker is sized the way the SDK asks: a thread for every activity it may run, and time to finish on shutdown;
and it says why when it cannot start."""

import uuid
from datetime import timedelta

import pytest

from stack.config import load_settings
from stack.ports import free_port
from tests.conftest import AUDIT_KEY
from worker import build_worker, open_database


async def test_the_worker_has_a_thread_per_activity_slot_and_a_grace_period(env, sessions, provider):
    queue = f"sizing-{uuid.uuid4().hex[:8]}"
    config = build_worker(env.client, sessions, provider, b"key", task_queue=queue, audit_key=AUDIT_KEY).config()
    assert config["activity_executor"]._max_workers >= config["max_concurrent_activities"] > 0
    assert config["graceful_shutdown_timeout"] >= timedelta(seconds=5)


def test_a_database_that_cannot_be_reached_at_start_ends_the_worker_with_the_reason(monkeypatch):
    """As when PostgreSQL is down for a restart: one line saying so, not a traceback, and the password hidden."""
    url = f"postgresql+psycopg://guarantee:s3cret@127.0.0.1:{free_port()}/guarantee"
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(SystemExit) as stopped:
        open_database(load_settings())
    message = str(stopped.value)
    assert message.startswith(f"error: cannot open the database at {url.replace('s3cret', '***')}: ")
    assert "Connection refused" in message and "s3cret" not in message
