"""Template filters and globals."""
from __future__ import annotations

from datetime import datetime

from core.masking import mask_id
from core.timefmt import china_time
from domain import dicts
from domain.accounts import ROLE_NAMES


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return china_time(value, fmt)  # stored in UTC, shown in Beijing time


def nav_links() -> list:
    """The header links the process modules declare for the logged-in role, on areas it may enter (ROLE-2)."""
    from flask import g
    from flask_login import current_user

    from domain.access import POLICY
    from webapp.session import current_actor

    if not current_user.is_authenticated or g.get("runtime") is None:
        return []
    links = g.runtime.modules.nav_links(current_user.role)
    if any(link.area for link in links):
        actor = current_actor()
        links = [link for link in links if not link.area or POLICY.may_read_area(actor, link.area)]
    return links


def plain_gettext(message: str, **variables) -> str:
    """`_()` in templates: the translation as plain text, so autoescape escapes it like any value.

    Jinja's new-style gettext marks every translation safe (Markup), which is right for a literal msgid
    but makes `_(label)` over data (status labels carry names, reasons) an injection point (issue 12).
    No msgid of ours contains markup, so nothing needs it to be safe."""
    from flask_babel import gettext

    return str(gettext(message, **variables))


def plain_ngettext(singular: str, plural: str, num: int, **variables) -> str:
    from flask_babel import ngettext

    return str(ngettext(singular, plural, num, **variables))


def register(app) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["mask_id"] = mask_id
    from flask_babel import get_locale

    app.jinja_env.globals.update(
        get_locale=get_locale,
        ROLE_NAMES=ROLE_NAMES,
        nav_links=nav_links,
        _=plain_gettext,
        gettext=plain_gettext,
        ngettext=plain_ngettext,
        dest_type_name=lambda code: plain_gettext(str((dicts.destination_type(code) or {}).get("name", code))),
    )
