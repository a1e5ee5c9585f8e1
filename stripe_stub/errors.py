"""Stripe's error format: `{"error": {"type", "code", "message", "param", ...}}` with its HTTP status.

The status picks the `stripe` SDK's exception: 400/404 InvalidRequestError (IdempotencyError when
the type is `idempotency_error`), 401 AuthenticationError, 402 CardError, 429 RateLimitError,
500 APIError. As in Stripe's answers, `code`, `param` and `decline_code` appear only when they
apply.
"""


class StripeError(Exception):
    """An error to answer in Stripe's format.

    `stored` says whether the idempotency layer keeps it as the key's result: errors raised while
    executing the request are stored and replayed, while errors in the shape of the parameters
    (`parameter_*` codes) are not, as in Stripe.
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        stored: bool | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.stored = stored if stored is not None else not (code or "").startswith("parameter_")
        self.headers = headers or {}

    def body(self, request_id: str) -> dict:
        error: dict = {}
        if self.code:
            error["code"] = self.code
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error["type"] = self.type
        return {"error": error}


def invalid_request(
    message: str, *, code: str | None = None, param: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def missing_param(param: str) -> StripeError:
    return invalid_request(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown_param(param: str) -> StripeError:
    return invalid_request(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def invalid_integer(param: str, value: object) -> StripeError:
    return invalid_request(f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def invalid_param(param: str, message: str, code: str = "parameter_invalid_string") -> StripeError:
    return invalid_request(message, code=code, param=param)


def no_such(kind: str, id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """A missing object: 404 when it is the URL's object, 400 when a parameter names it."""
    return invalid_request(f"No such {kind}: '{id}'", code="resource_missing", param=param, status=status)


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def no_api_key() -> StripeError:
    return StripeError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
        "https://stripe.com/docs/api#authentication for details, or we can help at "
        "https://support.stripe.com/.",
    )


def invalid_api_key(key: str) -> StripeError:
    shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
    return StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")


def balance_insufficient(currency: str) -> StripeError:
    return invalid_request(
        "You have insufficient available funds in your Stripe account. Try adding funds directly "
        "to your available balance by creating Charges using the 4000000000000077 test card. "
        f"See: https://stripe.com/docs/testing#available-balance (currency: {currency})",
        code="balance_insufficient",
    )


def account_invalid(destination: str) -> StripeError:
    return invalid_request(
        f"No such destination: '{destination}'. The destination account cannot receive transfers.",
        code="account_invalid",
        param="destination",
    )


def card_declined() -> StripeError:
    return StripeError(
        402, "card_error", "Your card was declined.", code="card_declined", decline_code="generic_decline"
    )


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used with the same parameters they were first "
        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
        stored=False,
    )


def idempotency_other_endpoint(key: str, first: str, now: str) -> StripeError:
    return StripeError(
        400,
        "idempotency_error",
        "Keys for idempotent requests can only be used for the same endpoint they were first used "
        f"for ('{first}' vs '{now}'). Try using a key other than '{key}' if you meant to execute "
        "a different request.",
        stored=False,
    )


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "invalid_request_error",
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
        stored=False,
    )


def api_error(message: str = "An unknown error occurred, please try again.") -> StripeError:
    return StripeError(500, "api_error", message, stored=False)
