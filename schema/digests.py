"""The weekly digest: last week's KPIs and the signals new that week, kept as a report to read later."""

from datetime import date, datetime

from pydantic import BaseModel

from schema.kpis import KpiReport
from schema.signals import Signal


class DigestBody(BaseModel):
    """What a digest says: the week's KPIs by claim type, and the signals that hold at the week's end
    but did not (for the same rule and subject) at its start."""

    kpis: KpiReport
    new_signals: list[Signal]
    signals_at: str  # the moment the signals were read: the end of the week's Sunday, UTC
    rules_version: str


class DigestBuilt(BaseModel):
    """What the build activity tells the workflow: no figures, no addresses."""

    id: str
    week_start: date
    new_signals: int


class DigestView(BaseModel):
    id: str
    week_start: date
    week_end: date
    built_at: datetime
    recipients: list[str]  # the leads and managers it was meant for, by name, when it was built
    mailed_to: list[str]  # the addresses it was mailed to (GUARANTEE_DIGEST_TO)
    mail_state: str  # pending, sent, skipped (no addresses) or failed
    mail_error: str | None = None
    body: DigestBody | None = None  # left out of lists
