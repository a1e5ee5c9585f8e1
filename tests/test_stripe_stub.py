"""The Stripe stub, through the real `stripe` SDK's StripeClient: no mocks.

One stub serves the module (reset before each test); the persistence and CLI tests start their own.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import stripe

from stripe_stub.control import StubControl
from stripe_stub.server import start_in_thread

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000
USD = 1_000_000

# Field names of Stripe's own example objects (openapi fixtures3.json).
TRANSFER_FIELDS = {
    "amount",
    "amount_reversed",
    "balance_transaction",
    "created",
    "currency",
    "description",
    "destination",
    "destination_payment",
    "id",
    "livemode",
    "metadata",
    "object",
    "reversals",
    "reversed",
    "source_transaction",
    "source_type",
    "transfer_group",
}
REFUND_FIELDS = {
    "amount",
    "balance_transaction",
    "charge",
    "created",
    "currency",
    "destination_details",
    "id",
    "metadata",
    "object",
    "payment_intent",
    "reason",
    "receipt_number",
    "source_transfer_reversal",
    "status",
    "transfer_reversal",
    "customer",
    "customer_account",
    "payment_method",
}
BALANCE_TRANSACTION_FIELDS = {
    "amount",
    "available_on",
    "created",
    "currency",
    "description",
    "exchange_rate",
    "fee",
    "fee_details",
    "id",
    "net",
    "object",
    "reporting_category",
    "source",
    "status",
    "type",
    "balance_type",
}
BALANCE_FIELDS = {"available", "connect_reserved", "livemode", "object", "pending"}


@pytest.fixture(scope="module")
def shared_stub(tmp_path_factory):
    state = tmp_path_factory.mktemp("stripe_stub") / "state.json"
    url, stop = start_in_thread(state, port=0)
    yield url
    stop()


@pytest.fixture
def stub(shared_stub):
    control = StubControl(shared_stub)
    control.reset(balance={"usd": USD})
    return SimpleNamespace(url=shared_stub, control=control, client=client(shared_stub))


def client(url: str, *, retries: int = 0, timeout: float = 10.0, key: str = "sk_test_stub") -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def transfer(c: stripe.StripeClient, amount: int = 1000, key: str | None = None, **extra) -> stripe.Transfer:
    params = {"amount": amount, "currency": "usd", "destination": "acct_1Claimant", **extra}
    return c.v1.transfers.create(params=params, options={"idempotency_key": key} if key else None)


def available(c: stripe.StripeClient, currency: str = "usd") -> int:
    return next(b.amount for b in c.v1.balance.retrieve().available if b.currency == currency)


def replayed(obj) -> str | None:
    return obj.last_response.headers.get("idempotent-replayed")


def until(condition, seconds: float = 10.0) -> bool:
    """Poll a real condition until it holds, or say it never did."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- transfers, refunds, balance transactions, balance -------------------------------------


def test_transfer_is_created_retrieved_and_shaped_like_stripe(stub):
    c = stub.client
    created = transfer(
        c,
        2500,
        currency="USD",
        transfer_group="claim-42",
        description="Claim 42",
        metadata={"claim_id": "42", "note": "a=b & c/d é"},
    )
    assert isinstance(created, stripe.Transfer)
    assert set(created.to_dict()) == TRANSFER_FIELDS
    assert created.id.startswith("tr_") and created.object == "transfer"
    assert (created.amount, created.currency, created.destination) == (2500, "usd", "acct_1Claimant")
    assert created.transfer_group == "claim-42" and created.description == "Claim 42"
    assert created.metadata.to_dict() == {"claim_id": "42", "note": "a=b & c/d é"}
    assert created.livemode is False and created.reversed is False
    assert created.reversals.url == f"/v1/transfers/{created.id}/reversals"

    fetched = c.v1.transfers.retrieve(created.id)
    assert fetched.to_dict() == created.to_dict()
    txn = c.v1.balance_transactions.retrieve(created.balance_transaction)
    assert (txn.type, txn.amount, txn.net, txn.source) == ("transfer", -2500, -2500, created.id)


