"""Deliver outbox rows written by steps: at least once, idempotent per row id.

Two kinds of sender:

- A plain `Sender` (e-mail/SMS spool, PDF rendering) runs inside the deliverer's transaction: what it writes
  commits together with the row's delivered mark. Due rows are taken in batches, one transaction per batch
  (bounded by BATCH_SECONDS, since on SQLite that transaction holds the write lock), each row in a savepoint,
  so a failing row does not undo the others. After MAX_ATTEMPTS failures the row is given up (`failed_at`).
- A `RemoteSender` (the PRV-3 data sync over HTTP) talks to another system, so no database transaction is
  open while it waits: a short transaction claims a batch (a lease: `available_at` moves LEASE ahead), the
  sends run outside it, side by side, and a second short transaction records the outcomes. A deliverer that
  dies mid-send leaves the lease to run out and the row is sent again: the receiver deduplicates by the
  idempotency key (the row id). A remote sender may retry forever (`max_attempts=None`), its back-off capped.

Rows with an `ordering_key` go out in id order per key: a row is not taken while an earlier row of its key
is undelivered (claimed, failing or given up). On PostgreSQL rows are taken `FOR UPDATE SKIP LOCKED`, so two
deliverers never take the same row; on SQLite the claim is a `BEGIN IMMEDIATE` transaction.

Dead rows: every delivered mark leaves a dead row version on PostgreSQL (the loaded run of issue 11 left 66,723
dead to 76,948 live). Migration 0026 has autovacuum visit the table after 1 % of it changed; where the server
runs with autovacuum off (this bench machine's PostgreSQL does), the deliverer vacuums the table itself at most
every VACUUM_EVERY (`_maybe_vacuum`).

Retention (`purge_delivered`, run by `deliver_pending` at most every PURGE_EVERY): rows of an ordering key (the
PRV-3 sync, shown on its page) are deleted RETENTION after delivery, except the newest row of each key, which
carries the key's last sequence number; every other row (notifications, renders) UNKEYED_RETENTION after it:
at the peak the outbox takes about 45 rows a second, so it stays a day of notifications, not a season.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.db import utcnow
from engine.models import OutboxMessage
from engine.services import Sender

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 3600
BATCH = 100  # rows per local batch transaction
BATCH_SECONDS = 0.5  # ... and at most this long (SQLite: the write lock is held meanwhile)
REMOTE_BATCH = 16  # rows of remote senders claimed and sent side by side
RETENTION = timedelta(days=30)
UNKEYED_RETENTION = timedelta(days=1)
PURGE_EVERY = timedelta(minutes=10)
VACUUM_EVERY = timedelta(minutes=1)
_last_run: dict[tuple[str, str], float] = {}  # (housekeeping job, database) -> when it last ran here
_autovacuum_on: dict[str, bool] = {}


class RemoteSender:
    """A sender that calls another system: `send(row)` runs outside any database transaction and raises on a
    failure (anything but an acknowledgement). `enabled()` false: its rows stay pending, untouched."""

    def __init__(self, send: Callable[[OutboxMessage], None], *, timeout: Callable[[], float],
                 enabled: Callable[[], bool] = lambda: True, max_attempts: int | None = None) -> None:
        self.send = send
        self.timeout = timeout
        self.enabled = enabled
        self.max_attempts = max_attempts

    def __call__(self, row: OutboxMessage, _session: Session) -> None:
        self.send(row)

    def lease(self) -> timedelta:
        """How long a claimed batch is kept from other deliverers: every send of it starts at once."""
        return timedelta(seconds=2 * self.timeout() + 5)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempts))


def _due(now: datetime) -> Select[OutboxMessage]:
    earlier = aliased(OutboxMessage)
    blocked = exists().where(earlier.ordering_key == OutboxMessage.ordering_key, earlier.id < OutboxMessage.id,
                             earlier.delivered_at.is_(None))
    return (select(OutboxMessage)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None),
                   OutboxMessage.available_at <= now, ~blocked)
            .order_by(OutboxMessage.id))


def _take(session: Session, query: Select[OutboxMessage], limit: int) -> list[OutboxMessage]:
    session.connection(execution_options={"sqlite_immediate": True})
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    return list(session.scalars(query.limit(limit)))


@dataclass
class _Kinds:
    local: list[str]
    remote: dict[str, RemoteSender]
    off: list[str]


def _kinds(senders: dict[str, Sender]) -> _Kinds:
    remote = {k: s for k, s in senders.items() if isinstance(s, RemoteSender)}
    off = [k for k, s in remote.items() if not s.enabled()]
    return _Kinds(local=[k for k in senders if k not in remote],
                  remote={k: s for k, s in remote.items() if k not in off}, off=off)


def deliver_pending(session_factory: sessionmaker[Session], senders: dict[str, Sender], *, limit: int | None = 500,
                    seconds: float | None = None) -> int:
    """Deliver due rows, batch after batch, until none is due, `limit` rows were taken or `seconds` passed (the
    periodic job drains what is due within most of its period, so a peak's backlog does not wait for the next
    tick 500 rows at a time); a failing row is retried later with back-off."""
    kinds = _kinds(senders)
    delivered = 0
    budget = float("inf") if limit is None else limit
    deadline = None if seconds is None else time.monotonic() + seconds
    batches = 0

    def more() -> bool:  # the time budget is checked after each batch: every run takes one batch at least
        return budget > 0 and (deadline is None or batches == 0 or time.monotonic() < deadline)

    while more():
        done, taken = _deliver_local_batch(session_factory, senders, kinds, int(min(BATCH, budget)))
        delivered, budget, batches = delivered + done, budget - taken, batches + 1
        if taken == 0:
            break
    for kind, sender in kinds.remote.items():
        while more():
            done, taken = _deliver_remote_batch(session_factory, kind, sender, int(min(REMOTE_BATCH, budget)))
            delivered, budget, batches = delivered + done, budget - taken, batches + 1
            if taken == 0:
                break
    _maybe_purge(session_factory)
    _maybe_vacuum(session_factory)
    return delivered


def _fail(row: OutboxMessage, exc: BaseException, max_attempts: int | None, now: datetime) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    row.available_at = now + backoff(row.attempts)
    if max_attempts is not None and row.attempts >= max_attempts:
        row.failed_at = now
        log.error("outbox %s (%s) given up after %s attempts: %s", row.id, row.kind, row.attempts, row.last_error)
    else:
        log.warning("outbox %s (%s) failed: %s", row.id, row.kind, row.last_error)


def _deliver_local_batch(session_factory: sessionmaker[Session], senders: dict[str, Sender], kinds: _Kinds,
                         limit: int) -> tuple[int, int]:
    """One transaction: send due rows of in-transaction senders, each in a savepoint. (delivered, taken)"""
    started = time.monotonic()
    delivered = taken = 0
    excluded = [*kinds.remote, *kinds.off]
    query = _due(utcnow())
    if excluded:
        query = query.where(OutboxMessage.kind.not_in(excluded))
    with session_factory() as session:
        rows = _take(session, query, limit)
        for row in rows:
            if taken and time.monotonic() - started > BATCH_SECONDS:
                break  # the rest stays for the next batch (on PostgreSQL its locks end with this commit)
            taken += 1
            send = senders.get(row.kind)
            try:
                if send is None:
                    raise LookupError(f"no sender for outbox kind {row.kind!r}")
                with session.begin_nested():
                    send(row, session)
                row.delivered_at = utcnow()
                delivered += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the row and retried
                _fail(row, exc, MAX_ATTEMPTS, utcnow())
        session.commit()
    return delivered, taken


def _deliver_remote_batch(session_factory: sessionmaker[Session], kind: str, sender: RemoteSender,
                          limit: int) -> tuple[int, int]:
    """Claim (short transaction), send side by side outside any transaction, record (short transaction)."""
    with session_factory() as session:
        now = utcnow()
        rows = _take(session, _due(now).where(OutboxMessage.kind == kind), limit)
        until = now + sender.lease()
        for row in rows:
            row.available_at = until  # the lease: no other deliverer takes it meanwhile
        session.flush()
        for row in rows:
            session.expunge(row)  # loaded and detached: the sends read them with no session open
        session.commit()
    if not rows:
        return 0, 0
    errors: dict[int, BaseException] = {}

    def send(row: OutboxMessage) -> None:
        try:
            sender.send(row)
        except Exception as exc:  # noqa: BLE001 - recorded on the row below
            errors[row.id] = exc

    if len(rows) == 1:
        send(rows[0])
    else:
        with ThreadPoolExecutor(max_workers=len(rows), thread_name_prefix="outbox-send") as pool:
            list(pool.map(send, rows))
    delivered = 0
    with session_factory() as session:
        session.connection(execution_options={"sqlite_immediate": True})
        now = utcnow()
        ok = [r.id for r in rows if r.id not in errors]
        if ok:
            result = session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ok),
                                                                 OutboxMessage.delivered_at.is_(None))
                                     .values(delivered_at=now, last_error=None))
            delivered = int(getattr(result, "rowcount", 0) or 0)
        for row_id, exc in errors.items():
            failed = session.get(OutboxMessage, row_id)
            if failed is not None and failed.delivered_at is None:
                _fail(failed, exc, sender.max_attempts, now)
        session.commit()
    return delivered, len(rows)


def retry_now(session: Session, ids: list[int] | None = None) -> int:
    """Make undelivered rows due at once (all failed rows when `ids` is None); the caller commits and audits."""
    query = update(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
    if ids is None:
        query = query.where((OutboxMessage.attempts > 0) | OutboxMessage.failed_at.is_not(None))
    else:
        query = query.where(OutboxMessage.id.in_(ids))
    result = session.execute(query.values(available_at=utcnow(), failed_at=None))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_delivered(session: Session, retention: timedelta = RETENTION,
                    unkeyed_retention: timedelta = UNKEYED_RETENTION) -> int:
    """Delete delivered rows: of an ordering key after `retention` (keeping the newest row of every key), the
    others after `unkeyed_retention`."""
    now = utcnow()
    newest = (select(func.max(OutboxMessage.id)).where(OutboxMessage.ordering_key.is_not(None))
              .group_by(OutboxMessage.ordering_key))
    keyed = session.execute(delete(OutboxMessage).where(OutboxMessage.ordering_key.is_not(None),
                                                        OutboxMessage.delivered_at < now - retention,
                                                        OutboxMessage.id.not_in(newest))
                            .execution_options(synchronize_session=False))
    unkeyed = session.execute(delete(OutboxMessage).where(OutboxMessage.ordering_key.is_(None),
                                                          OutboxMessage.delivered_at < now - unkeyed_retention)
                              .execution_options(synchronize_session=False))
    return sum(int(getattr(r, "rowcount", 0) or 0) for r in (keyed, unkeyed))


def _time_for(job: str, key: str, every: timedelta) -> bool:
    """True (and noted) when `job` did not run for database `key` in this process within `every`."""
    now = time.monotonic()
    if now - _last_run.get((job, key), -1e9) < every.total_seconds():
        return False
    _last_run[(job, key)] = now
    return True


def _maybe_purge(session_factory: sessionmaker[Session]) -> None:
    if not _time_for("purge", str(session_factory.kw.get("bind")), PURGE_EVERY):
        return
    try:
        with session_factory() as session:
            session.connection(execution_options={"sqlite_immediate": True})
            n = purge_delivered(session)
            session.commit()
        if n:
            log.info("outbox: %s delivered rows past their retention deleted", n)
    except Exception:  # noqa: BLE001 - retention must never stop delivery
        log.exception("outbox purge failed")


def _maybe_vacuum(session_factory: sessionmaker[Session]) -> None:
    """PostgreSQL with autovacuum off: VACUUM (ANALYZE) the outbox at most every VACUUM_EVERY, outside a
    transaction, so its dead row versions do not pile up and the planner knows the backlog's size."""
    bind = session_factory.kw.get("bind")
    if bind is None or bind.dialect.name != "postgresql":
        return
    key = str(bind.url)
    if not _time_for("vacuum", key, VACUUM_EVERY):
        return
    try:
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if key not in _autovacuum_on:
                _autovacuum_on[key] = conn.exec_driver_sql("SHOW autovacuum").scalar() == "on"
            if not _autovacuum_on[key]:
                conn.exec_driver_sql("VACUUM (ANALYZE) outbox_message")
    except Exception:  # noqa: BLE001 - housekeeping must never stop delivery
        log.exception("outbox vacuum failed")
