"""Flask extensions shared by the app factory and the blueprints (no blueprint imports another's package).

`limiter` (Flask-Limiter) is declared once: views carry their limits as decorators written when their
module is imported, while the counters live per app — each `create_app` builds its own storage from
`settings.ratelimit_storage_url` (memory:// in the embedded default and in tests, Redis in production),
so one test's hits never leak into another's app.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_app_context, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from limits.storage import Storage
from limits.strategies import RateLimiter

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()

_STATE = "gradflow_limiter"


def client_ip() -> str:
    """The client as the web server saw it (one key per address for per-client limits)."""
    return request.remote_addr or "unknown"


def hashed(value: str) -> str:
    """Keys in the shared storage never hold a name, number or code in clear."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _request_values() -> dict[str, Any]:
    """The posted form, the JSON object body or the query string: whichever the request carries."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    if request.method in {"POST", "PUT", "PATCH"}:
        return request.form.to_dict()
    return request.args.to_dict()


def field_key(*names: str, normalize: Callable[[str], str] = lambda v: v.strip()) -> Callable[[], str]:
    """A key function: the (normalized, hashed) values of request fields; "" (limit skipped) when all are empty.

    It never raises: a key function that fails would count as a storage failure.
    """

    def key() -> str:
        try:
            values = _request_values()
            parts = [normalize(str(values.get(name) or "")) for name in names]
        except Exception:  # noqa: BLE001 - a bad body is the view's to refuse, not the limiter's
            return ""
        if not any(parts):
            return ""
        return hashed("\x1f".join(parts))

    return key


def account_key() -> str:
    """The logged-in account (session or API token), for per-account limits; "" when anonymous."""
    from flask_login import current_user

    try:
        account = g.get("api_account")
        if account is not None:
            return f"account:{account.id}"
        if current_user.is_authenticated:
            return f"account:{current_user.id}"
    except Exception:  # noqa: BLE001
        return ""
    return ""


def refused_login(response: Any) -> bool:
    """deduct_when for login limits: only a refused login (wrong password, unknown user) counts."""
    return bool(response.status_code == 401)


@dataclass
class _AppLimits:
    storage: Storage
    strategy: RateLimiter
    enabled: bool


class AppLimiter(Limiter):
    """A Limiter whose counters belong to the Flask app handling the request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_filter(self._disabled_for_this_app)

    def init_app(self, app: Flask) -> None:
        enabled = bool(app.config.get("RATELIMIT_ENABLED", True))
        # Flask-Limiter keeps `enabled` and the storage on the extension object; ours stay per app.
        self.enabled = True
        app.config["RATELIMIT_ENABLED"] = True
        super().init_app(app)
        assert self._storage is not None and self._limiter is not None
        app.extensions[_STATE] = _AppLimits(self._storage, self._limiter, enabled)

    def _state(self) -> _AppLimits | None:
        return current_app.extensions.get(_STATE) if has_app_context() else None

    @staticmethod
    def _disabled_for_this_app() -> bool:
        state = current_app.extensions.get(_STATE)
        return state is None or not state.enabled

    @property
    def storage(self) -> Storage:
        state = self._state()
        return state.storage if state is not None else super().storage

    @property
    def limiter(self) -> RateLimiter:
        state = self._state()
        if state is None:
            return super().limiter
        if self._storage_dead and self._fallback_limiter is not None:
            return self._fallback_limiter
        return state.strategy


limiter = AppLimiter(
    key_func=client_ip,
    headers_enabled=True,  # X-RateLimit-* and, on a 429, Retry-After
    strategy="fixed-window",
    # Redis down: count in this process instead, and never turn a storage error into a 500.
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


def init_limiter(app: Flask, storage_url: str) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_url)
    limiter.init_app(app)


def retry_after_seconds() -> int:
    """Seconds until the breached limit's window resets (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    try:
        return max(1, int(current.reset_at - time.time()))
    except Exception:  # noqa: BLE001
        return 60


# -- limits shared by several views -------------------------------------------------------------------
# Logins (page /login and API /api/v1/token share the counters): only refused attempts count, so a
# campus behind one address is not locked out by its own successful logins; one username cannot be tried
# more than 10 times a minute whoever tries it (100 wrong passwords in a row hit this at the 11th).
LOGIN_PER_CLIENT = "30/minute;300/hour"
LOGIN_PER_USERNAME = "10/minute;50/hour;200/day"
username_key = field_key("username", normalize=lambda v: v.strip().lower())


def limit_login(view: Callable[..., Any]) -> Callable[..., Any]:
    """Per client and per username limits on refused logins, for the login page and the token API."""
    view = limiter.shared_limit(LOGIN_PER_USERNAME, scope="login-username", key_func=username_key,
                                methods=["POST"], deduct_when=refused_login)(view)
    return limiter.shared_limit(LOGIN_PER_CLIENT, scope="login-client", methods=["POST"],
                                deduct_when=refused_login)(view)


# Employer self-registration (page /employer/register and API POST /api/v1/employers): per client.
REGISTER_PER_CLIENT = "5/hour;20/day"


def limit_employer_registration(view: Callable[..., Any]) -> Callable[..., Any]:
    return limiter.shared_limit(REGISTER_PER_CLIENT, scope="employer-register", methods=["POST"])(view)


# Finding a graduate by name + 身份证号 / 考生号 (page /employer/find, API /graduates/lookup and /invitations,
# which looks the graduate up the same way). Per client, per account, and per person sought: the same name
# with the same first 14 characters of the 身份证号 (region and birth date) or 10 of the 考生号, so trying
# the 1,000 sequence numbers of one person stops at the 11th whoever and wherever tries them.
LOOKUP_PER_CLIENT = "30/minute;500/day"
LOOKUP_PER_ACCOUNT = "20/minute;300/day"
LOOKUP_PER_PERSON = "10/hour;20/day"


def _person_sought() -> str:
    try:
        values = _request_values()
        name = str(values.get("name") or "").strip()
        id_number = str(values.get("id_number") or "").strip().upper()
        exam_no = str(values.get("exam_no") or "").strip()
    except Exception:  # noqa: BLE001
        return ""
    if not name or not (id_number or exam_no):
        return ""
    return hashed(f"{name}\x1f{'id:' + id_number[:14] if id_number else 'exam:' + exam_no[:10]}")


def limit_graduate_lookup(view: Callable[..., Any]) -> Callable[..., Any]:
    view = limiter.shared_limit(LOOKUP_PER_PERSON, scope="graduate-lookup-person", key_func=_person_sought,
                                methods=["POST"])(view)
    view = limiter.shared_limit(LOOKUP_PER_ACCOUNT, scope="graduate-lookup-account", key_func=account_key,
                                methods=["POST"])(view)
    return limiter.shared_limit(LOOKUP_PER_CLIENT, scope="graduate-lookup-client", methods=["POST"])(view)