def test_transfers_list_pages_and_created_ranges(stub):
    c = stub.client
    stub.control.clock(frozen_at=T0)
    made = []
    for _ in range(5):
        made.append(transfer(c).id)
        stub.control.clock(advance=10)
    newest_first = made[::-1]  # created T0+40 ... T0

    page1 = c.v1.transfers.list(params={"limit": 2})
    assert (page1.object, page1.url, page1.has_more) == ("list", "/v1/transfers", True)
    assert [t.id for t in page1.data] == newest_first[:2]
    page2 = c.v1.transfers.list(params={"limit": 2, "starting_after": page1.data[-1].id})
    assert [t.id for t in page2.data] == newest_first[2:4] and page2.has_more
    page3 = c.v1.transfers.list(params={"limit": 2, "starting_after": page2.data[-1].id})
    assert [t.id for t in page3.data] == newest_first[4:] and not page3.has_more

    back = c.v1.transfers.list(params={"limit": 2, "ending_before": newest_first[4]})
    assert [t.id for t in back.data] == newest_first[2:4] and back.has_more
    back2 = c.v1.transfers.list(params={"limit": 2, "ending_before": newest_first[2]})
    assert [t.id for t in back2.data] == newest_first[:2] and not back2.has_more

    assert [t.id for t in c.v1.transfers.list(params={"limit": 2}).auto_paging_iter()] == newest_first

    def ids(created: dict | int, **more) -> list[str]:
        listed = c.v1.transfers.list(params={"created": created, **more}).auto_paging_iter()
        return [t.id for t in listed]

    assert ids({"gte": T0 + 10, "lt": T0 + 40}) == newest_first[1:4]
    assert ids({"gt": T0 + 10, "lte": T0 + 30}) == newest_first[1:3]
    assert ids({"gte": T0 + 10}, limit=2) == newest_first[:4]
    assert ids({"lt": T0}) == []
    assert ids(T0 + 20) == [made[2]]

    # Same second: the newest first still.
    same = [transfer(c).id for _ in range(3)]
    assert [t.id for t in c.v1.transfers.list(params={"limit": 3}).data] == same[::-1]


def test_list_parameters_are_checked(stub):
    c = stub.client
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.transfers.list(params={"limit": 101})
    assert e.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.transfers.list(params={"starting_after": "tr_missing"})
    assert (e.value.code, e.value.http_status) == ("resource_missing", 400)
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.transfers.list(params={"created": {"after": 1}})
    assert e.value.code == "parameter_unknown"


def test_refunds_never_exceed_the_charge(stub):
    c = stub.client
    stub.control.clock(frozen_at=T0)
    charge = c.v1.charges.create(params={"amount": 5000, "currency": "usd", "source": "tok_visa"})
    assert isinstance(charge, stripe.Charge) and charge.status == "succeeded"
    assert available(c) == USD + 5000

    first = c.v1.refunds.create(params={"charge": charge.id, "amount": 3000, "metadata": {"claim_id": "7"}})
    assert isinstance(first, stripe.Refund) and set(first.to_dict()) == REFUND_FIELDS
    assert (first.amount, first.charge, first.status, first.currency) == (3000, charge.id, "succeeded", "usd")
    assert c.v1.refunds.retrieve(first.id).to_dict() == first.to_dict()

    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.refunds.create(params={"charge": charge.id, "amount": 2001})
    assert (e.value.http_status, e.value.code, e.value.param) == (400, "amount_too_large", "amount")
    assert "greater than unrefunded amount" in e.value.user_message

    stub.control.clock(advance=10)
    rest = c.v1.refunds.create(params={"charge": charge.id})  # no amount: what is left
    assert rest.amount == 2000
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.refunds.create(params={"charge": charge.id, "amount": 1})
    assert e.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.refunds.create(params={"charge": "ch_missing"})
    assert (e.value.code, e.value.param) == ("resource_missing", "charge")

    after = c.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (5000, True)
    assert [r.id for r in after.refunds.data] == [rest.id, first.id]
    assert available(c) == USD

    # Lists: pages, the charge filter, created ranges.
    other = c.v1.charges.create(params={"amount": 100, "currency": "usd"})
    third = c.v1.refunds.create(params={"charge": other.id, "amount": 100})
    listed = c.v1.refunds.list(params={"limit": 2})
    assert [r.id for r in listed.data] == [third.id, rest.id] and listed.has_more and listed.url == "/v1/refunds"
    assert [r.id for r in c.v1.refunds.list(params={"limit": 2, "starting_after": rest.id}).data] == [first.id]
    assert [r.id for r in c.v1.refunds.list(params={"charge": charge.id}).data] == [rest.id, first.id]
    assert [r.id for r in c.v1.refunds.list(params={"created": {"lt": T0 + 10}}).data] == [first.id]
    assert [r.id for r in c.v1.refunds.list(params={"created": {"gte": T0 + 10}}).auto_paging_iter()] == [
        third.id,
        rest.id,
    ]


