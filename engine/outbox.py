"""Deliver outbox rows written by steps: at least once, idempotent per row id."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from engine.models import OutboxMessage
from engine.services import Sender

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def deliver_pending(session_factory: sessionmaker[Session], senders: dict[str, Sender], *, limit: int = 500) -> int:
    """Deliver due rows; a failing row is retried later with back-off."""
    delivered = 0
    with session_factory() as session:
        query = (
            select(OutboxMessage.id)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= utcnow(),
                   OutboxMessage.attempts < MAX_ATTEMPTS)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        ids = list(session.scalars(query))
    for row_id in ids:
        with session_factory() as session:
            session.connection(execution_options={"sqlite_immediate": True})
            q = select(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.delivered_at.is_(None))
            if session.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = session.scalar(q)
            if row is None:
                continue  # another worker has it or has delivered it
            send = senders.get(row.kind)
            try:
                if send is None:
                    raise LookupError(f"no sender for outbox kind {row.kind!r}")
                with session.begin_nested():
                    send(row, session)
                row.delivered_at = utcnow()
                delivered += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the row and retried
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"
                row.available_at = utcnow() + timedelta(seconds=min(3600, 2 ** row.attempts * 5))
                log.warning("outbox %s (%s) failed: %s", row.id, row.kind, row.last_error)
            session.commit()
    return delivered
