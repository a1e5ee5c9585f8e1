"""The payment-provider interface and its error classes."""

from typing import Protocol

from pydantic import BaseModel

from schema.enums import PayoutMethod


class PaymentRequest(BaseModel):
    idempotency_key: str
    claim_id: str
    attempt: int
    amount_cents: int
    currency: str
    method: PayoutMethod
    destination: str


class PaymentReceipt(BaseModel):
    provider_ref: str


class FinalPaymentError(Exception):
    """The provider refused for good (bad destination, no funds): retrying will not help."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class PaymentProvider(Protocol):
    name: str

    def pay(self, request: PaymentRequest) -> PaymentReceipt:
        """Move the money once per idempotency key; a repeated key returns the first receipt.

        Raises FinalPaymentError for refusals; any other exception is worth retrying.
        """
        ...
