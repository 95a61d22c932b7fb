"""Template filters and globals."""
from __future__ import annotations

from datetime import datetime

from core.timefmt import china_time
from domain import dicts
from domain.accounts import ROLE_NAMES


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return china_time(value, fmt)  # stored in UTC, shown in Beijing time


def mask_id(value: str | None) -> str:
    if not value or len(value) < 8:
        return value or ""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def register(app) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["mask_id"] = mask_id
    from flask_babel import get_locale

    app.jinja_env.globals.update(
        get_locale=get_locale,
        ROLE_NAMES=ROLE_NAMES,
        dest_type_name=lambda code: (dicts.destination_type(code) or {}).get("name", code),
    )
