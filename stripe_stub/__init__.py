"""A Stripe-compatible stub server: the subset of Stripe's REST API a payout provider uses.

Transfers to connected accounts, refunds of charges, balance transactions and the platform
balance, with Stripe's error format, Stripe's idempotency rules, state persisted in a JSON file
and switchable fault injection, so that the real `stripe` SDK (and anything written against
real Stripe) can be exercised end to end without a network or an account.

Start it from Python with `stripe_stub.server.start_in_thread(state_path, port=0)`, or on its own
with `python -m stripe_stub --port 12111 --state PATH`.
"""

from stripe_stub.app import create_app
from stripe_stub.server import serve, start_in_thread

__all__ = ["create_app", "serve", "start_in_thread"]
