"""SQLAlchemy 2 base, engine and session factory shared by engine/ and domain/."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

# Ids of append-only tables (work items, audit, outbox, messages, access log) grow by billions over the
# seasons: int8 on PostgreSQL (issue 11). SQLite's INTEGER PRIMARY KEY is already 64-bit, and only that
# exact type is its rowid (auto-incrementing), so SQLite keeps Integer.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:  # pragma: no cover - trivial
            # WAL lets readers run beside the single writer; foreign keys on.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        use_immediate_transactions_on_sqlite(eng)
        return eng
    eng = create_engine(url, pool_size=10, max_overflow=10)
    ping_when_idle(eng)
    return eng


PING_AFTER_IDLE_SECONDS = 5.0
_CHECKED_IN = "gradflow_checked_in"  # ConnectionPoolEntry.info: monotonic time of the last check-in


def ping_when_idle(eng: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Pessimistic disconnect handling without a round trip per checkout (issue 11: pool_pre_ping cost one
    `SELECT 1` per checkout, three per step). A connection idle for `idle_seconds` or more is pinged at checkout,
    and a dead one is replaced (DisconnectionError makes the pool retry with a fresh connection). A busy
    connection is not pinged: if the server went away meanwhile, its first statement fails as a disconnect,
    SQLAlchemy invalidates the pool (every older connection is replaced) and that request answers 503 with
    Retry-After (webapp._database_unavailable)."""

    @event.listens_for(eng.pool, "checkin")
    def _checked_in(_dbapi_conn: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(eng.pool, "checkout")
    def _ping_if_idle(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new (just connected) or busy: no ping
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()  # psycopg began a transaction for the ping: end it
        except Exception as exc:  # noqa: BLE001 - any failure means a dead connection
            raise DisconnectionError(f"idle connection is gone: {exc}") from exc


def make_session_factory(eng: Engine, info: dict[str, object] | None = None) -> sessionmaker[Session]:
    """info travels with every session (the blob store: core.storage, read by domain.blobs)."""
    return sessionmaker(bind=eng, expire_on_commit=False, info=dict(info or {}))


def use_immediate_transactions_on_sqlite(eng: Engine) -> None:
    """A step transaction on SQLite takes the write lock at BEGIN.

    With a deferred BEGIN two steps may both read, and the later writer then
    fails with 'database is locked' instead of waiting; BEGIN IMMEDIATE makes
    the second one wait, re-read the committed state and get a clean conflict.
    Only connections asked for it (execution option sqlite_immediate) do this.
    """
    if eng.dialect.name != "sqlite":
        return

    @event.listens_for(eng, "connect")
    def _autocommit_driver(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(eng, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("sqlite_immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


# -- rows looked up by an immutable unique key, once per transaction (issue 11) ----------------------------------
# A step reads the record of its instance in a handler, a completion hook and the response: three SELECTs by
# `instance_id`, which the identity map cannot answer (it knows primary keys only, and holds objects weakly).
# `by_key` keeps what it found (or added, through `remember`) until the transaction ends.
_BY_KEY = "gradflow_by_key"
_Row = TypeVar("_Row")


def transaction_memo(session: Session) -> dict[Any, Any]:
    """What this transaction has read or written and may need again; emptied when the transaction ends."""
    memo: dict[Any, Any] = session.info.setdefault(_BY_KEY, {})
    return memo


def by_key(session: Session, model: type[_Row], column: str, value: object) -> _Row | None:
    """The one row of `model` whose immutable unique `column` is `value`, read at most once per transaction."""
    memo = transaction_memo(session)
    known: _Row | None = memo.get((model, column, value))
    if known is not None:
        state = inspect(known)
        if state.persistent or state.pending:  # not deleted, still in this session
            return known
    found: _Row | None = session.scalar(select(model).where(getattr(model, column) == value).limit(1))
    if found is not None:
        memo[(model, column, value)] = found
    return found


def remember(session: Session, obj: object, column: str) -> None:
    """A row this transaction has just added (or read another way), for later `by_key` look-ups."""
    transaction_memo(session)[(type(obj), column, getattr(obj, column))] = obj


def _forget_by_key(session: Session, *_: object) -> None:
    session.info.pop(_BY_KEY, None)


for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    event.listen(Session, _name, _forget_by_key)
