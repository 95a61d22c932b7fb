"""Fire instances whose earliest timer is due, one instance per transaction."""
from __future__ import annotations

import logging
import traceback
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from core.errors import EngineError
from engine.models import ProcessInstance
from engine.runner import Runner

log = logging.getLogger(__name__)


def fire_due_timers(session_factory: sessionmaker[Session], runner: Runner, *, now: datetime | None = None,
                    limit: int = 1000) -> int:
    """Fire up to `limit` due instances; returns how many were stepped.

    On PostgreSQL each instance is claimed with FOR UPDATE SKIP LOCKED, so any
    number of workers can run this at once without stepping one instance twice.
    """
    fired = 0
    skipped: set[int] = set()
    while fired + len(skipped) < limit:
        cutoff = now or utcnow()
        with session_factory() as session:
            session.connection(execution_options={"sqlite_immediate": True})
            query = (
                select(ProcessInstance)
                .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at <= cutoff)
                .order_by(ProcessInstance.next_timer_at)
                .limit(1)
            )
            if skipped:
                query = query.where(ProcessInstance.id.not_in(skipped))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            instance = session.scalar(query)
            if instance is None:
                break
            try:
                before = instance.next_timer_at
                runner.fire_timers(session, instance)
                session.commit()
                if instance.status == "running" and instance.next_timer_at == before:
                    skipped.add(instance.id)  # not due yet by Spiff's own clock: try on a later run
                else:
                    fired += 1
            except EngineError as exc:
                session.rollback()
                log.warning("timer step failed for instance %s: %s", instance.id, exc.message)
                _mark_error(session_factory, instance.id, incident_text(exc))
                skipped.add(instance.id)
    return fired


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


def _mark_error(session_factory: sessionmaker[Session], instance_id: int, message: str) -> None:
    with session_factory() as session:
        instance = session.get(ProcessInstance, instance_id)
        if instance is not None:
            instance.last_error = message
            instance.next_timer_at = None  # an operator retries it from the admin page
            session.commit()


def count_due(session: Session, now: datetime | None = None) -> int:
    from sqlalchemy import func

    return session.scalar(
        select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "running", ProcessInstance.next_timer_at <= (now or utcnow())
        )
    ) or 0
