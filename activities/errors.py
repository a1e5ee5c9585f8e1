"""What an activity's failure means: worth retrying (the database or the provider is away for now) or not.

Retrying cannot mend a refused row (an integrity rule, a value out of range, a row that is not
there), so those fail at once, non-retryable, and the workflow refuses the action or marks the
claim stuck; connection trouble is left to the activity's bounded retries, whatever class of error
the driver reports it as.
"""

import functools

from pydantic import ValidationError
from sqlalchemy import exc as db_errors
from temporalio.exceptions import ApplicationError

TRANSIENT = (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError)


def classified(activity):
    """Wrap an activity so that a failure retrying cannot mend is non-retryable, with its reason."""

    @functools.wraps(activity)
    def run(*args, **kwargs):
        try:
            return activity(*args, **kwargs)
        except TRANSIENT:
            raise
        except db_errors.DBAPIError as err:
            if err.connection_invalidated:  # the connection died under it (e.g. PostgreSQL ended an idle
                raise  # transaction's session): whatever the error's class, the row was not refused
            reason = " ".join(str(err.orig).split())[:300]
            raise ApplicationError(
                f"the database refused the write: {reason}", type="not_recorded", non_retryable=True
            ) from None
        except (ValidationError, LookupError, ValueError, OverflowError) as err:
            reason = " ".join(str(err).split())[:300]
            raise ApplicationError(reason, type="not_recorded", non_retryable=True) from None

    return run
