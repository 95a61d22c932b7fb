"""Storing uploaded proof images (IMG-1) and reading them back within scope."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from domain.images import ImageRejected, check_count, process_image
from domain.models import Attachment

MAX_NAME = 200


def store_images(session: Session, graduate_id: int, account_id: int | None,
                 files: list[tuple[str, bytes]], *, existing: int = 0, limit: int = 3) -> list[Attachment]:
    """Check every file first, then store them all: a bad file stores none (nothing half-saved)."""
    files = [(name, raw) for name, raw in files if raw]
    try:
        check_count(existing + len(files), limit)
        processed = [(name, process_image(raw)) for name, raw in files]
    except ImageRejected as exc:
        raise ValidationFailed(exc.message, details={"images": [exc.message]}) from exc
    rows = []
    for name, image in processed:
        row = Attachment(graduate_id=graduate_id, uploaded_by=account_id, filename=(name or "")[:MAX_NAME],
                         mime=image.mime, width=image.width, height=image.height, size=image.size,
                         sha256=image.sha256, data=image.data)
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
