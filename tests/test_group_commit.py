"""Group commit: on SQLite, writes queued together share one transaction, and each still gets its own outcome."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from activities.claims import ClaimActivities
from audit.chain import Sealer, walk
from schema import tables
from schema.group_commit import GroupCommit
from tests.conftest import AUDIT_KEY
from tests.test_records import evidence_event, opened_event

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
QUEUED_S = 10.0


def adding(name: str, seen: list):
    """A write that adds the user `name` and notes the session it ran in."""

    def apply(db):
        seen.append((name, db))
        db.add(
            tables.User(id=name, name=name, role="specialist", token_hash=name, created_at=NOW, token_expires_at=NOW)
        )
        db.flush()
        return name

    return apply


def behind_a_held_write(writes: GroupCommit, applies: list) -> list:
    """Each of `applies` run from a thread of its own, all queued while the group's thread is busy with a
    first write; their outcomes (a result, or the error raised), in order."""
    holding, release = threading.Event(), threading.Event()

    def held(_db):
        holding.set()
        release.wait(QUEUED_S)

    def outcome(apply):
        try:
            return writes.run(apply)
        except Exception as err:
            return err

    with ThreadPoolExecutor(len(applies) + 1) as pool:
        first = pool.submit(writes.run, held)
        try:
            assert holding.wait(QUEUED_S), "the first write never ran"
            futures = [pool.submit(outcome, apply) for apply in applies]
            deadline = time.monotonic() + QUEUED_S
            while writes._queue.qsize() < len(applies):  # every write is queued behind the held one
                assert time.monotonic() < deadline, "the writes were not queued"
                time.sleep(0.001)
        finally:
            release.set()
        first.result()
        return [f.result() for f in futures]


def names(sessions, prefix: str) -> set[str]:
    with sessions() as db:
        return set(db.scalars(select(tables.User.name).where(tables.User.name.startswith(prefix))))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_writes_queued_together_share_one_transaction(sessions):
    writes, seen, tag = GroupCommit(sessions), [], f"gc-{uuid.uuid4().hex[:6]}"
    wanted = [f"{tag}-{n}" for n in range(4)]
    assert behind_a_held_write(writes, [adding(name, seen) for name in wanted]) == wanted
    assert len({id(db) for _, db in seen}) == 1
    assert names(sessions, tag) == set(wanted)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failed_write_fails_alone_and_the_rest_of_its_batch_is_written(sessions):
    writes, seen, tag = GroupCommit(sessions), [], f"gc-{uuid.uuid4().hex[:6]}"
    writes.run(adding(f"{tag}-taken", []))
    first, again, last = adding(f"{tag}-a", seen), adding(f"{tag}-taken", seen), adding(f"{tag}-b", seen)
    outcomes = behind_a_held_write(writes, [first, again, last])
    assert outcomes[0] == f"{tag}-a" and outcomes[2] == f"{tag}-b"
    assert isinstance(outcomes[1], IntegrityError)
    assert names(sessions, tag) == {f"{tag}-taken", f"{tag}-a", f"{tag}-b"}
    # Tried together (one session), then each alone in a transaction of its own.
    assert [name for name, _ in seen] == [f"{tag}-a", f"{tag}-taken", f"{tag}-a", f"{tag}-taken", f"{tag}-b"]
    assert len({id(db) for _, db in seen[2:]}) == 3


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_write_never_waits_for_another(sessions):
    writes, release, tag = GroupCommit(sessions), threading.Event(), f"gc-{uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(writes.run, lambda _db: release.wait(QUEUED_S))
        assert writes.run(adding(f"{tag}-free", [])) == f"{tag}-free"
        assert not held.done()
        release.set()
    assert names(sessions, tag) == {f"{tag}-free"}


def test_claims_recorded_at_once_keep_every_chain_intact(stack):
    """Many claims' events, recorded from many threads at once (batched on SQLite), each in order on its chain."""
    activities = ClaimActivities(stack.sessions, AUDIT_KEY)
    claims = [opened_event(stack) for _ in range(8)]

    def record(opened):
        activities.record_event(opened)
        activities.record_events([evidence_event(opened, 2), evidence_event(opened, 3)])
        activities.record_event(evidence_event(opened, 4))

    with ThreadPoolExecutor(len(claims)) as pool:
        list(pool.map(record, claims))
    ids = [c.claim_id for c in claims]
    with stack.sessions() as db:
        checked = walk(db, Sealer(AUDIT_KEY), ids)
    assert (checked.rows, checked.linked, checked.problems) == (4 * len(ids), 4 * len(ids), [])
    for claim_id in ids:
        assert [a.chain_seq for a in stack.rows(tables.AuditEntry, claim_id)] == [1, 2, 3, 4]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's end, as meant
def test_a_write_that_ends_the_groups_thread_leaves_the_group_writing(sessions):
    """Not a write's failure but the end of its thread (a BaseException): that write is told, and the next write
    starts another thread rather than wait for one that is gone."""

    class Ended(BaseException):
        pass

    def ends(_db):
        raise Ended()

    writes, tag = GroupCommit(sessions), f"gc-{uuid.uuid4().hex[:6]}"
    before = set(threading.enumerate())
    with pytest.raises(Ended):
        writes.run(ends)
    for thread in set(threading.enumerate()) - before:
        thread.join(QUEUED_S)  # the ended thread: its exception is reported here, not in a later test
    assert writes.run(adding(f"{tag}-after", [])) == f"{tag}-after"
    assert names(sessions, tag) == {f"{tag}-after"}
