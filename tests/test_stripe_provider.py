"""StripeProvider against the stub through the real SDK: each outcome, and how it is classified."""

import uuid

import pytest
import stripe

from payments.provider import FinalPaymentError, PaymentRequest
from schema.enums import PayoutMethod


def request(method=PayoutMethod.transfer, destination="acct_good", amount=2_500, key=None) -> PaymentRequest:
    claim = uuid.uuid4().hex[:12]
    return PaymentRequest(
        idempotency_key=key or f"claim-{claim}-payout-1",
        claim_id=claim,
        attempt=1,
        amount_cents=amount,
        currency="USD",
        method=method,
        destination=destination,
    )


@pytest.fixture
def faults(stub):
    yield stub.control.faults
    stub.control.clear_faults()


def test_a_transfer_carries_the_claim_and_the_key(stub, provider):
    req = request()
    receipt = provider.pay(req)
    transfer = stub.client.v1.transfers.retrieve(receipt.provider_ref)
    assert (transfer.amount, transfer.currency, transfer.destination) == (2_500, "usd", "acct_good")
    assert transfer.transfer_group == f"claim-{req.claim_id}"
    assert transfer.metadata.to_dict() == {"claim_id": req.claim_id, "attempt": "1"}
    assert provider.pay(req) == receipt, "the same key pays once and answers the same"


def test_a_refund_of_the_original_charge(stub, provider):
    charge = stub.client.v1.charges.create(params={"amount": 4_000, "currency": "usd", "source": "tok_visa"})
    receipt = provider.pay(request(PayoutMethod.refund, charge.id, amount=1_500))
    refund = stub.client.v1.refunds.retrieve(receipt.provider_ref)
    assert (refund.charge, refund.amount) == (charge.id, 1_500)


def test_never_more_than_the_charge_is_final(stub, provider):
    charge = stub.client.v1.charges.create(params={"amount": 1_000, "currency": "usd", "source": "tok_visa"})
    with pytest.raises(FinalPaymentError) as err:
        provider.pay(request(PayoutMethod.refund, charge.id, amount=1_001))
    assert err.value.code == "amount_too_large"


def test_a_declined_destination_is_final(provider, faults):
    faults(declined_destinations=["acct_closed"])
    with pytest.raises(FinalPaymentError) as err:
        provider.pay(request(destination="acct_closed"))
    assert err.value.code == "account_invalid"


def test_an_empty_platform_balance_is_final(provider, faults):
    faults(empty_balance=True)
    with pytest.raises(FinalPaymentError) as err:
        provider.pay(request())
    assert err.value.code == "balance_insufficient"


@pytest.mark.parametrize(
    ("fault", "error"),
    [({"error_rate": 1.0}, stripe.APIError), ({"rate_limit_rate": 1.0}, stripe.RateLimitError)],
)
def test_server_errors_and_rate_limits_are_raised_for_a_retry_that_pays_once(stub, provider, faults, fault, error):
    req = request()
    faults(**fault)
    with pytest.raises(error):
        provider.pay(req)
    faults()
    receipt = provider.pay(req)
    assert [t.id for t in stub.transfers(req.claim_id)] == [receipt.provider_ref]


def test_a_timeout_after_the_money_moved_raises_and_the_same_key_pays_once(stub, provider, faults):
    req = request()
    faults(timeout_after_create=1, timeout_mode="drop")
    with pytest.raises(stripe.APIConnectionError):
        provider.pay(req)
    [made] = stub.transfers(req.claim_id)
    assert provider.pay(req).provider_ref == made.id
    assert len(stub.transfers(req.claim_id)) == 1
