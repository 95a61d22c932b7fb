"""Every setting the platform reads from the environment, declared once.

Embedded default: SQLite file under ./var, Celery tasks run eagerly, timers
fired by an in-process scheduler. Production: set GRADFLOW_MODE=production,
a PostgreSQL DATABASE_URL, a Redis broker and a real SECRET_KEY.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    pass


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    mode: str = "embedded"  # embedded | production
    database_url: str = ""
    secret_key: str = ""
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    celery_eager: bool = True
    timer_poll_seconds: int = 15
    processes_dir: Path = ROOT / "processes"
    var_dir: Path = ROOT / "var"
    max_upload_bytes: int = 12 * 1024 * 1024
    image_max_stored_bytes: int = 300 * 1024
    image_max_pixels: int = 40_000_000
    script_time_limit_seconds: int = 2
    default_locale: str = "zh"
    base_url: str = "http://127.0.0.1:5000"  # for links sent outside the app (SMS, e-mail)
    extra: dict = field(default_factory=dict)


def load_settings() -> Settings:
    mode = os.environ.get("GRADFLOW_MODE", "embedded").strip().lower()
    if mode not in {"embedded", "production"}:
        raise ConfigError(f"GRADFLOW_MODE must be 'embedded' or 'production', got {mode!r}")
    var_dir = Path(os.environ.get("GRADFLOW_VAR_DIR", str(ROOT / "var")))
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        if mode == "production":
            raise ConfigError("production mode needs DATABASE_URL (postgresql+psycopg://...)")
        database_url = f"sqlite:///{var_dir / 'gradflow.sqlite3'}"
    secret_key = os.environ.get("SECRET_KEY", "")
    if not secret_key:
        if mode == "production":
            raise ConfigError("production mode needs SECRET_KEY (no default secret in production)")
        # Embedded: a random per-install key kept under var/, never a guessable constant.
        var_dir.mkdir(parents=True, exist_ok=True)
        key_file = var_dir / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
        secret_key = key_file.read_text().strip()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    eager = _bool("CELERY_EAGER", default=not broker)
    if mode == "production" and eager:
        raise ConfigError("production mode needs CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    return Settings(
        mode=mode,
        database_url=database_url,
        secret_key=secret_key,
        celery_broker_url=broker or "memory://",
        celery_result_backend=os.environ.get("CELERY_RESULT_BACKEND", ""),
        celery_eager=eager,
        timer_poll_seconds=_int("GRADFLOW_TIMER_POLL_SECONDS", 15),
        processes_dir=Path(os.environ.get("GRADFLOW_PROCESSES_DIR", str(ROOT / "processes"))),
        var_dir=var_dir,
        max_upload_bytes=_int("GRADFLOW_MAX_UPLOAD_BYTES", 12 * 1024 * 1024),
        default_locale=os.environ.get("GRADFLOW_LOCALE", "zh"),
        base_url=os.environ.get("GRADFLOW_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
    )
