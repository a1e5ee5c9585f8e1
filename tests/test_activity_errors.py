"""An activity's database error is retried when the connection died under it, and refused at once when the row was."""

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import exc as db_errors
from temporalio.exceptions import ApplicationError

from activities.errors import classified


def failing(error: Exception):
    @classified
    def activity() -> None:
        raise error

    return activity


def dbapi_error(orig: Exception, *, connection_invalidated: bool) -> db_errors.DBAPIError:
    """As SQLAlchemy wraps the driver's error, saying whether the connection is gone."""
    return db_errors.DBAPIError.instance(
        "UPDATE claims SET status = 'paid'", {}, orig, psycopg.Error, connection_invalidated=connection_invalidated
    )


def test_a_session_postgresql_ended_is_retried_though_its_error_is_no_operational_error():
    """PostgreSQL ends a session idle in its transaction too long with 25P03, which psycopg raises as an
    InternalError: the write was not refused, the connection was lost, so Temporal must try again."""
    ended = dbapi_error(
        pg.IdleInTransactionSessionTimeout("terminating connection due to idle-in-transaction timeout"),
        connection_invalidated=True,
    )
    assert isinstance(ended, db_errors.InternalError)
    with pytest.raises(db_errors.InternalError):
        failing(ended)()


@pytest.mark.parametrize(
    "orig",
    [pg.UniqueViolation("duplicate key value violates unique constraint"), pg.NumericValueOutOfRange("out of range")],
)
def test_a_refused_row_fails_at_once_with_the_reason(orig):
    with pytest.raises(ApplicationError) as refused:
        failing(dbapi_error(orig, connection_invalidated=False))()
    assert refused.value.type == "not_recorded" and refused.value.non_retryable
    assert str(orig) in refused.value.message
