"""What each API call does to the state: the money rules of the stub.

- A charge (POST /v1/charges, or seeded through POST /_stub/seed) is captured at once and adds
  its amount to the available balance; no fees anywhere, so every balance transaction's net is
  its amount.
- A transfer needs a destination `acct_...` (any is valid unless declined by fault injection)
  and that much available balance in its currency, and takes it out of the balance.
- A refund needs a charge, is never above what is left to refund on it, and takes the money
  out of the available balance too.
- Each charge, transfer and refund writes one balance transaction.

Every function checks everything before changing anything, and runs inside a store transaction.
"""

import copy
from dataclasses import dataclass

from stripe_stub import errors, objects, params
from stripe_stub.faults import Faults

_SINGULAR = {
    "transfers": "transfer",
    "refunds": "refund",
    "charges": "charge",
    "balance_transactions": "balance transaction",
}
_DECLINING_SOURCES = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
}


@dataclass
class Context:
    now: int
    faults: Faults


def available(state: dict, currency: str, faults: Faults) -> int:
    return 0 if faults.empty_balance else state["balance"].get(currency, 0)


def balance(state: dict, faults: Faults) -> dict:
    amounts = dict(state["balance"])
    if faults.empty_balance:
        amounts = {currency: 0 for currency in amounts}
    return objects.balance(amounts)


def retrieve(state: dict, kind: str, id: str) -> dict:
    found = state[kind].get(id)
    if found is None:
        raise errors.no_such(_SINGULAR[kind], id)
    return copy.deepcopy(found)


def _record_balance_transaction(
    state: dict, *, amount: int, currency: str, now: int, source: str, type: str, description: str | None
) -> str:
    txn = objects.balance_transaction(
        id=objects.new_id("txn"),
        amount=amount,
        currency=currency,
        created=now,
        source=source,
        type=type,
        reporting_category=type,
        description=description,
    )
    state["balance_transactions"][txn["id"]] = txn
    state["balance"][currency] = state["balance"].get(currency, 0) + amount
    return txn["id"]


def create_transfer(state: dict, p: dict, ctx: Context) -> dict:
    params.only(
        p,
        {
            "amount",
            "currency",
            "destination",
            "transfer_group",
            "metadata",
            "description",
            "source_transaction",
            "source_type",
        },
    )
    amount = params.integer(p, "amount", required=True, minimum=1)
    currency = params.currency(p)
    destination = params.string(p, "destination", required=True)
    metadata = params.metadata(p)
    description = params.string(p, "description")
    transfer_group = params.string(p, "transfer_group")
    source_transaction = params.string(p, "source_transaction")
    params.choice(p, "source_type", {"bank_account", "card", "fpx"})

    if not destination.startswith("acct_"):
        raise errors.no_such("destination", destination, param="destination", status=400)
    if ctx.faults.declines(destination):
        raise errors.account_invalid(destination)
    if source_transaction is not None and source_transaction not in state["charges"]:
        raise errors.no_such("charge", source_transaction, param="source_transaction", status=400)
    if available(state, currency, ctx.faults) < amount:
        raise errors.balance_insufficient(currency)

    id = objects.new_id("tr")
    txn = _record_balance_transaction(
        state, amount=-amount, currency=currency, now=ctx.now, source=id, type="transfer", description=description
    )
    transfer = objects.transfer(
        id=id,
        amount=amount,
        currency=currency,
        destination=destination,
        created=ctx.now,
        balance_transaction=txn,
        description=description,
        metadata=metadata,
        transfer_group=transfer_group,
        source_transaction=source_transaction,
    )
    state["transfers"][id] = transfer
    return copy.deepcopy(transfer)


def reverse_transfer(state: dict, transfer_id: str, p: dict, ctx: Context) -> dict:
    """Stripe's transfer reversal: money comes back from the connected account, in part or whole."""
    params.only(p, {"amount", "metadata", "description"})
    transfer = state["transfers"].get(transfer_id)
    if transfer is None:
        raise errors.no_such("transfer", transfer_id)
    remaining = transfer["amount"] - transfer["amount_reversed"]
    amount = params.integer(p, "amount", minimum=1)
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise errors.invalid_param(
            "amount", f"You cannot reverse more than the {remaining} left on this transfer.", code="amount_too_large"
        )
    id = objects.new_id("trr")
    currency = transfer["currency"]
    txn = _record_balance_transaction(
        state, amount=amount, currency=currency, now=ctx.now, source=id, type="transfer_refund", description=None
    )
    reversal = {
        "id": id,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": txn,
        "created": ctx.now,
        "currency": currency,
        "destination_payment_refund": None,
        "metadata": params.metadata(p),
        "source_refund": None,
        "transfer": transfer_id,
    }
    transfer["reversals"]["data"].insert(0, reversal)
    transfer["reversals"]["total_count"] = len(transfer["reversals"]["data"])
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    return copy.deepcopy(reversal)