def test_balance_transactions_and_the_balance(stub):
    c = stub.client
    balance = c.v1.balance.retrieve()
    assert isinstance(balance, stripe.Balance) and set(balance.to_dict()) == BALANCE_FIELDS
    assert balance.available[0].to_dict() == {"amount": USD, "currency": "usd", "source_types": {"card": USD}}

    charge = c.v1.charges.create(params={"amount": 700, "currency": "usd"})
    t1 = transfer(c, 1200)
    refund = c.v1.refunds.create(params={"charge": charge.id, "amount": 300})
    t2 = transfer(c, 800)
    assert available(c) == USD + 700 - 1200 - 300 - 800

    txns = c.v1.balance_transactions.list(params={"limit": 3})
    assert txns.has_more and txns.url == "/v1/balance_transactions"
    every = list(c.v1.balance_transactions.list(params={"limit": 3}).auto_paging_iter())
    assert all(isinstance(t, stripe.BalanceTransaction) for t in every)
    assert set(every[0].to_dict()) == BALANCE_TRANSACTION_FIELDS
    assert [(t.type, t.amount, t.source) for t in every] == [
        ("transfer", -800, t2.id),
        ("refund", -300, refund.id),
        ("transfer", -1200, t1.id),
        ("charge", 700, charge.id),
    ]
    assert {t.id for t in every} == {
        t1.balance_transaction,
        t2.balance_transaction,
        refund.balance_transaction,
        charge.balance_transaction,
    }
    assert [t.id for t in c.v1.balance_transactions.list(params={"type": "transfer"}).data] == [
        t2.balance_transaction,
        t1.balance_transaction,
    ]
    assert sum(t.net for t in every) == available(c) - USD


def test_transfer_above_the_balance_is_refused(stub):
    c = stub.client
    stub.control.seed(balance={"usd": 1000})
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, 1001)
    assert (e.value.http_status, e.value.code) == (400, "balance_insufficient")
    assert c.v1.transfers.list().data == [] and available(c) == 1000
    transfer(c, 1000)
    assert available(c) == 0


# --- idempotency ------------------------------------------------------------------------------


def test_same_key_same_parameters_replays_the_first_answer(stub):
    c = stub.client
    first = transfer(c, 1500, key="claim-1-attempt-1", metadata={"claim_id": "1"})
    assert replayed(first) is None
    again = transfer(c, 1500, key="claim-1-attempt-1", metadata={"claim_id": "1"})
    assert again.id == first.id and again.to_dict() == first.to_dict()
    assert replayed(again) == "true"
    assert len(c.v1.transfers.list().data) == 1 and available(c) == USD - 1500


def test_a_replayed_error_keeps_its_status(stub):
    c = stub.client
    stub.control.seed(balance={"usd": 100})
    with pytest.raises(stripe.InvalidRequestError) as first:
        transfer(c, 500, key="claim-2-attempt-1")
    stub.control.seed(balance={"usd": 10_000})  # enough now: the key still answers what it answered
    with pytest.raises(stripe.InvalidRequestError) as again:
        transfer(c, 500, key="claim-2-attempt-1")
    assert again.value.http_status == first.value.http_status == 400
    assert again.value.code == "balance_insufficient"
    assert again.value.json_body == first.value.json_body
    assert again.value.headers.get("idempotent-replayed") == "true"
    assert c.v1.transfers.list().data == []
    assert transfer(c, 500, key="claim-2-attempt-2").amount == 500  # a new attempt, a new key


