"""What checking the audit chain answers: whether it is intact, and each row found edited, deleted or inserted."""

from typing import Literal

from pydantic import BaseModel


class AuditProblem(BaseModel):
    claim_id: str
    table: str  # audit_trail, audit_heads, or a table whose row an event sealed
    row_id: int | str | None  # None: a deleted audit row, known by its chain position (in `detail`)
    event_key: str | None
    kind: Literal["edited", "deleted", "inserted"]
    detail: str


class AuditReport(BaseModel):
    intact: bool
    claims: int  # claims checked
    rows: int  # audit rows checked
    total_problems: int
    problems: list[AuditProblem]  # the first `limit` of them, by claim
    note: str | None = None
