"""Storing uploaded proof images (IMG-1) and reading them back within scope."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import ValidationFailed
from domain import blobs
from domain.images import ImageRejected, check_count, process_image
from domain.models import Attachment

MAX_NAME = 200
# Per graduate and rolling day (issue 12): a season's forms need a handful of images; a script that uploads in
# a loop is stopped here instead of filling the database (30 uploads stored 24 MB of unused images in 1.8 s).
DAILY_IMAGES = 30
QUOTA_WINDOW = timedelta(hours=24)
MSG_QUOTA = "24小时内上传的图片已达上限（{limit}张），请稍后再试；已上传的图片可在表单中继续使用"


def check_quota(session: Session, graduate_id: int, adding: int, limit: int = DAILY_IMAGES) -> None:
    """Refuse an upload that would pass the graduate's rolling daily image quota."""
    recent = session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.graduate_id == graduate_id, Attachment.created_at > utcnow() - QUOTA_WINDOW)) or 0
    if recent + adding > limit:
        message = MSG_QUOTA.format(limit=limit)
        raise ValidationFailed(message, details={"images": [message]})


def store_images(session: Session, graduate_id: int, account_id: int | None,
                 files: list[tuple[str, bytes]], *, existing: int = 0, limit: int = 3) -> list[Attachment]:
    """Check every file first, then store them all: a bad file stores none (nothing half-saved)."""
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
                         sha256=image.sha256, storage_key=blobs.put(session, image.data))
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
