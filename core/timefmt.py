"""Times are stored as naive UTC; people read them in China time (UTC+8, no daylight saving)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def to_china(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(CHINA)


def china_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return to_china(value).strftime(fmt) if value is not None else ""


def china_date(value: datetime | None) -> str:
    return china_time(value, "%Y-%m-%d")


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset, for the API: unambiguous and the same clock the pages show."""
    return to_china(value).isoformat() if value is not None else None
