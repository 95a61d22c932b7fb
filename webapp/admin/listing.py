"""The admin's instance list: filters parsed from the query string, counts by GROUP BY, paging, CSV rows.

Every parameter is optional; a malformed one is ignored and named in `InstanceFilter.ignored`, never a 500.
Only the data filter (key=value in the stored workflow data) reads instance_state rows: they are compressed, so
the exact check runs in Python over the newest DATA_SCAN_LIMIT candidates of the other filters."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.orm import Session

from core.i18n import N_
from domain.models import Department, Employer, School
from engine.models import InstanceState, ProcessInstance, ProcessVersion, WorkItem
from engine.serialization import decode_state

PAGE_SIZES = (20, 50, 100, 200)
DATA_SCAN_LIMIT = 2000  # candidates the data filter checks exactly; the page says so when it is reached
STATUSES = ("running", "suspended", "failed", "completed", "terminated")
STATUS_NAMES = {  # the pages show them translated
    "running": N_("运行中"), "suspended": N_("已暂停"), "failed": N_("出错待处理"), "completed": N_("已结束"),
    "terminated": N_("已终止"),
}
LANES = ("Graduate", "Employer", "Department", "School")
LANE_NAMES = {"Graduate": "毕业生", "Employer": "用人单位", "Department": "院系", "School": "学校",
              "System": "系统"}
SORTS = {
    "id": ProcessInstance.id, "updated": ProcessInstance.updated_at, "created": ProcessInstance.created_at,
    "process": ProcessInstance.process_id,
}


@dataclass
class InstanceFilter:
    process: str = ""
    version: int | None = None
    status: str = ""
    lane: str = ""
    label: str = ""
    business_key: str = ""
    q: str = ""  # graduate name prefix or exact 学号
    employer: str = ""
    school: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    data_key: str = ""
    data_value: str = ""
    sort: str = "-id"
    page: int = 1
    per_page: int = PAGE_SIZES[0]
    ignored: list[str] = field(default_factory=list)  # names of parameters that were not understood
    args: dict[str, str] = field(default_factory=dict)  # the understood parameters, for links and the pager

    def query_args(self, **override: Any) -> dict[str, Any]:
        """The filter as query-string arguments (for the pager, the sort links and the export)."""
        merged: dict[str, Any] = {**self.args, **override}
        return {k: v for k, v in merged.items() if v not in (None, "")}


def _int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _date(raw: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(raw.strip(), "%Y-%m-%d")
    except ValueError:
        return None
    day = day - timedelta(hours=8)  # the admin means Beijing dates; rows are UTC
    return day + timedelta(days=1) if end else day


class _Parser:
    """Reads one query string into an InstanceFilter; what it cannot read goes to `ignored`."""

    def __init__(self, args: Any):
        self.args = args
        self.f = InstanceFilter()
        self.kept: dict[str, str] = {}

    def raw(self, name: str) -> str:
        value = (self.args.get(name) or "").strip()
        if "\x00" in value:  # PostgreSQL refuses NUL in text: a parameter no row can match
            self.f.ignored.append(name)
            return ""
        return value

    def text(self, name: str, limit: int) -> None:
        value = self.raw(name)
        if len(value) > limit:
            self.f.ignored.append(name)
        elif value:
            setattr(self.f, name, value)
            self.kept[name] = value

    def number(self, name: str, allowed: tuple[int, ...] = ()) -> None:
        raw = self.raw(name)
        if not raw:
            return
        value = _int(raw)
        if value is None or value < 1 or (allowed and value not in allowed):
            self.f.ignored.append(name)
            return
        setattr(self.f, name, value)
        if name != "page":  # the pager sets the page itself
            self.kept[name] = str(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> None:
        raw = self.raw(name)
        if raw and raw != "all":
            if raw in allowed:
                setattr(self.f, name, raw)
                self.kept[name] = raw
            else:
                self.f.ignored.append(name)

    def date(self, name: str) -> None:
        raw = self.raw(name)
        if not raw:
            return
        day = _date(raw, end=name.endswith("_to"))
        if day is None:
            self.f.ignored.append(name)
        else:
            setattr(self.f, name, day)
            self.kept[name] = raw

    def data(self) -> None:
        raw = self.raw("data")
        if not raw:
            return
        key, sep, wanted = raw.partition("=")
        key = key.strip()
        if sep and key and len(raw) <= 200 and all(part.isidentifier() for part in key.split(".")):
            self.f.data_key, self.f.data_value = key, wanted.strip()
            self.kept["data"] = raw
        else:
            self.f.ignored.append("data")

    def sort(self) -> None:
        raw = self.raw("sort")
        if raw:
            if raw.lstrip("-") in SORTS and raw.count("-") <= 1:
                self.f.sort = self.kept["sort"] = raw
            else:
                self.f.ignored.append("sort")


def parse(args: Any) -> InstanceFilter:
    p = _Parser(args)
    for name, limit in (("process", 100), ("label", 100), ("business_key", 100), ("q", 50), ("employer", 100)):
        p.text(name, limit)
    for name in ("version", "school", "page"):
        p.number(name)
    p.number("per_page", PAGE_SIZES)
    p.choice("status", STATUSES)
    p.choice("lane", LANES)
    for name in ("created_from", "created_to", "updated_from", "updated_to"):
        p.date(name)
    p.data()
    p.sort()
    p.f.args = p.kept
    return p.f


def _where(f: InstanceFilter, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    pi = ProcessInstance
    conds: list[ColumnElement[bool]] = []
    if f.process:
        conds.append(pi.process_id == f.process)
    if f.version is not None:
        conds.append(pi.version_id == f.version)
    if with_status:
        conds.extend(status_condition(f.status))
        if f.lane:
            conds.append(pi.status == "running")
            conds.append(exists().where(WorkItem.instance_id == pi.id, WorkItem.state == "open",
                                        WorkItem.role == f.lane))
    if f.label:
        conds.append(pi.status_label.contains(f.label, autoescape=True))
    if f.business_key:
        conds.append(pi.business_key.startswith(f.business_key, autoescape=True))
    return conds + _who(f) + _dates(f)


def _who(f: InstanceFilter) -> list[ColumnElement[bool]]:
    pi = ProcessInstance
    conds: list[ColumnElement[bool]] = []
    if f.q:
        conds.append(or_(pi.subject_name.startswith(f.q, autoescape=True), pi.subject_no == f.q))
    if f.employer:
        conds.append(pi.employer_id.in_(select(Employer.id).where(
            or_(Employer.name.contains(f.employer, autoescape=True), Employer.credit_code == f.employer))))
    if f.school is not None:
        conds.append(pi.school_id == f.school)
    return conds


def _dates(f: InstanceFilter) -> list[ColumnElement[bool]]:
    pi = ProcessInstance
    bounds = ((pi.created_at, f.created_from, f.created_to), (pi.updated_at, f.updated_from, f.updated_to))
    conds: list[ColumnElement[bool]] = []
    for column, start, end in bounds:
        if start:
            conds.append(column >= start)
        if end:
            conds.append(column < end)
    return conds


def status_condition(status: str) -> list[ColumnElement[bool]]:
    pi = ProcessInstance
    if status == "failed":
        return [pi.last_error.is_not(None)]
    if status == "running":
        return [pi.status == "running", pi.last_error.is_(None)]
    if status:
        return [pi.status == status]
    return []


@dataclass
class Page:
    rows: list[ProcessInstance]
    total: int
    pages: int
    counts: dict[str, int]  # by status (STATUSES), over the other filters
    lanes: dict[str, int]  # running instances with open work for each lane
    data_limited: bool = False  # the data filter stopped at DATA_SCAN_LIMIT candidates


def _data_ids(session: Session, f: InstanceFilter, conds: list[ColumnElement[bool]]) -> tuple[list[int], bool]:
    """Ids of instances whose stored data holds data_key=data_value: an exact check of each candidate's state."""
    query = (select(ProcessInstance.id, InstanceState.data)
             .join(InstanceState, InstanceState.instance_id == ProcessInstance.id).where(*conds)
             .order_by(ProcessInstance.id.desc()).limit(DATA_SCAN_LIMIT + 1))
    ids: list[int] = []
    limited = False
    for n, (instance_id, data) in enumerate(session.execute(query)):
        if n >= DATA_SCAN_LIMIT:
            limited = True
            break
        if data_matches(decode_state(data), f.data_key, f.data_value):
            ids.append(instance_id)
    return ids, limited


