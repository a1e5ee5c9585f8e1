"""A claim's question handed to another team: its own record, with an owner and a status."""

from datetime import datetime

from pydantic import BaseModel, Field

from schema.claims import Strict
from schema.enums import ReferralStatus, Team


class ReferralRequest(Strict):
    team: Team
    note: str = Field(min_length=1, max_length=10_000)


class ReferralAnswer(Strict):
    answer: str = Field(min_length=1, max_length=10_000)


class ReferralView(BaseModel):
    id: int
    claim_id: str
    team: Team
    note: str
    status: ReferralStatus
    referred_by: str
    referred_at: datetime
    owner: str | None
    taken_at: datetime | None
    answer: str | None
    answered_at: datetime | None
