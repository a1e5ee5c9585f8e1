"""Stripe's API objects, shaped field for field like Stripe's own examples (openapi fixtures3.json).

Only the builders live here: who may create what, and when, is decided in `operations`.
"""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """An id in Stripe's style: `tr_1Pgc7BB7WZ01zgkWVJfE40RX`."""
    return f"{prefix}_1" + "".join(secrets.choice(_ALPHABET) for _ in range(length - 1))


def new_request_id() -> str:
    return "req_" + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def list_object(url: str, data: list[dict], has_more: bool) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def transfer(
    *,
    id: str,
    amount: int,
    currency: str,
    destination: str,
    created: int,
    balance_transaction: str,
    description: str | None,
    metadata: dict[str, str],
    transfer_group: str | None,
    source_transaction: str | None,
) -> dict:
    return {
        "id": id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "description": description,
        "destination": destination,
        "destination_payment": new_id("py", 14),
        "livemode": False,
        "metadata": metadata,
        "reversals": list_object(f"/v1/transfers/{id}/reversals", [], False),
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def refund(
    *,
    id: str,
    amount: int,
    currency: str,
    charge: str,
    created: int,
    balance_transaction: str,
    metadata: dict[str, str],
    reason: str | None,
) -> dict:
    return {
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": created,
        "currency": currency,
        "destination_details": {"card": {"type": "reversal"}, "type": "card"},
        "metadata": metadata,
        "payment_intent": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        "customer": None,
        "customer_account": None,
        "payment_method": None,
    }


def balance_transaction(
    *,
    id: str,
    amount: int,
    currency: str,
    created: int,
    source: str,
    type: str,
    reporting_category: str,
    description: str | None,
) -> dict:
    return {
        "id": id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": amount,
        "reporting_category": reporting_category,
        "source": source,
        "status": "available",
        "type": type,
        "balance_type": "payments",
    }


def balance(available: dict[str, int]) -> dict:
    currencies = sorted(available) or ["usd"]
    return {
        "object": "balance",
        "available": [
            {"amount": available.get(c, 0), "currency": c, "source_types": {"card": available.get(c, 0)}}
            for c in currencies
        ],
        "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        "livemode": False,
        "pending": [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies],
    }


def _address() -> dict:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def charge(
    *,
    id: str,
    amount: int,
    currency: str,
    created: int,
    balance_transaction: str,
    description: str | None,
    metadata: dict[str, str],
    customer: str | None,
    transfer_group: str | None,
    receipt_email: str | None,
    statement_descriptor: str | None,
) -> dict:
    card = new_id("card")
    return {
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": _address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": statement_descriptor or "STRIPE STUB",
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": metadata,
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": None,
        "payment_method": card,
        "payment_method_details": {
            "card": {
                "amount_authorized": amount,
                "brand": "visa",
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "exp_month": 8,
                "exp_year": 2030,
                "extended_authorization": {"status": "disabled"},
                "fingerprint": "AOB934RVNwzk6xtn",
                "funding": "credit",
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": "4242",
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": "visa",
                "network_token": {"used": False},
                "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                "three_d_secure": None,
                "wallet": None,
                "authorization_code": None,
                "regulated_status": "unregulated",
                "network_transaction_id": None,
                "transaction_link_id": None,
            },
            "type": "card",
        },
        "receipt_email": receipt_email,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{id}",
        "refunded": False,
        "refunds": list_object(f"/v1/charges/{id}/refunds", [], False),
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": transfer_group,
        "source": None,
    }
