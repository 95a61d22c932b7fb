"""Every setting the platform reads from the environment, declared once.

Embedded default: SQLite file under ./var, Celery tasks run eagerly, timers
fired by an in-process scheduler. Production: set GRADFLOW_MODE=production,
a PostgreSQL DATABASE_URL, a Redis broker and a real SECRET_KEY.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_FILE_MODE = 0o600  # var/secret_key and the embedded SQLite database (issue 12)
DEFAULT_API_TOKEN_HOURS = 12
MAX_API_TOKEN_HOURS = 24 * 90
log = logging.getLogger(__name__)


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


def _render_nice() -> int:
    value = _int("GRADFLOW_RENDER_NICE", 10)
    if not 0 <= value <= 19:
        raise ConfigError(f"GRADFLOW_RENDER_NICE must be between 0 and 19 (a nice value step), got {value}")
    return value


DEFAULT_PASSWORD_HASH = "scrypt"  # werkzeug's generate_password_hash default (scrypt:32768:8:1)
_SCRYPT_DEFAULT = (2**15, 8, 1)  # n, r, p
MIN_PBKDF2_ITERATIONS = 600_000
_PBKDF2_HASHES = {"sha256", "sha384", "sha512"}


def public_base_url() -> str:
    """GRADFLOW_BASE_URL: where the platform is reached from outside (links in SMS, e-mail, PDF QR codes)."""
    return os.environ.get("GRADFLOW_BASE_URL", "http://127.0.0.1:5000").strip().rstrip("/")


def sync_url() -> str:
    """GRADFLOW_SYNC_URL: the employment management system's (就业管理系统) endpoint the PRV-3 data sync POSTs
    each change to. Empty: sync is off, its rows wait in the outbox. Read per delivery, like the base URL."""
    return os.environ.get("GRADFLOW_SYNC_URL", "").strip()


def sync_timeout_seconds() -> float:
    """GRADFLOW_SYNC_TIMEOUT_SECONDS: how long one sync delivery may take before it counts as failed."""
    raw = os.environ.get("GRADFLOW_SYNC_TIMEOUT_SECONDS", "").strip()
    try:
        value = float(raw) if raw else 10.0
    except ValueError as exc:
        raise ConfigError(f"GRADFLOW_SYNC_TIMEOUT_SECONDS must be a number, got {raw!r}") from exc
    if not 0 < value <= 300:
        raise ConfigError(f"GRADFLOW_SYNC_TIMEOUT_SECONDS must be between 0 and 300, got {raw!r}")
    return value


def password_hash_method() -> str:
    """The werkzeug method new password hashes are made with (GRADFLOW_PASSWORD_HASH).

    Default: werkzeug's own default, scrypt. Only the tests lower it (to
    pbkdf2:sha256:1, so an account costs no 0.3 s); load_settings() refuses a
    method weaker than the default in production. Checking a stored hash never
    reads this: werkzeug takes the method from the hash string itself.
    """
    return os.environ.get("GRADFLOW_PASSWORD_HASH", "").strip() or DEFAULT_PASSWORD_HASH


def password_hash_weakness(method: str) -> str | None:
    """Why `method` is weaker than the default, or None when it is not.

    Raises ConfigError when werkzeug would not accept the method at all.
    """
    name, *args = method.split(":")
    if name == "scrypt":
        return _scrypt_weakness(method, args)
    if name == "pbkdf2":
        return _pbkdf2_weakness(method, args)
    raise ConfigError(
        f"GRADFLOW_PASSWORD_HASH must be 'scrypt[:N:R:P]' or 'pbkdf2[:HASH[:ITERATIONS]]', got {method!r}"
    )


def _scrypt_weakness(method: str, args: list[str]) -> str | None:
    if not args:
        return None
    try:
        n, r, p = (int(a) for a in args)
    except ValueError:
        raise ConfigError(
            f"GRADFLOW_PASSWORD_HASH: scrypt takes 'scrypt' or 'scrypt:N:R:P' (integers), got {method!r}"
        ) from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise ConfigError(
            f"GRADFLOW_PASSWORD_HASH: scrypt N must be a power of 2 above 1, R and P >= 1, got {method!r}"
        )
    if n < _SCRYPT_DEFAULT[0] or r < _SCRYPT_DEFAULT[1] or p < _SCRYPT_DEFAULT[2]:
        return f"scrypt n={n}, r={r}, p={p} is below the default n=32768, r=8, p=1"
    return None


def _pbkdf2_weakness(method: str, args: list[str]) -> str | None:
    if len(args) > 2:
        raise ConfigError(f"GRADFLOW_PASSWORD_HASH: pbkdf2 takes 'pbkdf2[:HASH[:ITERATIONS]]', got {method!r}")
    hash_name = args[0] if args else "sha256"
    if hash_name not in hashlib.algorithms_available:
        raise ConfigError(f"GRADFLOW_PASSWORD_HASH: unknown hash {hash_name!r} in {method!r}")
    # Without an iteration count werkzeug uses its own default (1,000,000), above the minimum.
    iterations = _int_arg(method, args[1], "pbkdf2 iterations") if len(args) == 2 else MIN_PBKDF2_ITERATIONS
    if iterations < 1:
        raise ConfigError(f"GRADFLOW_PASSWORD_HASH: pbkdf2 iterations must be >= 1, got {method!r}")
    if hash_name not in _PBKDF2_HASHES:
        return f"pbkdf2 with {hash_name} (use sha256, sha384 or sha512)"
    if iterations < MIN_PBKDF2_ITERATIONS:
        return f"pbkdf2 with {iterations} iterations (at least {MIN_PBKDF2_ITERATIONS} needed)"
    return None


def _timer_workers() -> int:
    value = _int("GRADFLOW_TIMER_WORKERS", 1)
    if not 1 <= value <= 16:
        raise ConfigError(f"GRADFLOW_TIMER_WORKERS must be between 1 and 16, got {value}")
    return value


def _int_arg(method: str, raw: str, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"GRADFLOW_PASSWORD_HASH: {what} must be an integer, got {method!r}") from None


def _ratelimit_storage_url(mode: str, broker: str) -> str:
    """GRADFLOW_RATELIMIT_STORAGE_URL, else memory:// (embedded) or the broker when it is Redis (production)."""
    raw = os.environ.get("GRADFLOW_RATELIMIT_STORAGE_URL", "").strip()
    if raw:
        return raw
    if mode != "production":
        return "memory://"
    if broker.startswith(("redis://", "rediss://")):
        return broker
    raise ConfigError(
        "production mode needs GRADFLOW_RATELIMIT_STORAGE_URL (e.g. redis://127.0.0.1:6379/1) when "
        "CELERY_BROKER_URL is not Redis: rate limits must be shared by every web process"
    )


