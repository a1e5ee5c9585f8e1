"""The audit chain: each claim's audit rows sealed into a keyed hash chain, and the walk that checks it.

Why: triggers make `audit_trail` append-only, but whoever can drop a trigger can rewrite history,
and the rows an event wrote (decisions, approvals, payout details, payouts) have no triggers at all.
The chain makes any such change show, to anyone who holds the key.

The design:

- One chain per claim. A claim's events are recorded one at a time by its workflow, each in one
  transaction holding the claim row's lock, so its chain needs no ordering across claims.
- Keyed: every MAC is HMAC-SHA256 with the audit key (GUARANTEE_AUDIT_KEY, else the file
  `audit-key` under GUARANTEE_HOME; `stack.config.audit_key`). Someone who can write to the
  database but cannot read the key cannot make a seal that verifies, so cannot hide a change.
- A sealed audit row stores:
    `chain_seq`    its position in the claim's chain: 1, 2, 3, ...
    `prev_hash`    the `chain_hash` of the row before it; GENESIS for the first
    `row_mac`      MAC of its own fields (`ROW_FIELDS`: the event, and which row it covers)
    `covered_mac`  MAC of the row the event wrote or names (`covers`, `covers_id`), as it was then
    `chain_hash`   MAC of (claim, position, prev_hash, row_mac, covered_mac): the link
  Keeping the row's own MAC, the covered row's MAC and the link apart is what lets the walk say
  which: an edited row still links (its stored MACs are the writer's), a forged one does not.
- What an event covers: the evidence, decision, approval, notification or mediated agreement row it
  wrote (same transaction; an agreement as recorded, not how it ended, which the events ending it
  say); for `payout_details_added` and `payout_retried` to new details, the payout
  details row it names; for `paid` and `payout_failed`, the ledger row of that attempt, which
  activities/payouts.py completed before the workflow records the outcome; for `opened`, the claim
  as opened (its fields that never change after: `COVERED_FIELDS["claims"]`). The sealed fields
  are listed per table and fixed: a column added later is not sealed until a new list says so.
- The head (`audit_heads`, one row per claim): the newest position and `chain_hash`, with its own
  MAC. Without it, deleting the last rows of a chain would leave a shorter chain that verifies.
  Before appending, the writer checks the head's MAC and that the row it names is there; if not,
  it refuses (the activity is retried, so the claim waits) rather than extend a chain that was
  cut: a new link on a cut chain would hide the cut.
- Rows written before the chain existed have no seal. `seal_legacy` (`guarantee audit
  seal-legacy`, run once after upgrading) adopts those older than the first sealed row: their
  ids and MACs go into the head's `legacy` list, which the head's MAC covers.

What the walk reports, per claim, as (claim, table, row id, event key, kind):
- a position up to the head with no genuine row: `deleted` (the head itself gone: `deleted`; the
  head not matching its MAC: `edited`);
- a row whose link does not verify, a second row at a position, a row past the head, or an
  unsealed row not adopted as legacy: `inserted` (a row whose seal columns were overwritten
  reads the same: its seal is not the writer's);
- a genuine row whose fields no longer match `row_mac`: `edited`; the row it covers changed:
  `edited`, or gone: `deleted`;
- an evidence, decision, approval, notification or agreement row of the claim with no audit row
  for its event key: `inserted` (but for the notices of a stuck claim, which `mark_stuck` writes
  outside the chain).

Limits: a claim deleted whole, with every row that names it, leaves nothing to walk (Temporal's
workflows are the other record of which claims exist). Someone who saved a claim's rows and head
earlier can put that older state back; the head is only as fresh as the database. The payouts
and payout details rows no event covers yet (an attempt in flight, details the workflow has not
taken) are not checked. The mutable columns of `claims` (status, assignee, approved amount, ...)
are not sealed; the events and the decision, approval and payout rows behind them are. Rows from
before the chain are sealed for their own fields only. Changing the key makes every seal fail, and
a writer with another key than the one that sealed a chain refuses to extend it.
"""

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from schema import tables
from schema.names import STUCK_NOTICE

