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


def make_engine(url: str, *, prepared_statements: bool = True) -> Engine:
    """The platform's engine. `prepared_statements` (PostgreSQL): let psycopg prepare what a connection runs
    often, and keep those statements across read-only transactions (Settings.pg_prepared_statements)."""
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
    connect_args: dict[str, Any] = {} if prepared_statements else {"prepare_threshold": None}
    # LIFO: the connections a process keeps busy are the ones it reuses, so their prepared statements (below)
    # warm up and stay warm, and the rest idle (pinged when next used) instead of each seeing a share of the load
    eng = create_engine(url, pool_size=10, max_overflow=10, pool_use_lifo=True, connect_args=connect_args)
    ping_when_idle(eng)
    if prepared_statements:
        keep_prepared_statements(eng)
    return eng


_WROTE = "gradflow_wrote"  # ConnectionPoolEntry.info: this transaction ran a statement other than a SELECT
_READ_ONLY = ("SELECT", "select", "SHOW", "show")
# what a SELECT can call that a ROLLBACK would undo and a COMMIT keep (the platform calls none of them today)
_UNDONE_BY_ROLLBACK = ("set_config", "pg_notify")


def keep_prepared_statements(eng: Engine) -> None:
    """End a transaction that wrote nothing with COMMIT instead of ROLLBACK (issue 11).

    psycopg prepares a statement on the server once a connection has run it five times, which spares PostgreSQL
    parsing and planning it again: in the step mix parse and plan took three times as long as execution. But
    psycopg forgets every prepared statement of a connection at each ROLLBACK (DEALLOCATE ALL: a rolled-back
    transaction may have dropped what they refer to), and every read request, every idle ping and the pool's
    reset on return ended in one, so no statement of a step ever got there. A transaction that ran only SELECTs
    changed nothing, so COMMIT ends it exactly as ROLLBACK would, and psycopg keeps its statements. A
    transaction that ran anything else (a write, DDL, SET, a savepoint, a SELECT of set_config or pg_notify),
    failed, or whose COMMIT fails, is rolled back as before. Statements sent on the DBAPI connection directly
    are not seen: the platform sends none but the idle ping's SELECT 1."""
    if eng.dialect.driver != "psycopg":
        return
    from psycopg import pq

    in_transaction = pq.TransactionStatus.INTRANS

    @event.listens_for(eng, "before_cursor_execute")
    def _note_writes(conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any,
                     _executemany: bool) -> None:
        info = conn.info
        if _WROTE not in info and (not statement.startswith(_READ_ONLY)
                                   or any(call in statement for call in _UNDONE_BY_ROLLBACK)):
            info[_WROTE] = True

    dialect = eng.dialect
    rollback, commit = dialect.do_rollback, dialect.do_commit

    def entry_info(dbapi_connection: Any) -> dict[Any, Any] | None:
        try:
            info: dict[Any, Any] = dbapi_connection.info  # the pool's proxy: its entry's info
            return info
        except (AttributeError, NotImplementedError):  # a bare DBAPI connection (the dialect's first connect)
            return None

    def do_rollback(dbapi_connection: Any) -> None:
        info = entry_info(dbapi_connection)
        wrote = info.pop(_WROTE, False) if info is not None else True
        raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if not wrote and raw.pgconn.transaction_status == in_transaction:
            try:
                raw.commit()
                return
            except Exception:  # noqa: BLE001 - the rollback below ends it whatever went wrong
                pass
        rollback(dbapi_connection)

    def do_commit(dbapi_connection: Any) -> None:
        info = entry_info(dbapi_connection)
        if info is not None:
            info.pop(_WROTE, None)
        commit(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]


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
            dbapi_conn.commit()  # psycopg began a transaction for the ping: end it (a ROLLBACK would make psycopg
            # forget the connection's prepared statements: keep_prepared_statements)
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