def test_same_key_other_parameters_is_an_idempotency_error(stub):
    c = stub.client
    transfer(c, 1000, key="claim-3-attempt-1")
    with pytest.raises(stripe.IdempotencyError) as e:
        transfer(c, 1001, key="claim-3-attempt-1")
    assert e.value.http_status == 400
    assert e.value.json_body["error"]["type"] == "idempotency_error"
    assert "can only be used with the same parameters" in e.value.user_message
    charge = c.v1.charges.create(params={"amount": 100, "currency": "usd"})
    with pytest.raises(stripe.IdempotencyError):
        c.v1.refunds.create(params={"charge": charge.id}, options={"idempotency_key": "claim-3-attempt-1"})
    assert len(c.v1.transfers.list().data) == 1 and c.v1.refunds.list().data == []


def test_concurrent_requests_with_one_key_create_one_object(stub):
    barrier = threading.Barrier(8)
    results: list = []

    def pay(key: str) -> None:
        c = client(stub.url)
        barrier.wait()
        results.append(transfer(c, 100, key=key).id)

    threads = [threading.Thread(target=pay, args=("claim-4-attempt-1",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert len(stub.client.v1.transfers.list().data) == 1 and available(stub.client) == USD - 100

    # Different keys at once: every one counted, no update lost.
    barrier.reset()
    results.clear()
    threads = [threading.Thread(target=pay, args=(f"claim-5-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 8 and available(stub.client) == USD - 900


# --- faults ------------------------------------------------------------------------------------


def test_a_seeded_share_of_requests_fails_with_500_and_429(stub):
    c = stub.client

    def outcomes(n: int) -> list[str]:
        seen = []
        for _ in range(n):
            try:
                c.v1.balance.retrieve()
                seen.append("ok")
            except stripe.RateLimitError as e:
                assert e.http_status == 429 and e.json_body["error"]["code"] == "rate_limit"
                seen.append("429")
            except stripe.APIError as e:
                assert e.http_status == 500 and e.json_body["error"]["type"] == "api_error"
                seen.append("500")
        return seen

    stub.control.faults(error_rate=0.2, rate_limit_rate=0.1, seed=1234)
    first = outcomes(300)
    assert 0.12 <= first.count("500") / 300 <= 0.28
    assert 0.04 <= first.count("429") / 300 <= 0.16
    assert stub.control.injected() == {
        "server_error": first.count("500"),
        "rate_limit": first.count("429"),
        "timeout": 0,
        "declined": 0,
    }
    stub.control.faults(error_rate=0.2, rate_limit_rate=0.1, seed=1234)
    assert outcomes(300) == first  # the seed repeats the sequence

    # Injected before the idempotency layer: nothing ran, so the same key works on the retry.
    stub.control.faults(error_rate=1.0, methods=["POST"])
    with pytest.raises(stripe.APIError):
        transfer(c, 100, key="claim-6-attempt-1")
    assert c.v1.transfers.list().data == []  # GETs are spared
    stub.control.clear_faults()
    made = transfer(c, 100, key="claim-6-attempt-1")
    assert replayed(made) is None and len(c.v1.transfers.list().data) == 1


@pytest.mark.parametrize("mode", ["delay", "drop"])
def test_a_timeout_after_the_money_moved_is_recovered_by_the_same_key(stub, mode):
    stub.control.faults(timeout_after_create=1, timeout_mode=mode, timeout_seconds=5)
    impatient = client(stub.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        transfer(impatient, 4000, key="claim-7-attempt-1")
    assert time.monotonic() - started < 3
    c = stub.client
    assert available(c) == USD - 4000  # the money moved
    again = transfer(impatient, 4000, key="claim-7-attempt-1")
    assert replayed(again) == "true"
    assert [t.id for t in c.v1.transfers.list().data] == [again.id]
    assert available(c) == USD - 4000
    assert stub.control.injected()["timeout"] == 1


def test_a_refund_timing_out_is_replayed_too(stub):
    c = stub.client
    charge = stub.control.seed(charges=[{"amount": 900, "currency": "usd"}])["charges"][0]
    stub.control.faults(timeout_after_create=1, timeout_mode="drop")
    with pytest.raises(stripe.APIConnectionError):
        c.v1.refunds.create(params={"charge": charge["id"], "amount": 900}, options={"idempotency_key": "r-1"})
    again = c.v1.refunds.create(params={"charge": charge["id"], "amount": 900}, options={"idempotency_key": "r-1"})
    assert replayed(again) == "true" and [r.id for r in c.v1.refunds.list().data] == [again.id]
    assert c.v1.charges.retrieve(charge["id"]).amount_refunded == 900


def test_planned_drops_hit_the_numbered_creations_and_replays_do_not_count(stub):
    c = stub.control
    with pytest.raises(RuntimeError, match="400"):
        c.faults(drop_creates=[0])
    charge = c.seed(charges=[{"amount": 900, "currency": "usd"}])["charges"][0]
    c.faults(drop_creates=[2, 3])
    transfer(stub.client, 100, key="t-1")  # creation 1
    with pytest.raises(stripe.APIConnectionError):
        transfer(stub.client, 200, key="t-2")  # creation 2: cut off after the money moved
    assert replayed(transfer(stub.client, 200, key="t-2")) == "true"  # a replay is no creation
    with pytest.raises(stripe.APIConnectionError):  # creation 3: a refund counts as well
        stub.client.v1.refunds.create(params={"charge": charge["id"]}, options={"idempotency_key": "r-3"})
    with pytest.raises(stripe.InvalidRequestError):  # refused: no creation
        transfer(stub.client, 10 * USD, key="t-too-much")
    transfer(stub.client, 400, key="t-4")  # creation 4: answered
    observed = c.observed()
    assert observed["planned"] == {"creations": 4, "dropped": 2, "held": 0}
    assert observed["injected"]["timeout"] == 0
    assert until(lambda: c.observed()["in_flight"] == 0)  # the server ends a dropped request after its client sees it
    assert [t.amount for t in stub.client.v1.transfers.list().data] == [400, 200, 100]
    assert [r.amount for r in stub.client.v1.refunds.list().data] == [900]
    assert available(stub.client) == USD - 100 - 200 - 400


def test_a_held_creation_is_in_flight_until_its_late_answer(stub):
    stub.control.faults(hold_creates={"1": 1.5})
    made = []
    paying = threading.Thread(target=lambda: made.append(transfer(client(stub.url), 500, key="held-1")))
    started = time.monotonic()
    paying.start()
    assert until(lambda: stub.control.observed()["in_flight"] == 1)
    assert available(stub.client) == USD - 500  # the money moved before the answer
    paying.join()
    assert time.monotonic() - started >= 1.5 and replayed(made[0]) is None
    observed = stub.control.observed()
    assert (observed["planned"]["held"], observed["in_flight"], observed["abandoned"]) == (1, 0, 0)
    transfer(stub.client, 600)  # creation 2: not held
    assert stub.control.observed()["planned"] == {"creations": 2, "dropped": 0, "held": 1}


def test_a_client_hanging_up_on_a_held_answer_is_seen_and_its_key_replays(stub):
    stub.control.faults(hold_creates={"1": 30.0})
    with pytest.raises(stripe.APIConnectionError):
        transfer(client(stub.url, timeout=0.3), 700, key="held-2")

    def gone() -> bool:
        observed = stub.control.observed()
        return (observed["abandoned"], observed["in_flight"]) == (1, 0)

    assert until(gone), stub.control.observed()
    again = transfer(stub.client, 700, key="held-2")
    assert replayed(again) == "true" and [t.id for t in stub.client.v1.transfers.list().data] == [again.id]


def test_the_sdk_own_retry_gets_the_object_created_the_first_time(stub):
    stub.control.faults(timeout_after_create=1, timeout_mode="drop")
    c = client(stub.url, retries=1)
    made = c.v1.transfers.create(params={"amount": 300, "currency": "usd", "destination": "acct_1X"})
    assert replayed(made) == "true"  # the SDK's own key, replayed on its retry
    assert [t.id for t in c.v1.transfers.list().data] == [made.id] and available(c) == USD - 300


def test_declined_destination(stub):
    c = stub.client
    stub.control.faults(declined_destinations=["acct_1Closed"])
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, 100, destination="acct_1Closed")
    assert (e.value.http_status, e.value.code, e.value.param) == (400, "account_invalid", "destination")
    assert transfer(c, 100, destination="acct_1Open").destination == "acct_1Open"
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, 100, destination="not_an_account")
    assert e.value.code == "resource_missing"
    assert [t.destination for t in c.v1.transfers.list().data] == ["acct_1Open"]
    assert stub.control.injected()["declined"] == 1


def test_empty_platform_balance(stub):
    c = stub.client
    stub.control.faults(empty_balance=True)
    assert available(c) == 0
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, 100)
    assert e.value.code == "balance_insufficient"
    stub.control.clear_faults()
    assert available(c) == USD
    transfer(c, 100)
    assert available(c) == USD - 100


# --- errors -----------------------------------------------------------------------------------


def test_stripe_error_format_and_typed_exceptions(stub):
    c = stub.client
    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.transfers.retrieve("tr_missing")
    assert e.value.http_status == 404
    body = e.value.json_body["error"]
    assert (body["type"], body["code"], body["param"]) == ("invalid_request_error", "resource_missing", "id")
    assert body["message"] == "No such transfer: 'tr_missing'"
    assert e.value.request_id and e.value.request_id.startswith("req_")

    with pytest.raises(stripe.InvalidRequestError) as e:
        c.v1.transfers.create(params={"currency": "usd", "destination": "acct_1X"})
    assert (e.value.code, e.value.param) == ("parameter_missing", "amount")
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, 100, colour="blue")
    assert (e.value.code, e.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as e:
        transfer(c, -5)
    assert e.value.param == "amount"

    with pytest.raises(stripe.CardError) as e:
        c.v1.charges.create(params={"amount": 100, "currency": "usd", "source": "tok_chargeDeclined"})
    assert (e.value.http_status, e.value.code, e.value.json_body["error"]["type"]) == (
        402,
        "card_declined",
        "card_error",
    )

    with pytest.raises(stripe.AuthenticationError) as e:
        client(stub.url, key="sk_live_wrongwrongwrong").v1.balance.retrieve()
    assert e.value.http_status == 401
    raw = httpx.get(f"{stub.url}/v1/balance")
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in raw.json()["error"]["message"]

    raw = httpx.get(f"{stub.url}/v1/payouts", headers={"Authorization": "Bearer sk_test_stub"})
    assert raw.status_code == 404 and "Unrecognized request URL" in raw.json()["error"]["message"]


def test_stripe_form_encoding_on_the_wire(stub):
    form = {
        "amount": "250",
        "currency": "usd",
        "destination": "acct_1Raw",
        "metadata[claim_id]": "C-9",
        "metadata[0]": "zero",
        "expand[]": "balance_transaction",
    }
    raw = httpx.post(
        f"{stub.url}/v1/transfers",
        data=form,
        headers={"Authorization": "Bearer sk_test_stub", "Idempotency-Key": "raw-1"},
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["metadata"] == {"claim_id": "C-9", "0": "zero"}
    assert raw.headers["request-id"].startswith("req_") and raw.headers["idempotency-key"] == "raw-1"


# --- persistence, running it -------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "stripe.json"
    url, stop = start_in_thread(state, initial_balance={"usd": 50_000})
    try:
        StubControl(url).seed(charges=[{"amount": 2000, "currency": "usd", "id": "ch_1Original"}])
        c = client(url)
        made = transfer(c, 10_000, key="claim-8-attempt-1")
        refund = c.v1.refunds.create(params={"charge": "ch_1Original", "amount": 500})
    finally:
        stop()
    json.loads(state.read_text())  # whole, valid JSON
    assert [p.name for p in tmp_path.iterdir()] == ["stripe.json"]  # no temporary file left behind

    url, stop = start_in_thread(state, initial_balance={"usd": 1})  # an existing file keeps its balance
    try:
        c = client(url)
        assert c.v1.transfers.retrieve(made.id).to_dict() == made.to_dict()
        assert c.v1.refunds.retrieve(refund.id).amount == 500
        assert c.v1.charges.retrieve("ch_1Original").amount_refunded == 500
        assert available(c) == 50_000 + 2000 - 10_000 - 500
        again = transfer(c, 10_000, key="claim-8-attempt-1")
        assert again.id == made.id and replayed(again) == "true"
        assert len(list(c.v1.balance_transactions.list().auto_paging_iter())) == 3
    finally:
        stop()


def test_command_line(tmp_path):
    env = {**os.environ, "STRIPE_STUB_FAULTS": json.dumps({"empty_balance": True})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_stub",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.json"),
            "--decline",
            "acct_1Bad",
            "--balance",
            "usd=1234",
            "--log-level",
            "warning",
            "--api-key",
            "sk_test_command_line",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("stripe stub listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[4]
        assert httpx.get(f"{url}/_stub/faults").status_code == 401, "the admin routes need the stub's key"
        control = StubControl(url, "sk_test_command_line")
        faults = control.describe_faults()["faults"]
        assert faults["declined_destinations"] == ["acct_1Bad"] and faults["empty_balance"] is True
        c = client(url)
        assert available(c) == 0
        control.clear_faults()
        assert available(c) == 1234
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_transfer_reversals_bring_money_back_in_part_or_whole(stub):
    c = stub.client
    transfer = c.v1.transfers.create(params={"amount": 1_000, "currency": "usd", "destination": "acct_rev"})
    part = c.v1.transfers.reversals.create(transfer.id, params={"amount": 400}, options={"idempotency_key": "rev-1"})
    again = c.v1.transfers.reversals.create(transfer.id, params={"amount": 400}, options={"idempotency_key": "rev-1"})
    assert again.id == part.id, "a reversal is idempotent like any POST"
    after = c.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed, [r.id for r in after.reversals.data]) == (400, False, [part.id])
    c.v1.transfers.reversals.create(transfer.id)
    after = c.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (1_000, True)
    assert c.v1.balance.retrieve().available[0].amount == USD
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.transfers.reversals.create(transfer.id, params={"amount": 1})
    assert err.value.code == "amount_too_large"


ADMIN_ROUTES = [
    ("GET", "/_stub/state", None),
    ("GET", "/_stub/faults", None),
    ("POST", "/_stub/faults", {"empty_balance": True}),
    ("DELETE", "/_stub/faults", None),
    ("POST", "/_stub/reset", {}),
    ("POST", "/_stub/seed", {"balance": {"usd": 1}}),
    ("POST", "/_stub/clock", {"frozen_at": 1_700_000_000}),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES, ids=lambda v: str(v))
def test_admin_routes_need_the_stubs_own_key(tmp_path, method, path, body):
    """Each admin route refuses without the stub's key (Stripe's 401, nothing changed) and works with it."""
    url, stop = start_in_thread(tmp_path / "state.json", api_key="sk_test_admin_only")
    try:
        before = StubControl(url, "sk_test_admin_only").state()
        for headers in [
            {},
            {"Authorization": "Bearer sk_test_someone_else"},  # good enough for /v1, not for /_stub
            {"Authorization": "Bearer sk_live_admin_only"},
            {"Authorization": "Basic " + base64.b64encode(b"sk_test_guessed:").decode()},
            {"Authorization": "sk_test_admin_only"},
        ]:
            r = httpx.request(method, f"{url}{path}", json=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.json()["error"]["type"] == "invalid_request_error"
            assert "sk_test_admin_only" not in r.text
        assert StubControl(url, "sk_test_admin_only").state() == before, "a refused call changes nothing"
        for headers in [
            {"Authorization": "Bearer sk_test_admin_only"},
            {"Authorization": "Basic " + base64.b64encode(b"sk_test_admin_only:").decode()},
        ]:
            r = httpx.request(method, f"{url}{path}", json=body, headers=headers)
            assert r.status_code == 200, r.text
        assert httpx.get(f"{url}/_stub/health").json() == {"ok": True}, "health stays open"
        assert available(client(url, key="sk_test_anyone")) >= 0, "/v1 still takes any sk_test_ key"
    finally:
        stop()
