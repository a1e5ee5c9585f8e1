"""Finance's views: the payout ledger, and reconciliation reports against the provider."""

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from schema.bounds import Day
from schema.claims import Strict
from schema.enums import ClaimType, PayoutMethod, PayoutStatus

# One reconciliation covers at most a year: longer ranges are a mistake, not a report.
MAX_RANGE_DAYS = 366


class DateRange(Strict):
    """Whole UTC days, both ends included, each from 2000-01-01 to 2100-12-31 (`schema.bounds`)."""

    date_from: Day = Field(alias="from")
    date_to: Day = Field(alias="to")

    model_config = Strict.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _ordered(self) -> "DateRange":
        if self.date_to < self.date_from:
            raise ValueError("`to` is before `from`")
        if (self.date_to - self.date_from).days >= MAX_RANGE_DAYS:
            raise ValueError(f"a range is at most {MAX_RANGE_DAYS} days")
        return self


class LedgerRow(BaseModel):
    created_at: datetime
    claim_id: str
    claim_type: ClaimType
    attempt: int
    idempotency_key: str
    status: PayoutStatus
    method: PayoutMethod | None
    amount_cents: int
    currency: str
    provider: str
    provider_ref: str | None
    completed_at: datetime | None
    failure_code: str | None


class LedgerTotal(BaseModel):
    """A sum over the filtered ledger, per day or per claim type, per currency and status."""

    group: str
    currency: str
    status: PayoutStatus
    count: int
    amount_cents: int


class LedgerPage(BaseModel):
    items: list[LedgerRow]
    total: int
    limit: int
    offset: int
    by_day: list[LedgerTotal]
    by_type: list[LedgerTotal]


class ReconciliationCounts(BaseModel):
    """Lines of each kind (finance/matching.py says what each means)."""

    matched: int = 0
    no_money_moved: int = 0
    missing_at_provider: int = 0
    missing_in_ledger: int = 0
    amount_mismatch: int = 0
    currency_mismatch: int = 0
    status_mismatch: int = 0
    ref_mismatch: int = 0
    duplicate: int = 0

    @property
    def discrepancies(self) -> int:
        return sum(self.model_dump().values()) - self.matched - self.no_money_moved


class ReconcileRequest(DateRange):
    """A reconciliation asked for by a person (a schedule asks for none: it means yesterday)."""

    requested_by: str | None = None


class ReconcileRun(BaseModel):
    id: str
    date_from: date
    date_to: date
    requested_by: str | None


class FindingView(BaseModel):
    kind: str
    key: str | None
    claim_id: str | None
    ledger_ref: str | None
    provider_ref: str | None
    ledger_amount_cents: int | None
    provider_amount_cents: int | None
    currency: str | None
    detail: str


class ReconciliationView(BaseModel):
    id: str
    date_from: date
    date_to: date
    status: str
    requested_by: str | None
    started_at: datetime
    finished_at: datetime | None
    counts: ReconciliationCounts
    discrepancies: int
    failure: str | None = None
    findings: list[FindingView] = []


class NumberedFinding(FindingView):
    """A finding with its row's id, so a page can link to it."""

    id: int


class FindingDetail(BaseModel):
    """One finding of a report, and the payout our ledger holds under its key (None when it holds none)."""

    reconciliation_id: str
    finding: NumberedFinding
    ours: LedgerRow | None
