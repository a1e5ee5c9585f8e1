"""Processes started together on an empty database each migrate it: the schema is made once, none crashes."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _postgres_database

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'guarantee.db'}"
    else:
        yield from _postgres_database()


def test_processes_migrating_one_empty_database_at_once_all_succeed(empty_url):
    migrate = f"from schema.database import migrate; migrate({empty_url!r})"
    started = [
        subprocess.Popen([sys.executable, "-c", migrate], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    failed = [err for p in started if (err := p.communicate(timeout=120)[1]) and p.returncode != 0]
    assert not failed, failed[0][-1500:]
    engine = create_engine(empty_url)
    with engine.connect() as db:
        assert len(db.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
    engine.dispose()
