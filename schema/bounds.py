"""What people type, bounded once for every interface: days, and ids.

A day is written YYYY-MM-DD and falls between 2000-01-01 and 2100-12-31: nothing this product
records happened before 2000 or will after 2100, and the bound keeps every day ± a few (what the
ledger and reconciliation read around a range) far inside what `date` and the databases hold.

An id (a customer, a pro, a project, an account) is text a person copies from another system. It
may not hold control characters (Unicode Cc) nor format characters (Cf: bidi overrides such as
U+202E, zero-width characters such as U+200B), which make two different ids look the same, or an
id look like something else on a screen.
"""

import re
import unicodedata
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)
DAY_RANGE = f"from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}"

_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _iso(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise ValueError("write the date as YYYY-MM-DD")


def _in_bounds(day: date) -> date:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"a day is {DAY_RANGE}")
    return day


def invisible_characters(text: str) -> list[str]:
    """The control and format characters in `text`, as U+XXXX."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in _INVISIBLE]


def _visible(text: str) -> str:
    found = invisible_characters(text)
    if found:
        raise ValueError(f"control and format characters are not allowed ({', '.join(dict.fromkeys(found))})")
    return text


Day = Annotated[
    date,
    BeforeValidator(_iso),
    AfterValidator(_in_bounds),
    Field(description=f"a UTC day, YYYY-MM-DD, {DAY_RANGE}"),
]
"""A day people give: YYYY-MM-DD, from 2000-01-01 to 2100-12-31."""

Id = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_visible)]
"""An id people type: 1 to 200 characters, none of them control or format characters."""

Visible = AfterValidator(_visible)
"""The same check for other names people type (a file name)."""


def _address(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = value.strip().lower()
    if not re.fullmatch(r"[^@\s<>,;\"()\[\]]+@[^@\s<>,;\"()\[\]]+\.[a-z0-9-]{2,}", value):
        raise ValueError("write an email address like name@example.com")
    return value


Email = Annotated[str, BeforeValidator(_address), Field(max_length=254), AfterValidator(_visible)]
"""An email address people type: one plain address (no display name), kept lower-case."""