GENESIS = "0" * 64
BATCH = 500  # claims read at once by the walk

ROW_FIELDS = (
    "claim_id",
    "event_key",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "from_status",
    "to_status",
    "reason",
    "covers",
    "covers_id",
    "chain_seq",
)
COVERED_FIELDS = {
    "claims": (
        "id",
        "customer_id",
        "pro_id",
        "project_id",
        "type",
        "amount_cents",
        "currency",
        "incident_date",
        "channel",
        "description",
        "opened_by",
        "opened_at",
        "policy_version",
        "risk_flags",
        "eligibility_issues",
    ),
    "evidence": (
        "id",
        "claim_id",
        "event_key",
        "kind",
        "source",
        "note",
        "sha256",
        "filename",
        "content_type",
        "size_bytes",
        "added_by",
        "added_at",
        "after_decision_requested",
    ),
    "decisions": (
        "id",
        "claim_id",
        "event_key",
        "round",
        "outcome",
        "amount_cents",
        "reason_code",
        "rationale",
        "decided_by",
        "decided_at",
    ),
    "approvals": (
        "id",
        "claim_id",
        "event_key",
        "round",
        "verdict",
        "note",
        "approver_id",
        "approver_role",
        "at",
        "payout_details_id",  # the destination the approver confirmed
    ),
    "notifications": ("id", "claim_id", "reconciliation_id", "event_key", "recipient", "kind", "message", "at"),
    # The agreement as recorded; how it ended (`outcome`...) is written later, by the events that end it.
    "mediations": (
        "id",
        "claim_id",
        "event_key",
        "kind",
        "terms",
        "evidence_ids",
        "due_at",
        "agreed_by",
        "agreed_at",
    ),
    "payout_details": ("id", "claim_id", "method", "destination", "added_by", "added_at"),
    "payouts": (
        "id",
        "claim_id",
        "attempt",
        "idempotency_key",
        "amount_cents",
        "currency",
        "payout_details_id",
        "method",
        "status",
        "provider",
        "provider_ref",
        "created_at",
        "completed_at",
        "failure_code",
        "failure_message",
    ),
}
TABLES = {
    "claims": tables.Claim,
    "evidence": tables.Evidence,
    "decisions": tables.Decision,
    "approvals": tables.Approval,
    "notifications": tables.Notification,
    "mediations": tables.Mediation,
    "payout_details": tables.PayoutDetail,
    "payouts": tables.Payout,
}
AUDIT, HEADS = tables.AuditEntry.__table__, tables.AuditHead.__table__
AUDIT_COLUMNS = tuple(column.key for column in AUDIT.columns if column.key != "id")
# The statements that write a chain, made once: building one costs more than running it.
HEAD = select(HEADS).where(HEADS.c.claim_id == bindparam("claim_id")).with_for_update()
TIP = select(AUDIT.c.chain_hash).where(AUDIT.c.claim_id == bindparam("claim_id"), AUDIT.c.chain_seq == bindparam("seq"))
MOVE_HEAD = (
    update(HEADS)
    .where(HEADS.c.claim_id == bindparam("claim"))
    .values(seq=bindparam("seq"), hash=bindparam("hash"), mac=bindparam("mac"))
)
# Rows written in the same transaction as their audit row, found by its event key.
EVENT_CHILDREN = ("evidence", "decisions", "approvals", "notifications", "mediations")


class ChainBroken(RuntimeError):
    """The chain a row would be appended to does not verify at its end."""


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot seal a {type(value).__name__}")


def _same(stored: str | None, computed: str) -> bool:
    """A stored MAC equals the computed one (whatever was written into the stored column)."""
    return hmac.compare_digest((stored or "").encode(), computed.encode())


def _fields(row, names: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in names}


