"""The /_stub admin routes, for tests and people (JSON in, JSON out).

Every one but /_stub/health needs the stub's own key, the one it was started with
(`create_app(api_key=...)`, `python -m stripe_stub --api-key`, default $STRIPE_API_KEY or
`stack.config.STUB_API_KEY`; `guarantee up` gives its embedded stub the key its worker pays
with), sent as Stripe's API is: `Authorization: Bearer KEY` (or HTTP Basic with the key as user
name). Without it: Stripe's 401, before the body is read. The /v1 routes, like Stripe in test mode,
take any `sk_test_` key; these can wipe or rewrite the stub's books, so they take only its own.
`stripe_stub.control.StubControl(url, key)` sends it.

    GET    /_stub/health   {"ok": true}
    GET    /_stub/faults   {"faults": {...}, "injected": {"server_error", "rate_limit", "timeout", "declined"},
                           "planned": {"creations", "dropped", "held"}, "in_flight": n, "abandoned": n}
                           (see `faults.Faults.describe`)
    POST   /_stub/faults   a fault configuration (see `faults`); replaces the current one
    DELETE /_stub/faults   every fault off
    POST   /_stub/reset    {"balance": {"usd": 100000}}  (optional) -> a fresh stub: no objects,
                           no idempotency keys, no faults, real time; the balance given or the
                           default one
    POST   /_stub/seed     {"balance": {"usd": 0}, "charges": [{"amount": 5000, "currency": "usd",
                           "id": "ch_...", "description": "...", "metadata": {...}}]}  (each optional)
                           -> charges created as POST /v1/charges would (their amounts join the
                           balance), then the available balance of each currency named in
                           "balance" set to that amount; answers {"charges": [...], "balance": {...}}
    POST   /_stub/clock    {"frozen_at": 1700000000, "advance": 60, "unfreeze": false} (each
                           optional) -> {"now", "frozen"}: the time stamped on new objects
    GET    /_stub/state    the whole persisted state (objects, balance, idempotency records)

Errors come in Stripe's format: 400 invalid_request_error, 401 without the stub's key.
"""

import copy
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stripe_stub import auth, errors, objects, operations
from stripe_stub.errors import StripeError
from stripe_stub.faults import FaultConfig
from stripe_stub.store import DEFAULT_BALANCE, empty_state

router = APIRouter(prefix="/_stub")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(_Strict):
    balance: dict[str, int] | None = None


class SeedCharge(_Strict):
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    id: str | None = Field(None, pattern=r"^ch_\w+$")
    description: str | None = None
    metadata: dict[str, str] = {}


class SeedRequest(_Strict):
    balance: dict[str, int] | None = None
    charges: list[SeedCharge] = []


class ClockRequest(_Strict):
    frozen_at: int | None = None
    advance: int = 0
    unfreeze: bool = False


async def _body(request: Request, model: type[BaseModel]):
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors())
        raise errors.invalid_request(f"Invalid {model.__name__}: {problems}") from None


def _balances(values: dict[str, int] | None) -> dict[str, int] | None:
    if values is None:
        return None
    for currency, amount in values.items():
        if len(currency) != 3 or not currency.isalpha():
            raise errors.invalid_request(f"Invalid currency: {currency}", param="balance")
        if amount < 0:
            raise errors.invalid_request(f"Invalid balance for {currency}: {amount} is below 0", param="balance")
    return {currency.lower(): amount for currency, amount in values.items()}


def _error(e: StripeError) -> JSONResponse:
    return JSONResponse(e.body(objects.new_request_id()), status_code=e.status)


def _refused(request: Request) -> JSONResponse | None:
    """Stripe's 401 unless the request carries the stub's own key; None when it does."""
    try:
        key = auth.api_key(request.headers.get("authorization"))
    except StripeError as e:
        return _error(e)
    if not hmac.compare_digest(key.encode(), request.app.state.stub.api_key.encode()):
        return _error(errors.invalid_api_key(key))
    return None


@router.get("/health")
async def health() -> dict:
    return {"ok": True}


@router.get("/faults")
async def get_faults(request: Request):
    if refused := _refused(request):
        return refused
    return request.app.state.stub.faults.describe()


@router.post("/faults")
async def set_faults(request: Request):
    if refused := _refused(request):
        return refused
    try:
        config = await _body(request, FaultConfig)
    except StripeError as e:
        return _error(e)
    stub = request.app.state.stub
    stub.faults.configure(config)
    return stub.faults.describe()


@router.delete("/faults")
async def clear_faults(request: Request):
    if refused := _refused(request):
        return refused
    stub = request.app.state.stub
    stub.faults.configure(None)
    return stub.faults.describe()


@router.post("/reset")
async def reset(request: Request):
    if refused := _refused(request):
        return refused
    stub = request.app.state.stub
    try:
        body = await _body(request, ResetRequest)
        balance = _balances(body.balance)
    except StripeError as e:
        return _error(e)
    stub.store.replace(empty_state(DEFAULT_BALANCE if balance is None else balance))
    stub.faults.configure(None)
    stub.clock.set(unfreeze=True)
    with stub.store.reading() as state:
        return {"balance": operations.balance(state, stub.faults)}


@router.post("/seed")
async def seed(request: Request):
    if refused := _refused(request):
        return refused
    stub = request.app.state.stub
    try:
        body = await _body(request, SeedRequest)
        balance = _balances(body.balance)
        with stub.store.transaction() as state:
            charges = [
                operations.add_charge(
                    state,
                    stub.context(),
                    amount=c.amount,
                    currency=c.currency.lower(),
                    id=c.id,
                    description=c.description,
                    metadata=c.metadata,
                )
                for c in body.charges
            ]
            state["balance"].update(balance or {})
            return {"charges": charges, "balance": operations.balance(state, stub.faults)}
    except StripeError as e:
        return _error(e)


@router.post("/clock")
async def clock(request: Request):
    if refused := _refused(request):
        return refused
    try:
        body = await _body(request, ClockRequest)
    except StripeError as e:
        return _error(e)
    return request.app.state.stub.clock.set(frozen_at=body.frozen_at, advance=body.advance, unfreeze=body.unfreeze)


@router.get("/state")
async def state(request: Request):
    if refused := _refused(request):
        return refused
    with request.app.state.stub.store.reading() as current:
        return copy.deepcopy(current)
