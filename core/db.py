"""SQLAlchemy 2 base, engine and session factory shared by engine/ and domain/."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


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
