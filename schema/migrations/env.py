"""Alembic environment: runs the migrations against the configured URL.

SQLite changes a table by building a new copy and dropping the old one (batch mode). With foreign
keys enforced, dropping a table that other rows refer to fails, so, as SQLite's own procedure for
schema changes says, they are off while migrating and checked before the migration commits.
"""

from alembic import context

from schema.database import make_engine
from schema.tables import Base

url = context.config.get_main_option("sqlalchemy.url")
sqlite = url.startswith("sqlite")
engine = make_engine(url)
with engine.connect() as connection:
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration leaves rows whose foreign keys point nowhere: {broken[:5]}")
engine.dispose()
