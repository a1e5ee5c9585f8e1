"""How pages show things: amounts as `1,250.00 USD`, times in the person's time zone, ages and time left."""

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schema.money import format_cents

TZ_COOKIE = "tz"  # set by the page's script from the browser's time zone; UTC without it


def zone(name: str | None) -> ZoneInfo:
    """The zone the cookie names (the script writes it URL-encoded: `Asia%2FTokyo`), else UTC."""
    try:
        return ZoneInfo(unquote(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def money(cents: int | None, currency: str | None = None) -> str:
    return "" if cents is None else format_cents(cents, currency)


def when(at: datetime | None, tz: ZoneInfo, seconds: bool = False) -> str:
    if at is None:
        return ""
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def span(delta: timedelta) -> str:
    """`3 d 4 h`, `5 h 20 min`, `12 min`: how long, for people."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def age(at: datetime | None, now: datetime | None = None) -> str:
    return "" if at is None else span((now or datetime.now(UTC)) - at)


def left(due: datetime | None, now: datetime | None = None) -> str:
    """Time left until `due`, or how late it is."""
    if due is None:
        return ""
    delta = due - (now or datetime.now(UTC))
    return f"{span(delta)} left" if delta >= timedelta(0) else f"{span(delta)} late"


def label(value) -> str:
    """`pending_approval` → `pending approval`."""
    return "" if value is None else str(getattr(value, "value", value)).replace("_", " ")
