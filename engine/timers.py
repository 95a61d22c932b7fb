"""Fire instances whose earliest timer is due: a batch of instances per transaction, fired together."""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.db import utcnow
from core.errors import EngineError
from engine.models import ProcessInstance
from engine.runner import Runner

log = logging.getLogger(__name__)

# Instances per transaction. The batch shares its queries, its flush and its commit. PostgreSQL locks only the
# batch's rows; SQLite holds the database's write lock for the batch, so a user step there waits at most about
# SQLITE_BATCH timer steps (~3 ms each).
BATCH = 100
SQLITE_BATCH = 25


def fire_due_timers(session_factory: sessionmaker[Session], runner: Runner, *, now: datetime | None = None,
                    limit: int | None = 1000, batch: int | None = None, seconds: float | None = None,
                    on_backlog: Callable[[], None] | None = None) -> int:
    """Fire up to `limit` due instances; returns how many were stepped.

    Each transaction claims up to `batch` due instances (PostgreSQL: FOR UPDATE SKIP LOCKED, so any number of
    workers can run this at once without stepping one instance twice) and fires them together
    (Runner.fire_timer_batch: a few queries and one flush for the whole batch). If any of them fails, the batch
    is rolled back and its instances are fired again one by one, each in a savepoint: the failing instance is
    rolled back alone, gets its incident (last_error) in the same transaction and is not fired again by the job;
    the others commit. It stops when nothing is due, after `limit` instances (None: no limit) or, checked after
    each batch, after `seconds`. `batch` None: BATCH, or SQLITE_BATCH on SQLite. `on_backlog` is called once,
    after the first full batch that committed (more may be due): the Celery task sends helpers from it.
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
            per_batch = batch or (SQLITE_BATCH if session.get_bind().dialect.name == "sqlite" else BATCH)
            size = int(min(per_batch, cap - fired - len(skipped)))
            instances = _claim(session, cutoff, size, skipped)
            if not instances:
                break
            claimed = [(instance.id, instance.next_timer_at) for instance in instances]
            try:
                runner.fire_timer_batch(session, instances)
                # not due yet by Spiff's own clock (its timer unchanged): tried again on a later run
                early = {i.id for i, (_, before) in zip(instances, claimed, strict=True)
                         if i.status == "running" and i.next_timer_at == before}
                session.commit()
            except Exception as exc:  # noqa: BLE001 - one failing instance must not stop the batch
                session.rollback()
                log.info("timer batch of %d failed (%s); firing its instances one by one", len(claimed), exc)
                fired += _fire_singly(session, runner, cutoff, [i for i, _ in claimed], skipped)
                continue
            skipped |= early
            fired += len(claimed) - len(early)
            if on_backlog is not None and len(claimed) == size:
                on_backlog()
                on_backlog = None
    return fired


def _claim(session: Session, cutoff: datetime, size: int, skipped: set[int],
           ids: list[int] | None = None) -> list[ProcessInstance]:
    """Lock up to `size` due instances (or the due ones of `ids`) and read their states, in a new transaction."""
    session.connection(execution_options={"sqlite_immediate": True})
    query = (
        select(ProcessInstance)
        .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= cutoff)
        .order_by(ProcessInstance.next_timer_at)
        .limit(size)
        .options(selectinload(ProcessInstance.state))  # every state of the batch in one more query
    )
    if skipped:
        query = query.where(ProcessInstance.id.not_in(skipped))
    if ids is not None:
        query = query.where(ProcessInstance.id.in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ProcessInstance)
    return list(session.scalars(query))


def _fire_singly(session: Session, runner: Runner, cutoff: datetime, ids: list[int], skipped: set[int]) -> int:
    """The instances of a failed batch, claimed again (still due, not taken by another worker), each fired in
    its own savepoint; commits and returns how many stepped."""
    stepped = 0
    for instance in _claim(session, cutoff, len(ids), skipped, ids):
        if _fire_one(session, runner, instance):
            stepped += 1
        else:
            skipped.add(instance.id)
    session.commit()
    return stepped


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