def _data_dicts(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The data of the workflow and of each of its tasks, in subprocesses too (not the engine's internals)."""
    for holder in [doc, *(doc.get("subprocesses") or {}).values()]:
        if isinstance(holder.get("data"), dict):
            yield holder["data"]
        for task in (holder.get("tasks") or {}).values():
            if isinstance(task, dict) and isinstance(task.get("data"), dict):
                yield task["data"]


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, (dict, list)):
        return False
    if isinstance(value, str):
        return value == wanted
    return json.dumps(value) == wanted or str(value) == wanted


def _find(data: Any, key: str, wanted: str) -> bool:
    """A plain key matches at any depth; a dotted key is a path from the top of the data."""
    if "." in key:
        node = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return _same(node, wanted)
    if isinstance(data, dict):
        if key in data and _same(data[key], wanted):
            return True
        return any(_find(v, key, wanted) for v in data.values() if isinstance(v, (dict, list)))
    if isinstance(data, list):
        return any(_find(v, key, wanted) for v in data if isinstance(v, (dict, list)))
    return False


def data_matches(serialized: str, key: str, wanted: str) -> bool:
    try:
        doc = json.loads(serialized)
    except ValueError:
        return False
    return isinstance(doc, dict) and any(_find(d, key, wanted) for d in _data_dicts(doc))


@dataclass
class Filtered:
    conds: list[ColumnElement[bool]]  # every filter
    base: list[ColumnElement[bool]]  # every filter but status and lane: what the status counts count over
    order: list[Any]
    limited: bool  # the data filter stopped at DATA_SCAN_LIMIT candidates


def filtered(session: Session, f: InstanceFilter) -> Filtered:
    base = _where(f, with_status=False)
    limited = False
    if f.data_key:
        ids, limited = _data_ids(session, f, base)
        base.append(ProcessInstance.id.in_(ids) if ids else ProcessInstance.id.is_(None))
    conds = base + _where(InstanceFilter(status=f.status, lane=f.lane))
    column = SORTS[f.sort.lstrip("-")]
    desc = f.sort.startswith("-")
    order = [column.desc() if desc else column.asc(), ProcessInstance.id.desc() if desc else ProcessInstance.id.asc()]
    return Filtered(conds=conds, base=base, order=order, limited=limited)


def page(session: Session, f: InstanceFilter) -> Page:
    pi = ProcessInstance
    q = filtered(session, f)
    total = session.scalar(select(func.count()).select_from(pi).where(*q.conds)) or 0
    pages = max(1, -(-total // f.per_page))
    if f.page > pages:
        f.page = pages
    rows = list(session.scalars(select(pi).where(*q.conds).order_by(*q.order)
                                .offset((f.page - 1) * f.per_page).limit(f.per_page)))
    failed_flag = case((pi.last_error.is_(None), 0), else_=1)
    counts = dict.fromkeys(STATUSES, 0)
    for status, failed, n in session.execute(
            select(pi.status, failed_flag, func.count()).where(*q.base).group_by(pi.status, failed_flag)).all():
        if failed:
            counts["failed"] += int(n)
        if status in counts and not (failed and status == "running"):
            counts[status] += int(n)
    lanes = dict(session.execute(
        select(WorkItem.role, func.count(func.distinct(WorkItem.instance_id)))
        .join(pi, pi.id == WorkItem.instance_id)
        .where(*q.base, pi.status == "running", WorkItem.state == "open").group_by(WorkItem.role)).all())
    return Page(rows=rows, total=total, pages=pages, counts=counts,
                lanes={lane: int(lanes.get(lane, 0)) for lane in LANES}, data_limited=q.limited)


def status_key(instance: ProcessInstance) -> str:
    if instance.last_error and instance.status == "running":
        return "failed"
    return instance.status


@dataclass
class Names:
    """Names for the ids the rows carry, loaded once per page (no query per row)."""

    schools: dict[int, str]
    departments: dict[int, str]
    employers: dict[int, str]
    versions: dict[int, str]

    @classmethod
    def load(cls, session: Session, rows: list[ProcessInstance]) -> Names:
        def names(model: Any, ids: set[int | None]) -> dict[int, str]:
            wanted = {i for i in ids if i is not None}
            if not wanted:
                return {}
            return dict(session.execute(select(model.id, model.name).where(model.id.in_(wanted))).all())

        versions = {i for i in (r.version_id for r in rows)}
        return cls(
            schools=names(School, {r.school_id for r in rows}),
            departments=names(Department, {r.department_id for r in rows}),
            employers=names(Employer, {r.employer_id for r in rows}),
            versions=dict(session.execute(select(ProcessVersion.id, ProcessVersion.content_hash)
                                          .where(ProcessVersion.id.in_(versions))).all()) if versions else {},
        )


def choices(session: Session) -> dict[str, Any]:
    """What the filter form offers: processes, versions and schools."""
    versions = session.execute(select(ProcessVersion.id, ProcessVersion.process_id, ProcessVersion.name,
                                      ProcessVersion.content_hash).order_by(ProcessVersion.process_id,
                                                                            ProcessVersion.id)).all()
    processes: dict[str, str] = {}
    for _vid, pid, name, _hash in versions:
        processes[pid] = name or pid
    return {
        "processes": sorted(processes.items()),
        "versions": [(vid, pid, h[:8]) for vid, pid, _name, h in versions],
        "schools": session.execute(select(School.id, School.name).order_by(School.name)).all(),
    }


CSV_HEADERS = ["ID", "流程", "版本", "业务键", "毕业生", "学号", "用人单位", "学校", "状态", "状态说明",
               "创建时间", "更新时间", "下次定时", "错误"]


def csv_rows(session: Session, f: InstanceFilter) -> Iterator[tuple[Any, ...]]:
    """The filtered list as plain columns, in batches (the serialized workflow is never loaded)."""
    q = filtered(session, f)
    pi = ProcessInstance
    columns = (select(pi.id, pi.process_id, pi.title, pi.version_id, pi.business_key, pi.subject_name,
                      pi.subject_no, Employer.name, School.name, pi.status, pi.last_error, pi.status_label,
                      pi.created_at, pi.updated_at, pi.next_timer_at)
               .outerjoin(Employer, Employer.id == pi.employer_id).outerjoin(School, School.id == pi.school_id)
               .where(*q.conds).order_by(*q.order))
    yield from session.execute(columns.execution_options(yield_per=500))
