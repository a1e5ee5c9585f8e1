"""The scale-out drill, small: 20 claims through two APIs and three workers on PostgreSQL, one worker
SIGKILLed, each claim paid once and the day's reconciliation clean."""

import pytest

from drills import scale_out
from tests.conftest import _postgres_database

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def empty_pg():
    yield from _postgres_database()


async def test_twenty_claims_through_two_apis_and_three_workers_are_each_paid_once(empty_pg, tmp_path):
    report, cluster = await scale_out.run(20, work=tmp_path, database_url=empty_pg)
    assert scale_out.passed(report, cluster), "\n".join(scale_out.lines(report, cluster))
