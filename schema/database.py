"""Engine, sessions and migrations, the same for SQLite and PostgreSQL."""

import contextlib
import fcntl
import threading
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"
WRITES = ("INSERT", "UPDATE", "DELETE")
TURN_WAIT_S = 30
# The PostgreSQL advisory lock that migrations run under: any fixed number, the same in every process.
MIGRATION_LOCK = zlib.crc32(b"guarantee migrations")


def make_engine(url: str, *, take_turns: bool = False) -> Engine:
    """`take_turns`: on SQLite, this process's writers take turns (`_take_turns`); for a worker, whose
    activities nearly all write."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        if take_turns:
            _take_turns(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _take_turns(engine: Engine) -> None:
    """SQLite lets one connection write at a time, and one that waits for it polls with sleeps of up to 100 ms:
    under load the sleeps, not the writes, set the pace. Here this process's writers take turns on a lock
    instead, from a transaction's first write until its connection is returned, each woken the moment the
    one before it is done. Readers never wait for it, and other processes still meet SQLite's own lock,
    which alone keeps the data right: a turn not had within `TURN_WAIT_S` is gone without."""
    turn = threading.RLock()

    @event.listens_for(engine, "before_cursor_execute")
    def _writes(conn, _cursor, statement: str, *_):
        if not conn.info.get("turn") and statement.lstrip()[:6].upper() in WRITES:
            conn.info["turn"] = turn.acquire(timeout=TURN_WAIT_S)

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record):
        if record.info.pop("turn", False):
            with contextlib.suppress(RuntimeError):  # a connection the garbage collector returned, in another thread
                turn.release()


def make_sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str) -> None:
    """Bring the database to the newest schema; safe to run on every start, in any number of processes at once.

    Alembic takes no lock of its own: processes started together on an empty database would each
    create the same tables and all but one crash. So the upgrade runs under a lock on the database,
    one process after another; those after the first find it at the newest schema and do nothing.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with _migration_lock(url):
        command.upgrade(cfg, "head")


@contextlib.contextmanager
def _migration_lock(url: str):
    """PostgreSQL: an advisory lock, held by a connection of its own. SQLite: a lock file beside the database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            yield  # a database no other process sees
            return
        with open(f"{parsed.database}.migrating", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()  # the lock is the session's: it outlives this transaction, and the upgrade's
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()
