"""Checking request parameters the way Stripe does, with Stripe's `parameter_*` errors."""

import re

from stripe_stub import errors

_INT = re.compile(r"^-?\d+$")
_CURRENCY = re.compile(r"^[a-zA-Z]{3}$")


def only(params: dict, allowed: set[str]) -> None:
    """Stripe refuses any parameter it does not know."""
    for name in params:
        if name not in allowed | {"expand"}:
            raise errors.unknown_param(name)


def integer(params: dict, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.missing_param(name)
        return None
    if not isinstance(value, str) or not _INT.match(value):
        raise errors.invalid_integer(name, value)
    number = int(value)
    if minimum is not None and number < minimum:
        raise errors.invalid_request(
            f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer", param=name
        )
    return number


def string(params: dict, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise errors.missing_param(name)
        return None
    if not isinstance(value, str):
        raise errors.invalid_param(name, f"Invalid string: {value!r}")
    if len(value) > max_length:
        raise errors.invalid_param(name, f"Invalid string: must be at most {max_length} characters long")
    return value


def currency(params: dict, name: str = "currency", *, required: bool = True) -> str | None:
    value = string(params, name, required=required)
    if value is None:
        return None
    if not _CURRENCY.match(value):
        raise errors.invalid_request(f"Invalid currency: {value.lower()}.", code="parameter_invalid_string", param=name)
    return value.lower()


def choice(params: dict, name: str, options: set[str]) -> str | None:
    value = string(params, name)
    if value is not None and value not in options:
        raise errors.invalid_request(
            f"Invalid {name}: must be one of {', '.join(sorted(options))}", code="parameter_invalid_string", param=name
        )
    return value


def metadata(params: dict) -> dict[str, str]:
    """Stripe's limits: 50 keys, keys up to 40 characters, values up to 500; empty values unset."""
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise errors.invalid_request("Invalid object", code="parameter_invalid_string", param="metadata")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise errors.invalid_request("Invalid string", code="parameter_invalid_string", param=f"metadata[{key}]")
        if len(key) > 40:
            raise errors.invalid_request(
                f"Metadata keys can have up to 40 characters. You passed in a key that was {len(key)} characters.",
                code="parameter_invalid_string",
                param=f"metadata[{key}]",
            )
        if len(item) > 500:
            raise errors.invalid_request(
                "Metadata values can have up to 500 characters, but you passed in a value that is "
                f"{len(item)} characters.",
                code="parameter_invalid_string",
                param=f"metadata[{key}]",
            )
        if item != "":
            result[key] = item
    if len(result) > 50:
        raise errors.invalid_request(
            "You can only specify up to 50 keys in metadata.", code="parameter_invalid_string", param="metadata"
        )
    return result
