"""Paying an approved claim: ledger row first, provider call with the idempotency key, then completion."""

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio import activity

from activities.errors import classified
from payments.provider import FinalPaymentError, PaymentProvider, PaymentRequest
from schema import tables
from schema.enums import PayoutStatus
from schema.events import PayoutOrder, PayoutOutcome

log = logging.getLogger(__name__)


class PayoutActivities:
    def __init__(self, sessions: sessionmaker, provider: PaymentProvider):
        self._sessions = sessions
        self._provider = provider

    @activity.defn
    @classified
    def pay_claim(self, order: PayoutOrder) -> PayoutOutcome:
        """Safe to run any number of times: the ledger row and the provider both key on the attempt."""
        key = order.idempotency_key
        with self._sessions.begin() as db:
            details = db.get(tables.PayoutDetail, order.payout_details_id) if order.payout_details_id else None
            row = db.scalar(select(tables.Payout).where(tables.Payout.idempotency_key == key))
            if row is None:
                row = tables.Payout(
                    claim_id=order.claim_id,
                    attempt=order.attempt,
                    idempotency_key=key,
                    amount_cents=order.amount_cents,
                    currency=order.currency,
                    payout_details_id=details and details.id,
                    method=details and details.method,
                    status=PayoutStatus.pending,
                    provider=self._provider.name,
                    created_at=order.at,
                )
                db.add(row)
            if row.status != PayoutStatus.pending:
                return _outcome(row)
        if details is None:
            return self._complete(
                key, PayoutStatus.failed, failure_code="missing_payout_details", failure_message="no payout details"
            )
        request = PaymentRequest(
            idempotency_key=key,
            claim_id=order.claim_id,
            attempt=order.attempt,
            amount_cents=order.amount_cents,
            currency=order.currency,
            method=details.method,
            destination=details.destination,
        )
        try:
            receipt = self._provider.pay(request)
        except FinalPaymentError as err:
            log.warning("payout %s refused by %s: %s", key, self._provider.name, err.code)
            return self._complete(key, PayoutStatus.failed, failure_code=err.code, failure_message=str(err))
        log.info("payout %s paid by %s", key, self._provider.name)
        return self._complete(key, PayoutStatus.paid, provider_ref=receipt.provider_ref)

    def _complete(self, key: str, status: PayoutStatus, **fields) -> PayoutOutcome:
        with self._sessions.begin() as db:
            row = db.scalar(select(tables.Payout).where(tables.Payout.idempotency_key == key))
            row.status = status
            row.completed_at = datetime.now(UTC)
            for name, value in fields.items():
                setattr(row, name, value)
            return _outcome(row)


def _outcome(row: tables.Payout) -> PayoutOutcome:
    return PayoutOutcome(
        paid=row.status == PayoutStatus.paid,
        provider_ref=row.provider_ref,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
    )
