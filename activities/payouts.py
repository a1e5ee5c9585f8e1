"""Paying an approved claim: ledger row first, provider call with the idempotency key, then completion."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio import activity

from payments.provider import FinalPaymentError, PaymentProvider, PaymentRequest
from schema import tables
from schema.enums import PayoutStatus
from schema.events import PayoutOrder, PayoutOutcome


class PayoutActivities:
    def __init__(self, sessions: sessionmaker, provider: PaymentProvider):
        self._sessions = sessions
        self._provider = provider

    @activity.defn
    def pay_claim(self, order: PayoutOrder) -> PayoutOutcome:
        """Safe to run any number of times: the ledger row and the provider both key on the attempt."""
        key = order.idempotency_key
        with self._sessions.begin() as db:
            row = db.scalar(select(tables.Payout).where(tables.Payout.idempotency_key == key))
            if row is None:
                db.add(
                    tables.Payout(
                        claim_id=order.claim_id,
                        attempt=order.attempt,
                        idempotency_key=key,
                        amount_cents=order.amount_cents,
                        currency=order.currency,
                        status=PayoutStatus.pending,
                        provider=self._provider.name,
                        created_at=order.at,
                    )
                )
            elif row.status == PayoutStatus.paid:
                return PayoutOutcome(paid=True, provider_ref=row.provider_ref)
        request = PaymentRequest(
            idempotency_key=key, claim_id=order.claim_id, amount_cents=order.amount_cents, currency=order.currency
        )
        try:
            receipt = self._provider.pay(request)
        except FinalPaymentError as err:
            self._complete(key, PayoutStatus.failed, failure_code=err.code, failure_message=str(err))
            return PayoutOutcome(paid=False, failure_code=err.code, failure_message=str(err))
        self._complete(key, PayoutStatus.paid, provider_ref=receipt.provider_ref)
        return PayoutOutcome(paid=True, provider_ref=receipt.provider_ref)

    def _complete(self, key: str, status: PayoutStatus, **fields) -> None:
        with self._sessions.begin() as db:
            row = db.scalar(select(tables.Payout).where(tables.Payout.idempotency_key == key))
            row.status = status
            row.completed_at = datetime.now(UTC)
            for name, value in fields.items():
                setattr(row, name, value)
