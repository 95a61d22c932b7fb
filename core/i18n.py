"""`N_` marks a message for the catalogue (pybabel's default `N_` keyword) without translating it here: the
text stays Chinese where it is stored or compared, and the page or API that shows it translates it
(flask_babel gettext). The layers below the web app import no Flask."""
from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    return message
