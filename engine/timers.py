"""Fire instances whose earliest timer is due: a batch of instances per transaction, each in its own savepoint."""
from __future__ import annotations

import logging
import time
import traceback
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.db import utcnow
from core.errors import EngineError
from engine.models import ProcessInstance
from engine.runner import Runner

log = logging.getLogger(__name__)

# Instances per transaction. Each one commit fewer (a WAL/fsync each) and their states read in one query; on
# SQLite the batch holds the write lock, so a user step waits at most about BATCH timer steps (~5 ms each).
BATCH = 25


def fire_due_timers(session_factory: sessionmaker[Session], runner: Runner, *, now: datetime | None = None,
                    limit: int | None = 1000, batch: int = BATCH, seconds: float | None = None) -> int:
    """Fire up to `limit` due instances; returns how many were stepped.

    Each transaction claims up to `batch` due instances (PostgreSQL: FOR UPDATE SKIP LOCKED, so any number of
    workers can run this at once without stepping one instance twice) and fires each in a savepoint: an
    instance whose step fails is rolled back alone, gets its incident (last_error) in the same transaction and
    is not fired again by the job; the others of the batch commit. It stops when nothing is due, after `limit`
    instances (None: no limit) or, checked after each batch, after `seconds`.
    """
    fired = 0
    skipped: set[int] = set()
    cap = float("inf") if limit is None else limit
    deadline = None if seconds is None else time.monotonic() + seconds
    batches = 0  # the time budget is checked after each batch: every run takes one batch at least
    while fired + len(skipped) < cap and (deadline is None or batches == 0 or time.monotonic() < deadline):
        batches += 1
        cutoff = now or utcnow()
        with session_factory() as session:
            session.connection(execution_options={"sqlite_immediate": True})
            query = (
                select(ProcessInstance)
                .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= cutoff)
                .order_by(ProcessInstance.next_timer_at)
                .limit(int(min(batch, cap - fired - len(skipped))))
                .options(selectinload(ProcessInstance.state))  # every state of the batch in one more query
            )
            if skipped:
                query = query.where(ProcessInstance.id.not_in(skipped))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=ProcessInstance)
            instances = list(session.scalars(query))
            if not instances:
                break
            stepped = 0
            for instance in instances:
                if _fire_one(session, runner, instance):
                    stepped += 1
                else:
                    skipped.add(instance.id)
            session.commit()
            fired += stepped
    return fired


def _fire_one(session: Session, runner: Runner, instance: ProcessInstance) -> bool:
    """Fire one claimed instance in a savepoint; False if it did not step (not due by Spiff's clock, or failed)."""
    instance_id, before = instance.id, instance.next_timer_at
    savepoint = session.begin_nested()
    try:
        runner.fire_timers(session, instance)
        savepoint.commit()
    except Exception as exc:  # noqa: BLE001 - one failing instance must not stop the batch
        savepoint.rollback()  # raises if the transaction itself is gone (the whole batch then retries later)
        message = exc.message if isinstance(exc, EngineError) else str(exc)
        log.warning("timer step failed for instance %s: %s", instance_id, message)
        instance.last_error = incident_text(exc)
        instance.next_timer_at = None  # an operator retries it from the admin page
        session.flush()
        return False
    # not due yet by Spiff's own clock: try on a later run
    return not (instance.status == "running" and instance.next_timer_at == before)


def incident_text(exc: BaseException) -> str:
    """The incident kept in ProcessInstance.last_error: the message on the first line, then the stack trace
    (of the handler's own exception too, through the cause chain), cut to a size a page can show."""
    message = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc))
    text = f"{message}\n{trace}"
    return text if len(text) <= 20000 else text[:10000] + "\n…\n" + text[-10000:]


def record_incident(session: Session, instance_id: int, exc: BaseException) -> None:
    """In a fresh transaction of `session`: the failed step left the instance unchanged; note why."""
    session.rollback()
    instance = session.get(ProcessInstance, instance_id)
    if instance is not None:
        instance.last_error = incident_text(exc)
        instance.next_timer_at = None  # not fired again by the job: an operator retries it from the admin page
        session.commit()


def count_due(session: Session, now: datetime | None = None) -> int:
    from sqlalchemy import func

    return session.scalar(
        select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "running", ProcessInstance.next_timer_at <= (now or utcnow())
        )
    ) or 0
