"""The database the running product uses, for the commands that work on it directly: users and their tokens."""

import contextlib

from schema.database import make_engine, make_sessions, migrate
from stack.config import load_settings
from stack.secrets import private_home


@contextlib.contextmanager
def user_sessions():
    """Sessions on GUARANTEE_HOME's SQLite file (or DATABASE_URL), brought to the newest schema first."""
    settings = load_settings()
    private_home(settings.home)  # the database may be made here, before `up` ever ran
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()
