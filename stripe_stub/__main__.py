"""`python -m stripe_stub --port 12111 --state PATH`: the stub on its own, until Ctrl-C or SIGTERM.

Faults can be on from the start: with the flags below, and/or with a JSON fault configuration
(see `stripe_stub.faults`) in --faults or in the environment variable STRIPE_STUB_FAULTS; flags
win over the JSON. Once listening it prints one line, `stripe stub listening on URL`, so a
caller that asked for --port 0 can read the port.

Its admin routes (/_stub/...) need its own key: --api-key, else $STRIPE_API_KEY, else
`stack.config.STUB_API_KEY` (see `stripe_stub.admin`).
"""

import argparse
import asyncio
import json
import os
import sys

from pydantic import ValidationError

from stack.config import STUB_API_KEY
from stack.ports import bind
from stripe_stub import idempotency
from stripe_stub.faults import FaultConfig
from stripe_stub.server import serve

ENV_FAULTS = "STRIPE_STUB_FAULTS"


def _balance(text: str) -> tuple[str, int]:
    currency, sep, amount = text.partition("=")
    if not sep or len(currency) != 3 or not currency.isalpha() or not amount.isdigit():
        raise argparse.ArgumentTypeError(f"expected CURRENCY=CENTS like usd=100000, not {text!r}")
    return currency.lower(), int(amount)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stripe_stub", description="A Stripe-compatible stub server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12111, help="0 picks a free port (default 12111)")
    p.add_argument("--state", required=True, help="JSON file holding the stub's state (created if missing)")
    p.add_argument(
        "--balance",
        type=_balance,
        action="append",
        metavar="CURRENCY=CENTS",
        help="initial available balance of a new state file (repeatable; default usd=1000000000)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("STRIPE_API_KEY") or STUB_API_KEY,
        help="the sk_test_ key the admin routes (/_stub/...) need (default $STRIPE_API_KEY, else the embedded one)",
    )
    p.add_argument("--idempotency-ttl", type=float, default=idempotency.DEFAULT_TTL, help="seconds a key is kept")
    p.add_argument("--log-level", default="info")
    faults = p.add_argument_group("fault injection")
    faults.add_argument("--faults", help=f"a JSON fault configuration (also read from ${ENV_FAULTS})")
    faults.add_argument("--error-rate", type=float, help="share of /v1 requests answered 500")
    faults.add_argument("--rate-limit-rate", type=float, help="share of /v1 requests answered 429")
    faults.add_argument("--seed", type=int, help="seed making the shares repeatable")
    faults.add_argument("--fault-methods", nargs="+", choices=["GET", "POST"], help="requests the shares apply to")
    faults.add_argument(
        "--timeout-after-create",
        type=int,
        metavar="N",
        help="the next N transfers/refunds time out after the money moved",
    )
    faults.add_argument(
        "--timeout-rate", type=float, help="share of transfers/refunds timing out after the money moved"
    )
    faults.add_argument("--timeout-mode", choices=["delay", "drop"])
    faults.add_argument("--timeout-seconds", type=float, help="how long a delayed answer waits")
    faults.add_argument(
        "--decline", action="append", metavar="ACCT_ID", help="a destination account to decline (repeatable)"
    )
    faults.add_argument("--empty-balance", action="store_true", default=None, help="the platform balance reads 0")
    return p


def fault_config(args: argparse.Namespace, environ=os.environ) -> FaultConfig:
    config: dict = {}
    for text in (environ.get(ENV_FAULTS), args.faults):
        if text:
            config.update(json.loads(text))
    flags = {
        "error_rate": args.error_rate,
        "rate_limit_rate": args.rate_limit_rate,
        "seed": args.seed,
        "methods": args.fault_methods,
        "timeout_after_create": args.timeout_after_create,
        "timeout_rate": args.timeout_rate,
        "timeout_mode": args.timeout_mode,
        "timeout_seconds": args.timeout_seconds,
        "declined_destinations": args.decline,
        "empty_balance": args.empty_balance,
    }
    config.update({k: v for k, v in flags.items() if v is not None})
    return FaultConfig.model_validate(config)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.api_key.startswith("sk_test_") or args.api_key == "sk_test_":
        print("stripe stub: --api-key must be a secret test key, sk_test_...", file=sys.stderr)
        return 2
    try:
        faults = fault_config(args)
    except (ValueError, ValidationError) as e:
        print(f"stripe stub: bad fault configuration: {e}", file=sys.stderr)
        return 2
    try:
        sock = bind(args.port, args.host, or_any=False)
    except OSError as e:
        print(f"stripe stub: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1

    def ready(url: str) -> None:
        print(f"stripe stub listening on {url} (state {args.state})", flush=True)

    try:
        asyncio.run(
            serve(
                args.state,
                initial_balance=dict(args.balance) if args.balance else None,
                faults=faults,
                idempotency_ttl=args.idempotency_ttl,
                log_level=args.log_level,
                ready=ready,
                sock=sock,
                api_key=args.api_key,
            )
        )
    except ValueError as e:  # an unreadable state file
        print(f"stripe stub: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
