"""Inbox queries: read only work_item rows (and the instance's status label), never a deserialized workflow.

The caller passes the access policy's filter for the actor (ROLE-1): the engine names no role.
Counts are GROUP BY queries; a page reads `page_size` rows in an order an index serves
(ix_work_item_department / ix_work_item_school: role, state, scope, created_at, id; the 已审核 tab from
ix_work_item_department_done / ix_work_item_school_done: role, scope, state, completed_at, id).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from engine.models import ProcessInstance, WorkItem

PAGE_SIZE = 20
PAGE_SIZES = (20, 50, 100)
# sort key -> the columns, each ascending (True) or descending (False); id last keeps the order total
SORTS: dict[str, tuple[tuple[Any, bool], ...]] = {
    "created": ((WorkItem.created_at, True), (WorkItem.id, True)),
    "-created": ((WorkItem.created_at, False), (WorkItem.id, False)),
    "name": ((WorkItem.subject_name, True), (WorkItem.id, True)),
    "no": ((WorkItem.subject_no, True), (WorkItem.id, True)),
    "kind": ((WorkItem.process_id, True), (WorkItem.created_at, True), (WorkItem.id, True)),
    "-completed": ((WorkItem.completed_at, False), (WorkItem.id, False)),
}
DEFAULT_SORT = {"open": "created", "completed": "-completed"}
STATES = ("open", "completed", "cancelled")  # a work item's states (engine.models.WorkItem.state)
# The inbox page counts decided items up to this many and shows "1000+": the open work of a scope is bounded,
# its history is not (the largest school's 15,669 decided items at 1,000,000 instances were three 4 ms counts
# a page, growing with every season). The API keeps exact counts.
DECIDED_CAP = 1000
# the query-string names of a filter (page excluded: a link to another page sets its own)
FILTER_ARGS = ("state", "kind", "dept", "type", "from", "to", "q", "sort", "size")


@dataclass
class InboxFilter:
    state: str = "open"  # open | completed
    category: str = ""
    kind: str = ""  # a process id (线上签约, 档案信息登记 ...)
    department_id: int | None = None  # a school reviewer narrows to one 院系
    date_from: datetime | None = None
    date_to: datetime | None = None
    q: str = ""
    sort: str = ""  # a key of SORTS; empty: the state's default
    page: int = 1
    page_size: int = PAGE_SIZE

    @property
    def order_key(self) -> str:
        return self.sort if self.sort in SORTS else DEFAULT_SORT.get(self.state, "created")

    @property
    def size(self) -> int:
        return self.page_size if self.page_size in PAGE_SIZES else PAGE_SIZE


def _date(raw: str | None, *, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        return None
    day = day - timedelta(hours=8)  # the reviewer means Beijing dates; rows are UTC
    return day + timedelta(days=1) if end else day


def _int(raw: str | None, default: int | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else default


def parse(args: Mapping[str, str], *, department: bool = False) -> InboxFilter:
    """A filter from query-string arguments (page, API, saved filter); anything malformed is its default.
    `department`: whether the caller may narrow to one 院系 (the policy's scope still applies)."""
    size = _int(args.get("size"), PAGE_SIZE) or PAGE_SIZE
    sort = args.get("sort") or ""
    return InboxFilter(
        state="completed" if args.get("state") == "completed" else "open",
        category=(args.get("type") or "")[:100],
        kind=(args.get("kind") or "")[:100],
        department_id=_int(args.get("dept"), None) if department else None,
        date_from=_date(args.get("from")),
        date_to=_date(args.get("to"), end=True),
        q=(args.get("q") or "").strip()[:50],
        sort=sort if sort in SORTS else "",
        page=_int(args.get("page"), 1) or 1,
        page_size=size if size in PAGE_SIZES else PAGE_SIZE,
    )


def filter_args(args: Mapping[str, str]) -> dict[str, str]:
    """A filter's own arguments, non-empty, in a fixed order: for links and saved filters."""
    return {name: str(args.get(name))[:100] for name in FILTER_ARGS if args.get(name)}


def _filtered(visible: ColumnElement[bool], f: InboxFilter, *, kind: bool = True) -> Select[Any]:
    query = select(WorkItem).where(visible, WorkItem.optional.is_(False))
    if f.category:
        query = query.where(WorkItem.category == f.category)
    if kind and f.kind:
        query = query.where(WorkItem.process_id == f.kind)
    if f.department_id is not None:
        query = query.where(WorkItem.department_id == f.department_id)
    if f.date_from:
        query = query.where(WorkItem.created_at >= f.date_from)
    if f.date_to:
        query = query.where(WorkItem.created_at < f.date_to)
    if f.q:
        # name prefix or exact 学号: both served by plain indexes-friendly predicates
        query = query.where(or_(WorkItem.subject_name.startswith(f.q, autoescape=True), WorkItem.subject_no == f.q))
    return query


def _ordered(query: Select[Any], f: InboxFilter) -> Select[Any]:
    return query.order_by(*(col.asc() if up else col.desc() for col, up in SORTS[f.order_key]))


def page(session: Session, visible: ColumnElement[bool], f: InboxFilter,
         total: int | None = None) -> tuple[list[WorkItem], int]:
    """One page and the filter's total; a caller that has just counted the states (`counts` under the same
    filter) passes its number for this state, and the same count is not run twice."""
    query = _filtered(visible, f).where(WorkItem.state == f.state)
    if total is None:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    size = f.size
    rows = list(session.scalars(_ordered(query, f).offset((max(f.page, 1) - 1) * size).limit(size)))
    return rows, total


def pages(total: int, f: InboxFilter) -> int:
    return max(1, -(-total // f.size))


def window(current: int, last: int, radius: int = 2) -> list[int]:
    """The page numbers around the current one (the pager adds first / last and prev / next)."""
    return list(range(max(1, current - radius), min(last, current + radius) + 1))


def current_labels(session: Session, rows: list[WorkItem]) -> dict[int, str]:
    """The instances' status labels now: a decided item's own label is the step it was decided in."""
    ids = {r.instance_id for r in rows}
    if not ids:
        return {}
    return dict(session.execute(select(ProcessInstance.id, ProcessInstance.status_label)
                                .where(ProcessInstance.id.in_(ids))).tuples().all())


def counts(session: Session, visible: ColumnElement[bool], f: InboxFilter | None = None, *,
           cap: int | None = None) -> dict[str, int]:
    """Items per state, under every other filter of `f` (none: the whole scope). The states are named, so the
    scope's index is read as one range per state (role, state, scope ...) and, its other columns included
    (migration 0023), without visiting the table. With `cap`, open items are counted exactly and each decided
    state only up to cap + 1 (more than `cap`: the page shows "cap+")."""
    base = _filtered(visible, f) if f is not None else select(WorkItem).where(visible, WorkItem.optional.is_(False))
    result = dict.fromkeys(STATES, 0)
    if cap is None:
        sub = base.where(WorkItem.state.in_(STATES)).subquery()
        result.update({state: n for state, n in session.execute(select(sub.c.state, func.count())
                                                                  .group_by(sub.c.state)).all()})
        return result
    for state in STATES:
        query = base.with_only_columns(WorkItem.id).where(WorkItem.state == state)
        if state != "open":
            query = query.limit(cap + 1)
        result[state] = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return result


def kind_counts(session: Session, visible: ColumnElement[bool], f: InboxFilter) -> dict[str, int]:
    """Items of the filter's state per process, under every other filter but the kind."""
    sub = _filtered(visible, f, kind=False).where(WorkItem.state == f.state).subquery()
    return dict(session.execute(select(sub.c.process_id, func.count()).group_by(sub.c.process_id)).tuples().all())


def department_counts(session: Session, visible: ColumnElement[bool], f: InboxFilter) -> dict[int, int]:
    """Items of the filter's state per 院系 (for a school reviewer), under every other filter."""
    sub = _filtered(visible, replace(f, department_id=None)).where(WorkItem.state == f.state).subquery()
    return {d: n for d, n in session.execute(select(sub.c.department_id, func.count())
                                             .group_by(sub.c.department_id)).tuples().all() if d is not None}


def _after(f: InboxFilter, item: WorkItem) -> ColumnElement[bool]:
    """Keyset: the rows that come after `item` in the filter's order."""
    cols = SORTS[f.order_key]
    clauses = []
    for i, (col, up) in enumerate(cols):
        value = getattr(item, col.key)
        if value is None:
            continue
        step = col > value if up else col < value
        clauses.append(and_(*(c == getattr(item, c.key) for c, _ in cols[:i]), step))
    return or_(*clauses)


def next_open(session: Session, visible: ColumnElement[bool], f: InboxFilter, after: WorkItem) -> WorkItem | None:
    """The open item that follows `after` in the same filter and order, else the first one left."""
    f = replace(f, state="open", sort=f.sort if f.sort != "-completed" else "")
    query = _ordered(_filtered(visible, f).where(WorkItem.state == "open", WorkItem.id != after.id), f)
    found = session.scalars(query.where(_after(f, after)).limit(1)).first()
    return found if found is not None else session.scalars(query.limit(1)).first()
