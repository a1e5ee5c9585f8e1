"""Payouts through the Stripe API: a Transfer to a connected account, or a Refund of the charge.

Only the API key and the base URL tell the embedded stub from real Stripe. The SDK's own retries
are off: Temporal retries the activity with the same idempotency key, so a retry never pays twice.

Each call is a span (`stripe.transfer`, `stripe.refund`) in the payout activity's trace when tracing is
on (stack/tracing.py), with the idempotency key, the amount and the outcome: never a destination
(account or charge id) or anything about a person.
"""

import stripe
from opentelemetry import trace

from payments.provider import FinalPaymentError, PaymentReceipt, PaymentRequest
from schema.enums import PayoutMethod

tracer = trace.get_tracer(__name__)


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, api_base: str | None = None, timeout_seconds: float = 20.0):
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    def pay(self, request: PaymentRequest) -> PaymentReceipt:
        options = {"idempotency_key": request.idempotency_key}
        metadata = {"claim_id": request.claim_id, "attempt": str(request.attempt)}
        kind = "transfer" if request.method == PayoutMethod.transfer else "refund"
        attributes = {
            "payout.idempotency_key": request.idempotency_key,
            "payout.attempt": request.attempt,
            "payout.amount_cents": request.amount_cents,
            "payout.currency": request.currency.lower(),
        }
        # Exceptions are not recorded as they are: Stripe's messages may name the destination account.
        with tracer.start_as_current_span(
            f"stripe.{kind}",
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                made = self._call(request, options, metadata)
            except FinalPaymentError as err:
                span.set_attribute("payout.failure_code", err.code)
                span.set_status(trace.StatusCode.ERROR, err.code)
                raise
            except Exception as err:
                span.set_status(trace.StatusCode.ERROR, type(err).__name__)
                raise
            span.set_attribute("stripe.object_id", made.id)
        return PaymentReceipt(provider_ref=made.id)

    def _call(self, request: PaymentRequest, options: dict, metadata: dict):
        try:
            if request.method == PayoutMethod.transfer:
                made = self.client.v1.transfers.create(
                    params={
                        "amount": request.amount_cents,
                        "currency": request.currency.lower(),
                        "destination": request.destination,
                        "transfer_group": f"claim-{request.claim_id}",
                        "metadata": metadata,
                    },
                    options=options,
                )
            else:
                made = self.client.v1.refunds.create(
                    params={"charge": request.destination, "amount": request.amount_cents, "metadata": metadata},
                    options=options,
                )
        except (stripe.InvalidRequestError, stripe.CardError) as err:
            # Stripe refused this request as it stands (bad destination, no funds, too large a
            # refund): the same request will be refused again. Network, 5xx, 429 and key errors
            # propagate, and the activity retries them.
            raise FinalPaymentError(err.code or "invalid_request", err.user_message or str(err)) from None
        return made
