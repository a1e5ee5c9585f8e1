"""Checking the audit chain, and adopting the rows written before it existed (see `audit.chain`).

Both read one consistent snapshot of the database, so a claim recorded while the walk runs is
seen either before or after its event, never halfway.
"""

import contextlib
from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session, sessionmaker

from audit import chain
from rules.errors import DomainError
from schema.audit import AuditProblem, AuditReport


@contextlib.contextmanager
def _snapshot(sessions: sessionmaker) -> Iterator[Session]:
    with sessions() as db:
        if db.get_bind().dialect.name == "sqlite":
            # pysqlite starts no transaction for reads; an explicit one reads one snapshot (WAL).
            db.connection().exec_driver_sql("BEGIN")
        else:
            db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield db


def _sealer(key: str) -> chain.Sealer:
    if not key:
        raise DomainError("no_audit_key", "this process has no audit key, so it cannot check the audit chain")
    return chain.Sealer(key)


def verify(sessions: sessionmaker, key: str, claim_ids: Iterable[str] | None = None, limit: int | None = None):
    """Walk every claim's chain (or those named); the problems sorted by claim, the first `limit` listed."""
    sealer = _sealer(key)
    with _snapshot(sessions) as db:
        walk = chain.walk(db, sealer, claim_ids)
    if walk.unknown:
        raise DomainError("not_found", f"no claim {walk.unknown[0]!r}")
    problems = walk.problems  # by claim, each claim's in chain order
    note = None
    if walk.sealed and not walk.linked:
        note = (
            "no sealed row verifies with this key: is it the one the worker seals with (GUARANTEE_AUDIT_KEY, "
            "else GUARANTEE_HOME/audit-key)?"
        )
    return AuditReport(
        intact=not problems,
        claims=walk.claims,
        rows=walk.rows,
        total_problems=len(problems),
        problems=[AuditProblem(**vars(p)) for p in problems[:limit]],
        note=note,
    )


def seal_legacy(sessions: sessionmaker, key: str) -> int:
    """Seal the audit rows written before the chain existed, as they are now; returns how many."""
    sealer = _sealer(key)
    with sessions.begin() as db:
        return chain.seal_legacy(db, sealer)
