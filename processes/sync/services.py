"""What the admin's sync page and API read and do: counts, the filtered list, "retry now" (audited)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from core.config import sync_url
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.i18n import N_
from core.masking import mask_id_numbers
from core.timefmt import iso
from domain.accounts import ROLE_LANE
from domain.models import Graduate, SettingChange
from engine import outbox
from engine.models import OutboxMessage
from engine.services import Actor

from .emit import KIND, PART_NAMES

STATUSES = {"pending": N_("待发送"), "failed": N_("发送失败"), "delivered": N_("已送达")}  # shown translated
PER_PAGE = 50
MAX_PER_PAGE = 200


def require_admin(actor: Actor) -> None:
    if actor.role != ROLE_LANE["admin"]:
        raise Forbidden("页面不存在或无权访问")


def _status_filter(status: str) -> ColumnElement[bool]:
    m = OutboxMessage
    if status == "delivered":
        return m.delivered_at.is_not(None)
    failed = or_(m.attempts > 0, m.failed_at.is_not(None))
    if status == "failed":
        return m.delivered_at.is_(None) & failed
    return m.delivered_at.is_(None) & ~failed  # pending: never tried yet (or waiting for an earlier change)


def status_of(row: OutboxMessage) -> str:
    if row.delivered_at is not None:
        return "delivered"
    return "failed" if row.attempts > 0 or row.failed_at is not None else "pending"


def counts(session: Session) -> dict[str, int]:
    return {key: int(session.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.kind == KIND, _status_filter(key))) or 0)
            for key in STATUSES}


@dataclass
class Query:
    status: str = ""
    graduate: str = ""  # a graduate id, or 学号 / 考生号 / 身份证号 / 姓名 (exact)
    page: int = 1
    per_page: int = PER_PAGE

    def args(self, **changes: Any) -> dict[str, Any]:
        out = {"status": self.status, "graduate": self.graduate, "page": self.page if self.page > 1 else None}
        out.update(changes)
        return {k: v for k, v in out.items() if v}


def parse(args: Any) -> Query:
    status = (args.get("status") or "").strip()
    if status and status not in STATUSES:
        raise ValidationFailed(_("未知的状态：%(status)s（可选 pending、failed、delivered）", status=status))
    try:
        page = max(1, int(args.get("page") or 1))
        per_page = min(MAX_PER_PAGE, max(1, int(args.get("per_page") or PER_PAGE)))
    except ValueError:
        raise ValidationFailed("page 和 per_page 须为正整数") from None
    return Query(status=status, graduate=(args.get("graduate") or "").strip()[:50], page=page, per_page=per_page)


def _graduate_ids(session: Session, text: str) -> list[int]:
    if text.isdigit() and len(text) <= 9:
        by_id = [int(text)]
    else:
        by_id = []
    found = session.scalars(select(Graduate.id).where(or_(Graduate.student_no == text, Graduate.exam_no == text,
                                                          Graduate.id_number == text, Graduate.name == text))
                            .limit(200))
    return sorted({*by_id, *found})


@dataclass
class Page:
    rows: list[OutboxMessage]
    total: int
    graduates: dict[int, Graduate]
    blocked: set[int]


def page(session: Session, q: Query) -> Page:
    m = OutboxMessage
    where: list[ColumnElement[bool]] = [m.kind == KIND]
    if q.status:
        where.append(_status_filter(q.status))
    if q.graduate:
        ids = _graduate_ids(session, q.graduate)
        where.append(m.ordering_key.in_([f"graduate:{i}" for i in ids]) if ids else m.id.is_(None))
    total = int(session.scalar(select(func.count()).select_from(m).where(*where)) or 0)
    rows = list(session.scalars(select(m).where(*where).order_by(m.id.desc())
                                .offset((q.page - 1) * q.per_page).limit(q.per_page)))
    gids = {int(r.ordering_key.split(":", 1)[1]) for r in rows if r.ordering_key}
    graduates = {g.id: g for g in session.scalars(select(Graduate).where(Graduate.id.in_(gids)))} if gids else {}
    blocked = _blocked(session, [r for r in rows if r.delivered_at is None])
    return Page(rows=rows, total=total, graduates=graduates, blocked=blocked)


def _blocked(session: Session, rows: list[OutboxMessage]) -> set[int]:
    """Undelivered rows that wait for an earlier undelivered change of the same graduate."""
    keys = {r.ordering_key for r in rows if r.ordering_key}
    if not keys:
        return set()
    first = dict(session.execute(select(OutboxMessage.ordering_key, func.min(OutboxMessage.id))
                                 .where(OutboxMessage.ordering_key.in_(keys), OutboxMessage.delivered_at.is_(None))
                                 .group_by(OutboxMessage.ordering_key)).all())
    return {r.id for r in rows if r.ordering_key in first and first[r.ordering_key] < r.id}


def graduate_id_of(row: OutboxMessage) -> int | None:
    return int(row.ordering_key.split(":", 1)[1]) if row.ordering_key else None


def row_json(row: OutboxMessage, blocked: bool = False) -> dict[str, Any]:
    """One row of the admin's list: the payload as sent, its 身份证号 masked (issue 12, PRV-1)."""
    payload = json.loads(mask_id_numbers(json.dumps(row.payload or {}, ensure_ascii=False)))
    return {
        "id": row.id, "idempotency_key": str(row.id), "status": status_of(row), "part": payload.get("part"),
        "part_name": PART_NAMES.get(payload.get("part", ""), ""), "sequence": row.sequence,
        "graduate_id": graduate_id_of(row), "graduate": payload.get("graduate"),
        "change": (payload.get("data") or {}).get("status"), "attempts": row.attempts,
        "last_error": mask_id_numbers(row.last_error) if row.last_error else row.last_error, "created_at": iso(row.created_at), "next_attempt_at": iso(row.available_at) if row.delivered_at is None else None,
        "delivered_at": iso(row.delivered_at), "gave_up_at": iso(row.failed_at), "waiting_for_earlier": blocked,
        "payload": payload,
    }


def enabled() -> bool:
    return bool(sync_url())


def retry(session: Session, actor: Actor, message_id: int | None) -> int:
    """Retry now: one undelivered row, or (None) every failed row. Audited as a SettingChange `sync_retry`."""
    require_admin(actor)
    if message_id is not None:
        row = session.get(OutboxMessage, message_id)
        if row is None or row.kind != KIND:
            raise NotFound("同步记录不存在")
        if row.delivered_at is not None:
            raise Conflict("该记录已送达，无需重试")
        before: dict[str, Any] = {"attempts": row.attempts, "last_error": row.last_error,
                                  "next_attempt_at": iso(row.available_at)}
        n = outbox.retry_now(session, [row.id])
        target_id = row.id
    else:
        ids = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == KIND,
                                                                  _status_filter("failed"))))
        before = {"failed": len(ids)}
        n = outbox.retry_now(session, ids) if ids else 0
        target_id = 0
    session.add(SettingChange(account_id=actor.id, actor_name=actor.name[:100], action="sync_retry",
                              target="outbox", target_id=target_id, before=before, after={"retried": n}))
    return n
