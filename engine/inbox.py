"""Inbox queries: read only work_item rows, never a deserialized workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from engine.models import WorkItem
from engine.services import Actor

PAGE_SIZE = 20


def visible(actor: Actor):
    """The rows this actor's role and scope may see (ROLE-1)."""
    if actor.role == "Graduate":
        return and_(WorkItem.role == "Graduate", WorkItem.graduate_id == actor.graduate_id)
    if actor.role == "Department":
        return and_(WorkItem.role == "Department", WorkItem.department_id == actor.department_id)
    if actor.role == "School":
        return and_(WorkItem.role == "School", WorkItem.school_id == actor.school_id)
    if actor.role == "Employer":
        return and_(WorkItem.role == "Employer", WorkItem.employer_id == actor.employer_id)
    return WorkItem.id.is_(None)  # nobody else has an inbox


@dataclass
class InboxFilter:
    state: str = "open"  # open | completed
    category: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    q: str = ""
    page: int = 1


def _filtered(actor: Actor, f: InboxFilter) -> Select:
    query = select(WorkItem).where(visible(actor), WorkItem.optional.is_(False))
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


def page(session: Session, actor: Actor, f: InboxFilter) -> tuple[list[WorkItem], int]:
    query = _filtered(actor, f).where(WorkItem.state == f.state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = WorkItem.created_at.asc() if f.state == "open" else WorkItem.completed_at.desc()
    rows = list(session.scalars(query.order_by(order, WorkItem.id).offset((max(f.page, 1) - 1) * PAGE_SIZE)
                                .limit(PAGE_SIZE)))
    return rows, total


def counts(session: Session, actor: Actor) -> dict[str, int]:
    rows = session.execute(
        select(WorkItem.state, func.count()).where(visible(actor), WorkItem.optional.is_(False))
        .group_by(WorkItem.state)
    ).all()
    result = {"open": 0, "completed": 0, "cancelled": 0}
    result.update({state: n for state, n in rows})
    return result
