"""Inbox queries: read only work_item rows, never a deserialized workflow.

The caller passes the access policy's filter for the actor (ROLE-1): the engine names no role."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from engine.models import WorkItem

PAGE_SIZE = 20


@dataclass
class InboxFilter:
    state: str = "open"  # open | completed
    category: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    q: str = ""
    page: int = 1


def _filtered(visible: ColumnElement[bool], f: InboxFilter) -> Select[WorkItem]:
    query = select(WorkItem).where(visible, WorkItem.optional.is_(False))
    if f.category:
        query = query.where(WorkItem.category == f.category)
    if f.date_from:
        query = query.where(WorkItem.created_at >= f.date_from)
    if f.date_to:
        query = query.where(WorkItem.created_at < f.date_to)
    if f.q:
        # name prefix or exact 学号: both served by plain indexes-friendly predicates
        query = query.where(or_(WorkItem.subject_name.startswith(f.q, autoescape=True), WorkItem.subject_no == f.q))
    return query


def page(session: Session, visible: ColumnElement[bool], f: InboxFilter) -> tuple[list[WorkItem], int]:
    query = _filtered(visible, f).where(WorkItem.state == f.state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = WorkItem.created_at.asc() if f.state == "open" else WorkItem.completed_at.desc()
    rows = list(session.scalars(query.order_by(order, WorkItem.id).offset((max(f.page, 1) - 1) * PAGE_SIZE)
                                .limit(PAGE_SIZE)))
    return rows, total


def counts(session: Session, visible: ColumnElement[bool]) -> dict[str, int]:
    rows = session.execute(
        select(WorkItem.state, func.count()).where(visible, WorkItem.optional.is_(False))
        .group_by(WorkItem.state)
    ).all()
    result = {"open": 0, "completed": 0, "cancelled": 0}
    result.update({state: n for state, n in rows})
    return result