class Sealer:
    """The MACs of the chain, under one key."""

    def __init__(self, key: str):
        if not key:
            raise ValueError("the audit chain needs a key")
        self._key = key.encode()

    def mac(self, *parts) -> str:
        text = json.dumps(parts, default=_plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def row(self, entry: tables.AuditEntry) -> str:
        return self.mac("row", _fields(entry, ROW_FIELDS))

    def covered(self, table: str | None, row) -> str | None:
        if table is None:
            return None
        return self.mac("covered", table, None if row is None else _fields(row, COVERED_FIELDS[table]))

    def link(self, claim_id: str, seq: int, prev_hash: str | None, row_mac: str | None, covered_mac: str | None):
        return self.mac("link", claim_id, seq, prev_hash, row_mac, covered_mac)

    def head(self, head: "Head | tables.AuditHead") -> str:
        return self.mac("head", head.claim_id, head.seq, head.hash, head.legacy)

    def legacy(self, entry: tables.AuditEntry) -> str:
        return self.mac("legacy", entry.id, _fields(entry, ROW_FIELDS))


# Writing. In SQLAlchemy Core, on the caller's connection: each event is written this way, and the ORM's unit
# of work cost a worker several times what the statements themselves do.


@dataclass
class Head:
    """A claim's chain head as read (`stored`), or a new chain's."""

    claim_id: str
    seq: int
    hash: str
    legacy: list
    mac: str | None = None
    stored: bool = False


def head_of(conn: Connection, sealer: Sealer, claim_id: str) -> Head:
    """The claim's chain head, locked and checked against its seal and its newest row; a new one for a new chain.

    Read before the event's own rows are written, so that a SQLite writer's turn (`schema.database`)
    holds only the writes.
    """
    row = conn.execute(HEAD, {"claim_id": claim_id}).first()
    if row is None:
        return Head(claim_id=claim_id, seq=0, hash=GENESIS, legacy=[])
    head = Head(**row._mapping, stored=True)
    _check_head(conn, sealer, head)
    return head


def append(conn: Connection, sealer: Sealer, head: Head, entry: tables.AuditEntry, covers: str | None, covered) -> None:
    """Seal `entry` onto its claim's chain after `head` (`head_of`) and write both, in the caller's transaction.

    The caller holds the claim row's lock; `covered` is the row of table `covers` the event wrote
    or names (written, so it has its id), or None.
    """
    entry.covers = covers
    entry.covers_id = covered.id if covered is not None and covers != "claims" else None
    entry.chain_seq = head.seq + 1
    entry.prev_hash = head.hash
    entry.row_mac = sealer.row(entry)
    entry.covered_mac = sealer.covered(covers, covered)
    entry.chain_hash = sealer.link(entry.claim_id, entry.chain_seq, entry.prev_hash, entry.row_mac, entry.covered_mac)
    conn.execute(insert(AUDIT), [{name: getattr(entry, name) for name in AUDIT_COLUMNS}])
    head.seq, head.hash = entry.chain_seq, entry.chain_hash
    head.mac = sealer.head(head)
    if head.stored:
        conn.execute(MOVE_HEAD, {"claim": head.claim_id, "seq": head.seq, "hash": head.hash, "mac": head.mac})
    else:
        conn.execute(
            insert(HEADS), [{name: getattr(head, name) for name in ("claim_id", "seq", "hash", "legacy", "mac")}]
        )
        head.stored = True


def _check_head(conn: Connection, sealer: Sealer, head: Head) -> None:
    if not _same(head.mac, sealer.head(head)):
        raise ChainBroken(f"the audit chain head of claim {head.claim_id} does not match its seal")
    if head.seq == 0:
        return
    tip = conn.scalar(TIP, {"claim_id": head.claim_id, "seq": head.seq})
    if tip != head.hash:
        raise ChainBroken(f"the newest audit row of claim {head.claim_id} (position {head.seq}) is gone or changed")


def seal_legacy(db: Session, sealer: Sealer) -> int:
    """Adopt the unsealed audit rows older than the first sealed one; returns how many."""
    first = db.scalar(select(func.min(tables.AuditEntry.id)).where(tables.AuditEntry.chain_seq.is_not(None)))
    query = select(tables.AuditEntry).where(tables.AuditEntry.chain_seq.is_(None)).order_by(tables.AuditEntry.id)
    if first is not None:
        query = query.where(tables.AuditEntry.id < first)
    by_claim: dict[str, list] = defaultdict(list)
    for row in db.scalars(query):
        by_claim[row.claim_id].append(row)
    adopted = 0
    for claim_id, rows in by_claim.items():
        head = db.get(tables.AuditHead, claim_id, with_for_update=True)
        if head is None:
            head = tables.AuditHead(claim_id=claim_id, seq=0, hash=GENESIS, legacy=[])
            db.add(head)
        elif not _same(head.mac, sealer.head(head)):
            raise ChainBroken(f"the audit chain head of claim {claim_id} does not match its seal")
        known = {row_id for row_id, _ in head.legacy}
        new = [[row.id, sealer.legacy(row)] for row in rows if row.id not in known]
        head.legacy = [*head.legacy, *new]
        head.mac = sealer.head(head)
        adopted += len(new)
    return adopted


# Checking.


@dataclass(frozen=True)
class Problem:
    claim_id: str
    table: str
    row_id: int | str | None
    event_key: str | None
    kind: str  # edited | deleted | inserted
    detail: str


@dataclass
class Walk:
    claims: int = 0
    rows: int = 0
    linked: int = 0  # sealed rows whose link verified: none of many means the key is not the writer's
    sealed: int = 0
    problems: list[Problem] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # claims named that do not exist


def walk(db: Session, sealer: Sealer, claim_ids: Iterable[str] | None = None) -> Walk:
    """Check every claim's chain (or those named), in the database snapshot `db` reads."""
    result = Walk()
    if claim_ids is None:
        ids = list(db.scalars(select(tables.Claim.id).order_by(tables.Claim.id)))
    else:
        ids = sorted(set(claim_ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = _by_claim(db, tables.AuditEntry, chunk)
        heads = db.scalars(select(tables.AuditHead).where(tables.AuditHead.claim_id.in_(chunk)))
        heads = {head.claim_id: head for head in heads}
        covered = {name: _by_claim(db, TABLES[name], chunk) for name in TABLES}
        for claim_id in chunk:
            if claim_id not in covered["claims"]:
                result.unknown.append(claim_id)
                continue
            result.claims += 1
            claim_rows = rows.get(claim_id, [])
            result.rows += len(claim_rows)
            check = _ClaimCheck(sealer, claim_id, claim_rows, heads.get(claim_id), covered, result)
            result.problems.extend(check.run())
    return result


def _by_claim(db: Session, table, claim_ids: list[str]) -> dict[str, list]:
    column = table.id if table is tables.Claim else table.claim_id
    found: dict[str, list] = defaultdict(list)
    for row in db.scalars(select(table).where(column.in_(claim_ids)).order_by(table.id)):
        found[row.id if table is tables.Claim else row.claim_id].append(row)
    return found


class _ClaimCheck:
    def __init__(self, sealer: Sealer, claim_id: str, rows: list, head, covered: dict, totals: Walk):
        self.sealer, self.claim_id, self.rows, self.head, self.totals = sealer, claim_id, rows, head, totals
        self.covered = {name: {r.id: r for r in by_claim.get(claim_id, [])} for name, by_claim in covered.items()}
        self.problems: list[Problem] = []

    def problem(self, table: str, row_id, event_key: str | None, kind: str, detail: str) -> None:
        self.problems.append(Problem(self.claim_id, table, row_id, event_key, kind, detail))

    def audit_problem(self, row: tables.AuditEntry, kind: str, detail: str) -> None:
        self.problem("audit_trail", row.id, row.event_key, kind, detail)

    def run(self) -> list[Problem]:
        sealed = [r for r in self.rows if r.chain_seq is not None]
        self.totals.sealed += len(sealed)
        top, head_ok = self.check_head(sealed)
        self.check_chain(sealed, top, head_ok)
        self.check_unsealed([r for r in self.rows if r.chain_seq is None], head_ok)
        self.check_children()
        return self.problems

    def check_head(self, sealed: list) -> tuple[int, bool]:
        """The last position the chain must reach, and whether the head can be believed."""
        last = max((r.chain_seq for r in sealed), default=0)
        head = self.head
        if head is None:
            if sealed:
                self.problem("audit_heads", self.claim_id, None, "deleted", "the chain head is gone")
            elif not self.rows:
                self.problem("audit_trail", None, None, "deleted", "the claim has no audit rows at all")
            return last, False
        if not _same(head.mac, self.sealer.head(head)):
            self.problem("audit_heads", self.claim_id, None, "edited", "the chain head does not match its seal")
            return max(last, head.seq), False
        return head.seq, True

    def check_chain(self, sealed: list, top: int, head_ok: bool) -> None:
        at: dict[int, list] = defaultdict(list)
        for row in sealed:
            at[row.chain_seq].append(row)
        expected_prev: str | None = GENESIS
        last_event: str | None = None
        for seq in range(1, max([top, *at]) + 1):
            genuine = None
            for row in at.get(seq, []):
                linked = _same(
                    row.chain_hash, self.sealer.link(self.claim_id, seq, row.prev_hash, row.row_mac, row.covered_mac)
                )
                self.totals.linked += linked
                if not linked:
                    self.audit_problem(row, "inserted", f"not linked into the claim's chain (position {seq})")
                elif head_ok and seq > top:
                    self.audit_problem(row, "inserted", f"past the chain head (position {seq} of {top})")
                elif genuine is not None:
                    self.audit_problem(row, "inserted", f"a second row at chain position {seq}")
                elif expected_prev is not None and row.prev_hash != expected_prev:
                    self.audit_problem(row, "inserted", f"does not follow the row before it (position {seq})")
                else:
                    genuine = row
            if genuine is None:
                if seq <= top:
                    after = f", after event {last_event}" if last_event else ""
                    self.problem("audit_trail", None, None, "deleted", f"chain position {seq} is missing{after}")
                expected_prev = None
                continue
            self.check_row(genuine)
            expected_prev, last_event = genuine.chain_hash, genuine.event_key

    def check_row(self, row: tables.AuditEntry) -> None:
        if not _same(row.row_mac, self.sealer.row(row)):
            self.audit_problem(row, "edited", "its fields differ from what was sealed")
        if row.covers is None:
            return
        if row.covers not in COVERED_FIELDS:
            return  # an unknown table name is an edit of the row's own fields, reported above
        key = self.claim_id if row.covers == "claims" else row.covers_id
        covered = self.covered[row.covers].get(key)
        if covered is None:
            self.problem(row.covers, key, row.event_key, "deleted", f"written by event {row.event_key}, now gone")
        elif not _same(row.covered_mac, self.sealer.covered(row.covers, covered)):
            self.problem(row.covers, key, row.event_key, "edited", f"differs from what event {row.event_key} sealed")

    def check_unsealed(self, unsealed: list, head_ok: bool) -> None:
        legacy = {row_id: mac for row_id, mac in self.head.legacy} if head_ok else {}
        for row in unsealed:
            mac = legacy.pop(row.id, None)
            if mac is None:
                detail = "not sealed: forged, or written before the chain existed (see `guarantee audit seal-legacy`)"
                self.audit_problem(row, "inserted", detail)
            elif not _same(mac, self.sealer.legacy(row)):
                self.audit_problem(row, "edited", "its fields differ from what was sealed (a row older than the chain)")
        for row_id in legacy:
            self.problem("audit_trail", row_id, None, "deleted", "a row from before the chain, sealed, now gone")

    def check_children(self) -> None:
        recorded = {row.event_key for row in self.rows}
        for name in EVENT_CHILDREN:
            for row in self.covered[name].values():
                if name == "notifications" and row.kind == STUCK_NOTICE:
                    continue  # told by `mark_stuck`, outside the chain: a step that could not be recorded
                if row.event_key not in recorded:
                    detail = "no audit row records the event that wrote it (forged, or that audit row was deleted)"
                    self.problem(name, row.id, row.event_key, "inserted", detail)