@dataclass(frozen=True)
class Settings:
    mode: str = "embedded"  # embedded | production
    database_url: str = ""
    secret_key: str = ""
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    celery_eager: bool = True
    timer_poll_seconds: int = 15
    # Timer jobs draining a backlog at once (production): a tick that finds more than a batch due sends this many
    # minus one helpers to the `timers` queue; run its worker with --concurrency of the same number.
    timer_workers: int = 1
    # Documents that are also made on first demand (e-agreement PDFs) are not rendered at signing: each costs
    # about 130 ms of CPU, about as much as the rest of the work behind 7 steps (GRADFLOW_RENDER_ON_DOWNLOAD=1).
    render_on_download: bool = False
    # The worker renders them at this much lower CPU priority (a thread's nice value, 0 = as the steps): on a
    # machine shared with the web processes, renders use the CPU the steps leave (GRADFLOW_RENDER_NICE).
    render_nice: int = 10
    # PostgreSQL: psycopg prepares a statement once a connection has run it five times (issue 11: the server
    # then neither parses nor plans it again). Off (GRADFLOW_PG_PREPARED_STATEMENTS=0) only behind a pooler that
    # cannot keep them: PgBouncer before 1.22, or without max_prepared_statements, in transaction mode.
    pg_prepared_statements: bool = True
    # import paths of process modules beyond processes.modules() (each exposes module())
    extra_modules: tuple[str, ...] = ()
    var_dir: Path = ROOT / "var"
    max_upload_bytes: int = 12 * 1024 * 1024
    image_max_stored_bytes: int = 300 * 1024
    image_max_pixels: int = 40_000_000
    script_time_limit_seconds: int = 2
    default_locale: str = "zh"
    base_url: str = "http://127.0.0.1:5000"  # for links sent outside the app (SMS, e-mail)
    # GRADFLOW_RATELIMIT_STORAGE_URL: where Flask-Limiter counts hits. memory:// is per process (embedded, tests);
    # production shares the counters of every web process in Redis (default: the Celery broker's Redis).
    ratelimit_storage_url: str = "memory://"
    # GRADFLOW_API_TOKEN_HOURS: how long a token from POST /api/v1/token is valid (issue 12)
    api_token_hours: int = DEFAULT_API_TOKEN_HOURS
    # GRADFLOW_SYNC_URL: where the PRV-3 data sync POSTs changes (empty: sync off); GRADFLOW_SYNC_TIMEOUT_SECONDS
    sync_url: str = ""
    sync_timeout_seconds: float = 10.0
    # GRADFLOW_STORAGE_URL: where uploaded images and PDFs are kept (core.storage): '' = var/files,
    # file:///path, or s3://bucket/prefix (S3-compatible object storage, production)
    storage_url: str = ""
    extra: dict[str, object] = field(default_factory=dict)


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
        secret_key = _embedded_secret_key(var_dir)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    eager = _bool("CELERY_EAGER", default=not broker)
    if mode == "production" and eager:
        raise ConfigError("production mode needs CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    hash_method = password_hash_method()
    weakness = password_hash_weakness(hash_method)
    if mode == "production" and weakness:
        raise ConfigError(
            f"production mode refuses GRADFLOW_PASSWORD_HASH={hash_method!r}, weaker than the default: "
            f"{weakness}. Unset it (default 'scrypt') or use pbkdf2:sha256:N with N >= {MIN_PBKDF2_ITERATIONS}."
        )
    api_token_hours = _int("GRADFLOW_API_TOKEN_HOURS", DEFAULT_API_TOKEN_HOURS)
    if not 1 <= api_token_hours <= MAX_API_TOKEN_HOURS:
        raise ConfigError(f"GRADFLOW_API_TOKEN_HOURS must be between 1 and {MAX_API_TOKEN_HOURS}, got {api_token_hours}")
    secure_sqlite_file(database_url)
    return Settings(
        mode=mode,
        database_url=database_url,
        secret_key=secret_key,
        celery_broker_url=broker or "memory://",
        celery_result_backend=os.environ.get("CELERY_RESULT_BACKEND", ""),
        celery_eager=eager,
        timer_poll_seconds=_int("GRADFLOW_TIMER_POLL_SECONDS", 15),
        timer_workers=_timer_workers(),
        render_on_download=_bool("GRADFLOW_RENDER_ON_DOWNLOAD", False),
        render_nice=_render_nice(),
        pg_prepared_statements=_bool("GRADFLOW_PG_PREPARED_STATEMENTS", True),
        extra_modules=tuple(p.strip() for p in os.environ.get("GRADFLOW_EXTRA_MODULES", "").split(",") if p.strip()),
        var_dir=var_dir,
        max_upload_bytes=_int("GRADFLOW_MAX_UPLOAD_BYTES", 12 * 1024 * 1024),
        default_locale=os.environ.get("GRADFLOW_LOCALE", "zh"),
        base_url=public_base_url(),
        ratelimit_storage_url=_ratelimit_storage_url(mode, broker),
        api_token_hours=api_token_hours,
        sync_url=sync_url(),
        sync_timeout_seconds=sync_timeout_seconds(),
        storage_url=os.environ.get("GRADFLOW_STORAGE_URL", "").strip(),
    )


def _embedded_secret_key(var_dir: Path) -> str:
    """Embedded: a random per-install key kept in var/secret_key (0600), never a guessable constant."""
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = var_dir / "secret_key"
    try:
        # O_EXCL: created here with 0600 from the start, never readable by others for a moment.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _make_private(key_file)  # a key written by an older version (0644) is closed up
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _make_private(path: Path) -> None:
    """chmod 0600 when group or others may read or write the file (and we own it)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
    except OSError as exc:  # not ours to change: say so, do not refuse to start
        log.warning("cannot restrict %s to mode 0600: %s", path, exc)


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a sqlite:/// URL; None for other databases, :memory: and file: URIs."""
    if not database_url.startswith("sqlite:///"):
        return None
    raw = database_url.removeprefix("sqlite:///").split("?", 1)[0]
    if not raw or raw == ":memory:" or raw.startswith("file:") or "uri=true" in database_url.lower():
        return None
    return Path(raw)


def secure_sqlite_file(database_url: str) -> None:
    """An embedded SQLite database: its directory exists and its file (plus -wal/-shm) is 0600.

    SQLite creates the file on first connect with the process umask (usually 0644) and gives its
    -wal and -shm files the database file's mode, so the file is made here first, private.
    """
    path = sqlite_file(database_url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError as exc:  # e.g. a read-only directory: the database connection will tell
        log.warning("cannot create %s: %s", path, exc)
        return
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            _make_private(each)
