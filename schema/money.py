"""Money as people read and type it: `1,250.00` for 125000 cents. Integers only, never floats."""

import re

_AMOUNT = re.compile(r"^\d{1,3}(,\d{3})*(\.\d{1,2})?$|^\d+(\.\d{1,2})?$")


def format_cents(cents: int, currency: str | None = None) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    text = f"{sign}{whole:,}.{part:02d}"
    return f"{text} {currency}" if currency else text


def major_units(cents: int) -> str:
    """`125000` → `1250.00`: plain, as Stripe's reports and CSV files write amounts."""
    return format_cents(cents).replace(",", "")


def parse_amount(text: str) -> int:
    """`1,250.00` or `1250.5` to cents; raises ValueError for anything else."""
    text = text.strip()
    if not _AMOUNT.match(text):
        raise ValueError(f"not an amount: {text!r} (write it like 1,250.00)")
    whole, _, part = text.replace(",", "").partition(".")
    return int(whole) * 100 + int(part.ljust(2, "0") or 0)
