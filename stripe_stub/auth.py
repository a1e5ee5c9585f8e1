"""Stripe's API key check: any secret test key (`sk_test_...`) is accepted.

The key comes as `Authorization: Bearer KEY` (what the SDK sends) or as HTTP Basic with the key
as the user name (what `curl -u KEY:` sends). Anything else is Stripe's 401.
"""

import base64
import binascii

from stripe_stub import errors

ACCEPTED_PREFIX = "sk_test_"


def api_key(authorization: str | None) -> str:
    """The key of an Authorization header, or the StripeError to answer."""
    if not authorization or not authorization.strip():
        raise errors.no_api_key()
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise errors.invalid_api_key(value) from None
    elif scheme.lower() != "bearer":
        raise errors.invalid_api_key(authorization.strip())
    if not value:
        raise errors.no_api_key()
    if not value.startswith(ACCEPTED_PREFIX) or len(value) == len(ACCEPTED_PREFIX):
        raise errors.invalid_api_key(value)
    return value
