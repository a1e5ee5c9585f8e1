"""A worker's SQLite writers take turns on a lock in the process (schema/database.py `_take_turns`)."""

import threading

from schema.database import make_engine


def test_a_writer_waits_for_the_one_before_it_and_a_reader_for_nobody(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}", take_turns=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    first = engine.connect()
    first.begin()
    first.exec_driver_sql("INSERT INTO t VALUES (1)")  # its turn, until its connection is returned

    read, wrote = threading.Event(), threading.Event()

    def reader():
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
        read.set()

    def writer():
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=0")  # meeting SQLite's lock would fail at once
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        wrote.set()

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    assert read.wait(10), "a reader does not wait for a writer's turn"
    assert not wrote.wait(0.5), "the second writer waits for its turn, not on SQLite's lock"
    first.commit()
    first.close()
    assert wrote.wait(10), "returning the first writer's connection hands the turn on"
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all() == [1, 2]
    engine.dispose()