def _money(amount: int, currency: str) -> str:
    return f"${amount / 100:.2f}" if currency == "usd" else f"{amount / 100:.2f} {currency.upper()}"


def create_refund(state: dict, p: dict, ctx: Context) -> dict:
    params.only(p, {"charge", "payment_intent", "amount", "metadata", "reason"})
    charge_id = params.string(p, "charge")
    payment_intent = params.string(p, "payment_intent")
    amount = params.integer(p, "amount", minimum=1)
    metadata = params.metadata(p)
    reason = params.choice(p, "reason", {"duplicate", "fraudulent", "requested_by_customer"})
    if charge_id is None and payment_intent is None:
        raise errors.invalid_request(
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
            param="charge",
        )
    if charge_id is None:
        raise errors.no_such("payment_intent", payment_intent, param="payment_intent", status=400)

    charge = state["charges"].get(charge_id)
    if charge is None:
        raise errors.no_such("charge", charge_id, param="charge", status=400)
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise errors.invalid_request(
            f"Charge {charge_id} has already been refunded.", code="charge_already_refunded", param="charge"
        )
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise errors.invalid_request(
            f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount "
            f"on charge ({_money(remaining, charge['currency'])})",
            code="amount_too_large",
            param="amount",
        )
    currency = charge["currency"]
    if available(state, currency, ctx.faults) < amount:
        raise errors.balance_insufficient(currency)

    id = objects.new_id("re")
    txn = _record_balance_transaction(
        state, amount=-amount, currency=currency, now=ctx.now, source=id, type="refund", description=None
    )
    refund = objects.refund(
        id=id,
        amount=amount,
        currency=currency,
        charge=charge_id,
        created=ctx.now,
        balance_transaction=txn,
        metadata=metadata,
        reason=reason,
    )
    state["refunds"][id] = refund
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
    return copy.deepcopy(refund)


def create_charge(state: dict, p: dict, ctx: Context) -> dict:
    params.only(
        p,
        {
            "amount",
            "currency",
            "source",
            "customer",
            "description",
            "metadata",
            "capture",
            "receipt_email",
            "statement_descriptor",
            "transfer_group",
        },
    )
    amount = params.integer(p, "amount", required=True, minimum=1)
    currency = params.currency(p)
    source = params.string(p, "source")
    customer = params.string(p, "customer")
    metadata = params.metadata(p)
    description = params.string(p, "description")
    receipt_email = params.string(p, "receipt_email")
    statement_descriptor = params.string(p, "statement_descriptor", max_length=22)
    transfer_group = params.string(p, "transfer_group")
    if source in _DECLINING_SOURCES:
        error = errors.card_declined()
        error.decline_code = _DECLINING_SOURCES[source]
        raise error
    return add_charge(
        state,
        ctx,
        amount=amount,
        currency=currency,
        description=description,
        metadata=metadata,
        customer=customer,
        transfer_group=transfer_group,
        receipt_email=receipt_email,
        statement_descriptor=statement_descriptor,
    )


def add_charge(
    state: dict,
    ctx: Context,
    *,
    amount: int,
    currency: str,
    id: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    customer: str | None = None,
    transfer_group: str | None = None,
    receipt_email: str | None = None,
    statement_descriptor: str | None = None,
) -> dict:
    """A succeeded, captured charge whose amount lands in the available balance."""
    id = id or objects.new_id("ch")
    if id in state["charges"]:
        raise errors.invalid_request(f"Charge {id} already exists.", param="id")
    txn = _record_balance_transaction(
        state, amount=amount, currency=currency, now=ctx.now, source=id, type="charge", description=description
    )
    charge = objects.charge(
        id=id,
        amount=amount,
        currency=currency,
        created=ctx.now,
        balance_transaction=txn,
        description=description,
        metadata=metadata or {},
        customer=customer,
        transfer_group=transfer_group,
        receipt_email=receipt_email,
        statement_descriptor=statement_descriptor,
    )
    state["charges"][id] = charge
    return copy.deepcopy(charge)
