"""PRV-3: one outbox row per change of a graduate's destination, archive or hukou info, in the change's transaction.

`domain.graduate_info` notes each change (graduate, part) on the session; just before the transaction commits,
the listener installed here takes a snapshot of the part as it is then (so an agreement's 协议编号, set later in
the same step than its claim, is in it) and writes one `sync.employment` row per (graduate, part) whose snapshot
differs from the last one sent (a change rolled back in a savepoint, or a no-op, sends nothing). A rolled-back
transaction writes nothing. Rows of one graduate share the ordering key ``graduate:<id>`` and carry a
per-graduate sequence number; the graduate row is locked (PostgreSQL) while it is taken, so two transactions of
one graduate never take the same number.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, joinedload

from core.db import utcnow
from core.timefmt import iso
from domain.graduate_info import SYNC_CHANGES, current_info
from domain.models import Agreement, DestinationRecord, EffectiveDestination, Employer, Graduate
from engine.models import OutboxMessage

KIND = "sync.employment"
SCHEMA = "gradflow.sync/1"
PART_NAMES = {"destination": "签约及毕业去向信息", "archive": "档案信息", "hukou": "户口信息"}


def ordering_key(graduate_id: int) -> str:
    return f"graduate:{graduate_id}"


def identity(graduate: Graduate) -> dict[str, Any]:
    return {"id": graduate.id, "exam_no": graduate.exam_no, "id_number": graduate.id_number,
            "student_no": graduate.student_no, "name": graduate.name, "cohort": graduate.cohort,
            "school_code": graduate.school.code, "school_name": graduate.school.name,
            "deleted": graduate.deleted_at is not None}


def destination_data(session: Session, graduate_id: int) -> dict[str, Any]:
    """DST-4: the one effective destination (an agreement or a filed destination), or cleared."""
    eff = session.get(EffectiveDestination, graduate_id)
    if eff is None:
        return {"status": "cleared"}
    if eff.kind == "agreement":
        agreement = session.get(Agreement, eff.record_id)
        if agreement is None:
            return {"status": "cleared"}
        employer = session.get(Employer, agreement.employer_id) if agreement.employer_id is not None else None
        return {"status": "effective", "source": "agreement", "agreement_no": agreement.agreement_no,
                "agreement_kind": agreement.kind, "agreement_type": agreement.agreement_type,
                "signed_at": iso(agreement.signed_at),
                "employer": {"name": employer.name, "credit_code": employer.credit_code} if employer else None,
                "fields": dict(agreement.fields or {})}
    record = session.get(DestinationRecord, eff.record_id)
    if record is None:
        return {"status": "cleared"}
    return {"status": "effective", "source": "destination", "category": record.category,
            "dest_type": record.dest_type, "approved_at": iso(record.approved_at), "fields": dict(record.fields or {})}


def info_data(session: Session, graduate_id: int, kind: str) -> dict[str, Any]:
    """ARC/HUK: the valid record, or invalidated (GRAD-5 deletion)."""
    row = current_info(session, graduate_id, kind)
    if row is None:
        return {"status": "invalidated"}
    return {"status": "registered", "source": row.source, "fields": dict(row.fields or {})}


def snapshot(session: Session, graduate_id: int, part: str) -> dict[str, Any]:
    return destination_data(session, graduate_id) if part == "destination" else info_data(session, graduate_id, part)


def _last(session: Session, key: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.ordering_key == key,
                                                            OutboxMessage.kind == KIND)
                                .order_by(OutboxMessage.id.desc()).limit(50)))


def emit_changes(session: Session, changes: list[tuple[int, str]]) -> list[OutboxMessage]:
    """Write the rows for the noted changes (the listener calls this just before commit)."""
    rows: list[OutboxMessage] = []
    by_graduate: dict[int, list[str]] = {}
    for graduate_id, part in changes:
        by_graduate.setdefault(graduate_id, []).append(part)
    for graduate_id, parts in by_graduate.items():
        # the graduate's row lock orders the sequence numbers (SQLite: the write lock already does)
        graduate = session.scalar(select(Graduate).where(Graduate.id == graduate_id)
                                  .options(joinedload(Graduate.school))  # its code and name: same statement
                                  .with_for_update(of=Graduate))
        if graduate is None:
            continue
        key = ordering_key(graduate_id)
        earlier = _last(session, key)
        sequence = max((r.sequence or 0 for r in earlier), default=0)
        for part in parts:
            data = snapshot(session, graduate_id, part)
            previous = next((r for r in earlier if r.payload.get("part") == part), None)
            if previous is not None and previous.payload.get("data") == data:
                continue  # unchanged since the last row: not a change
            sequence += 1
            now = utcnow()
            row = OutboxMessage(kind=KIND, ordering_key=key, sequence=sequence, created_at=now, available_at=now,
                                payload={"schema": SCHEMA, "part": part, "sequence": sequence,
                                         "changed_at": iso(now), "graduate": identity(graduate), "data": data})
            session.add(row)
            earlier.insert(0, row)
            rows.append(row)
    return rows


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint is released (SQLAlchemy calls before_commit for those too): wait for the real commit
    changes = session.info.pop(SYNC_CHANGES, None)
    if changes:
        emit_changes(session, changes)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(SYNC_CHANGES, None)


def install(target: Any = Session) -> None:
    """Listen on every session of this process (the statistics counters do the same)."""
    for name, fn in (("before_commit", _before_commit), ("after_rollback", _forget), ("after_commit", _forget)):
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)
