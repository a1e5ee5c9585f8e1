"""`benchmarks.queues`, small: the queues it times answer with the claims it planted, at both sizes."""

import pytest

from benchmarks.queues import main
from tests.conftest import _postgres_database


@pytest.fixture
def empty_databases():
    small, large = _postgres_database(), _postgres_database()
    yield [next(small), next(large)]
    for each in (small, large):
        next(each, None)  # dropped


def test_the_benchmark_finds_each_queue_as_planted(empty_databases, capsys):
    code = main(["--database", *empty_databases, "--sizes", "1000", "2000", "--repeat", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("200 open claims: 16 await the lead, 3 the specialist") == 2, "the same backlog at each size"
    assert "2,000 claims planted" in out and "WRONG" not in out
    for name in ("lead awaiting=me (service)", "specialist casework (service)", "specialist GET /claims?awaiting=me"):
        assert name in out
