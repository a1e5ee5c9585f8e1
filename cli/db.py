"""The database the running product uses, for the commands that work on it directly: users and their tokens."""

import contextlib

from schema.database import make_engine, make_sessions, migrate
from stack.config import load_settings


@contextlib.contextmanager
def user_sessions():
    """Sessions on GUARANTEE_HOME's SQLite file (or DATABASE_URL), brought to the newest schema first."""
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()
