"""DST-4: a graduate has one effective destination (an agreement or a filed destination).

Every change of it is a change of the destination info a graduate confirmed (CNF-5).

A unique key in the database, so two concurrent steps cannot both claim it: the loser's
insert fails and its whole step rolls back as a Conflict.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import remember
from core.errors import Conflict
from domain.graduate_info import info_changed
from domain.models import EffectiveDestination


def unique_write(session: Session, fn: Callable[[], None], message: str) -> None:
    """Write now, and turn a unique-key violation into a Conflict. No savepoint (issue 11: two statements a
    step): a Conflict ends the whole step, whose transaction is rolled back (or the timer's own savepoint)."""
    try:
        fn()
        session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def claim_effective(session: Session, graduate_id: int, kind: str, record_id: int) -> None:
    """DST-4: the agreement becomes the graduate's one effective destination."""
    key = session.identity_key(EffectiveDestination, graduate_id)
    if key in session.identity_map and session.get(EffectiveDestination, graduate_id) is not None:
        raise Conflict("该毕业生已有生效的毕业去向，不能同时生效两个去向")
    # Not known to this session: the unique key answers (issue 11: no SELECT first). What else is pending is
    # written first, so that its own errors are not reported as this one.
    session.flush()

    def add():
        row = EffectiveDestination(graduate_id=graduate_id, kind=kind, record_id=record_id)
        session.add(row)
        remember(session, row, "graduate_id")  # held: the PRV-3 sync snapshot at commit reads it by its key

    unique_write(session, add, "该毕业生已有生效的毕业去向，不能同时生效两个去向")
    info_changed(session, graduate_id, "destination")  # CNF-5: a confirmed graduate confirms again


def release_effective(session: Session, graduate_id: int, kind: str, record_id: int) -> None:
    row = session.get(EffectiveDestination, graduate_id)
    if row is not None and row.kind == kind and row.record_id == record_id:
        session.delete(row)
        info_changed(session, graduate_id, "destination")  # CNF-5
