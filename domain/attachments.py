"""Storing uploaded proof images (IMG-1) and reading them back within scope."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import ValidationFailed
from domain import blobs
from domain.images import ImageRejected, check_count, process_image
from domain.models import Agreement, Attachment, DestinationRecord, Termination, TransferApplication

MAX_NAME = 200
# Per graduate and rolling day (issue 12): a season's forms need a handful of images; a script that uploads in
# a loop is stopped here instead of filling the database (30 uploads stored 24 MB of unused images in 1.8 s).
DAILY_IMAGES = 30
QUOTA_WINDOW = timedelta(hours=24)
# an upload no form has named after this long was abandoned (a form is filled in minutes, not days)
UNUSED_AFTER = timedelta(hours=24)
MSG_QUOTA = "24小时内上传的图片已达上限（{limit}张），请稍后再试；已上传的图片可在表单中继续使用"


def check_quota(session: Session, graduate_id: int, adding: int, limit: int = DAILY_IMAGES) -> None:
    """Refuse an upload that would pass the graduate's rolling daily image quota."""
    recent = session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.graduate_id == graduate_id, Attachment.created_at > utcnow() - QUOTA_WINDOW)) or 0
    if recent + adding > limit:
        message = MSG_QUOTA.format(limit=limit)
        raise ValidationFailed(message, details={"images": [message]})


def store_images(session: Session, graduate_id: int, account_id: int | None,
                 files: list[tuple[str, bytes]], *, existing: int = 0, limit: int = 3,
                 used: bool = False) -> list[Attachment]:
    """Check every file first, then store them all: a bad file stores none (nothing half-saved).

    `used` is for a caller that puts the new images on a record itself; otherwise they count as used
    once a submitted form names them (`check_attachments`)."""
    files = [(name, raw) for name, raw in files if raw]
    if files:
        check_quota(session, graduate_id, len(files))  # before any decoding: a refused upload costs nothing
    try:
        check_count(existing + len(files), limit)
        processed = [(name, process_image(raw)) for name, raw in files]
    except ImageRejected as exc:
        raise ValidationFailed(exc.message, details={"images": [exc.message]}) from exc
    rows = []
    for name, image in processed:
        row = Attachment(graduate_id=graduate_id, uploaded_by=account_id, filename=(name or "")[:MAX_NAME],
                         mime=image.mime, width=image.width, height=image.height, size=image.size,
                         sha256=image.sha256, storage_key=blobs.put(session, image.data),
                         used_at=utcnow() if used else None)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def check_attachments(session: Session, graduate_id: int, ids: list[int]) -> None:
    """Images named on a form must be the graduate's own uploads (a foreign id looks like a missing one)."""
    if not ids:
        return
    owned = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(ids),
                                                            Attachment.graduate_id == graduate_id)))
    if owned != set(ids):
        raise ValidationFailed("图片不存在或不属于你", details={"attachment_ids": ["图片不存在或不属于你"]})
    # the form's transaction takes them up: a step that rolls back leaves them unused, as they were
    session.execute(update(Attachment).where(Attachment.id.in_(ids), Attachment.used_at.is_(None))
                    .values(used_at=utcnow()))


def _named_by_records(session: Session, graduate_ids: set[int]) -> set[int]:
    """Every image id a record of these graduates names (a second fence before anything is deleted)."""
    named: set[int] = set()
    queries = [
        select(DestinationRecord.attachment_ids).where(DestinationRecord.graduate_id.in_(graduate_ids)),
        select(Agreement.attachment_ids).where(Agreement.graduate_id.in_(graduate_ids)),
        select(Termination.attachment_ids).join(Agreement, Agreement.id == Termination.agreement_id)
        .where(Agreement.graduate_id.in_(graduate_ids)),
        select(TransferApplication.attachment_ids).where(TransferApplication.graduate_id.in_(graduate_ids)),
    ]
    for query in queries:
        for ids in session.scalars(query):
            named.update(i for i in ids or [] if isinstance(i, int))
    return named


def sweep_unused(session: Session, *, older_than: timedelta = UNUSED_AFTER, dry_run: bool = False,
                 batch: int = 500) -> int:
    """Delete uploads no form took up within `older_than` (issue 12: an upload loop leaves no lasting bytes).

    Each batch commits on its own; the files they pointed at go with the next `blobs.sweep`."""
    cutoff = utcnow() - older_than
    removed, after_id = 0, 0
    while True:
        rows = session.execute(select(Attachment.id, Attachment.graduate_id).where(
            Attachment.used_at.is_(None), Attachment.created_at < cutoff, Attachment.id > after_id)
            .order_by(Attachment.id).limit(batch)).all()
        if not rows:
            return removed
        after_id = rows[-1].id
        named = _named_by_records(session, {r.graduate_id for r in rows if r.graduate_id is not None})
        doomed = [r.id for r in rows if r.id not in named]
        if not dry_run and doomed:
            session.execute(delete(Attachment).where(Attachment.id.in_(doomed), Attachment.used_at.is_(None)))
            session.commit()
        removed += len(doomed)
