"""A graduate's registered archive (档案) and hukou (户口) information, and what follows a change to it.

Every process that changes a graduate's destination, archive or hukou info calls `info_changed`
inside its step: a confirmed graduate must confirm again (CNF-5), which also suspends their
verification reports (VER-6), since a report is valid only while the confirmation holds; and the change
is synced to the employment management system (PRV-3, processes/sync).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import Confirmation, RegisteredInfo

KINDS = ("archive", "hukou")
PARTS = ("destination", "archive", "hukou")
# PRV-3: the (graduate id, part) pairs a transaction changed, in order; the data sync (processes/sync) reads
# them just before the transaction commits and writes one outbox row per change, in the same transaction.
SYNC_CHANGES = "sync_changes"


def current_info(session: Session, graduate_id: int, kind: str) -> RegisteredInfo | None:
    """The valid record of one kind (ARC-5/6: the old one stays valid until a change is approved)."""
    return session.scalar(select(RegisteredInfo).where(RegisteredInfo.graduate_id == graduate_id,
                                                       RegisteredInfo.kind == kind, RegisteredInfo.active)
                          .order_by(RegisteredInfo.id.desc()).limit(1))


def register_info(session: Session, graduate_id: int, kind: str, fields: dict[str, Any], source: str,
                  source_id: int | None = None) -> RegisteredInfo:
    """Make `fields` the graduate's valid record of `kind`; the previous one stays, inactive, for history."""
    if kind not in KINDS:
        raise ValueError(f"unknown info kind {kind!r}")
    for old in session.scalars(select(RegisteredInfo).where(RegisteredInfo.graduate_id == graduate_id,
                                                            RegisteredInfo.kind == kind, RegisteredInfo.active)):
        old.active = False
    row = RegisteredInfo(graduate_id=graduate_id, kind=kind, fields=dict(fields), source=source, source_id=source_id)
    session.add(row)
    session.flush()
    info_changed(session, graduate_id, kind)
    return row


def invalidate_info(session: Session, graduate_id: int) -> int:
    """GRAD-5: the graduate's archive and hukou records are no longer valid (they stay, for history)."""
    rows = list(session.scalars(select(RegisteredInfo).where(RegisteredInfo.graduate_id == graduate_id,
                                                             RegisteredInfo.active)))
    for row in rows:
        row.active = False
    for kind in sorted({row.kind for row in rows}):
        note_change(session, graduate_id, kind)  # PRV-3: the receiving system learns they are no longer valid
    return len(rows)


def info_changed(session: Session, graduate_id: int, part: str) -> None:
    """CNF-5 / VER-6: after a change a confirmed graduate confirms again; until then reports are suspended."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}")
    note_change(session, graduate_id, part)
    # locked: a confirmation committing at the same moment waits, then sees the change (and vice versa)
    row = session.get(Confirmation, graduate_id, with_for_update=True)
    if row is None:
        return
    if row.status == "confirmed":
        row.status = "reconfirm"
    row.changed_parts = sorted(set(row.changed_parts or []) | {part})


def note_change(session: Session, graduate_id: int, part: str) -> None:
    """PRV-3: remember that this transaction changed `part` of the graduate (once per transaction and part)."""
    changes: list[tuple[int, str]] = session.info.setdefault(SYNC_CHANGES, [])
    if (graduate_id, part) not in changes:
        changes.append((graduate_id, part))


def is_confirmed(session: Session, graduate_id: int) -> bool:
    row = session.get(Confirmation, graduate_id)
    return row is not None and row.status == "confirmed"
