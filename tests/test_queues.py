"""`benchmarks.queues`, small: the queues it times answer with the claims it planted, at both sizes."""

import pytest

from benchmarks.queues import main
from tests.conftest import _postgres_database


@pytest.fixture
def empty_database():
    yield from _postgres_database()


def test_the_benchmark_finds_each_queue_as_planted(empty_database, capsys):
    code = main(["--database", empty_database, "--sizes", "1000", "2000", "--repeat", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "200 open claims: 16 await the lead, 3 the specialist" in out
    assert "2,000 claims planted" in out and "WRONG" not in out
    for name in ("lead awaiting=me (service)", "specialist casework (service)", "specialist GET /claims?awaiting=me"):
        assert name in out
