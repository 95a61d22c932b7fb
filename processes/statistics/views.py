"""PRV-1 data views, read-only, for a province (its schools), a school (itself) and a 院系 (its graduates).

Each view is one SELECT over the domain tables, scoped by the access policy (ROLE-1) and gated by the ROLE-2
area it belongs to. Lists are offset-paged with a cap (`COUNT_CAP` rows: counts stop there, deeper pages are
refused with a hint to narrow the filters); exports stream every matching row (see `export.py`).
ID numbers (身份证号) are masked in every list and export.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from core.errors import Forbidden, ValidationFailed
from core.i18n import N_
from domain import dicts
from domain.access import ARCHIVE_AREA, BASIC, HUKOU_AREA, POLICY
from domain.models import (
    Agreement,
    Department,
    DestinationRecord,
    Employer,
    Graduate,
    RegisteredInfo,
    School,
    Termination,
)
from domain.stats_models import GraduateStat
from engine.models import ProcessInstance
from engine.services import Actor
from webapp.filters import mask_id

PER_PAGE, MAX_PER_PAGE = 20, 100
COUNT_CAP = 10_000  # lists count (and page) up to here; narrow the filters or export for more
EXPORT_CAP = 1_000_000  # an .xlsx sheet holds 1,048,576 rows
ROLES = ("province", "school", "department")

AGREEMENT_STATUS = {"invited": N_("单位发起邀请 等待应约"), "accepted": N_("签约审核中"), "agreement_review": N_("协议审核中"),
                    "agreement_approved": N_("就业协议审核通过"), "signing_review": N_("签约审核中"), "review": N_("登记审核中"),
                    "signed": N_("已签约"), "refused": N_("学生已拒绝签约"), "expired": N_("逾期未回应"), "rejected": N_("审核不通过"),
                    "void": N_("已作废"), "terminated": N_("已解约"), "draft": N_("草稿")}
PAPER_STATUS = {k: AGREEMENT_STATUS[k] for k in ("review", "signed", "void", "terminated")}
TERMINATION_STATUS = {"open": N_("解约办理中"), "approved": N_("已解约"), "refused": N_("对方拒绝解约"), "rejected": N_("解约审核不通过"),
                      "withdrawn": N_("已撤回")}
DESTINATION_STATUS = {"pending": N_("审核中"), "effective": N_("已生效"), "rejected": N_("审核不通过"), "voided": N_("已作废")}
INFO_STATUS = {"registered": N_("已登记"), "reviewing": N_("审核中"), "unregistered": N_("未登记")}
INITIATOR = {"graduate": N_("学生"), "employer": N_("单位")}
TERMINATION_KIND = {"online": N_("线上解约"), "offline": N_("线下解约")}


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # Chinese, translated with _() in the templates


@dataclass
class DataView:
    code: str
    title: str
    area: str  # ROLE-2
    columns: tuple[Column, ...]
    statuses: dict[str, str]
    build: Callable[[], tuple[Select[Any], dict[str, Any]]]  # the select and its filter columns
    sorts: tuple[str, ...]  # sort keys offered, the first the default (newest first)
    record_kind: str = ""  # archive / hukou: rows open the graduate's info page, else the instance page
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _graduate_cols() -> list[Any]:
    return [Graduate.id.label("graduate_id"), Graduate.name.label("name"), School.name.label("school"),
            Department.name.label("department"), Graduate.major.label("major"), Graduate.education.label("education"),
            Graduate.id_number.label("id_number"), Graduate.student_no.label("student_no"),
            Graduate.exam_no.label("exam_no"), Graduate.origin_name.label("origin"), Graduate.cohort.label("cohort")]


def _joined(stmt: Select[Any]) -> Select[Any]:
    return stmt.join(School, School.id == Graduate.school_id).join(Department, Department.id == Graduate.department_id)


def _common_sorts(extra: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": Graduate.name, "student_no": Graduate.student_no, "school": School.code,
            "department": Department.name, **extra}


def _employer() -> Any:
    """签约单位: the registered employer (online), else the name the graduate entered (offline, paper)."""
    return func.coalesce(Employer.name, Agreement.fields["employer_name"].as_string())


def _agreement_view(paper: bool) -> tuple[Select[Any], dict[str, Any]]:
    employer = _employer()
    stmt = select(Agreement.id.label("id"), Agreement.instance_id.label("instance_id"),
                  case((Agreement.kind == "online", "单位"), else_="学生").label("initiator"),
                  Agreement.kind.label("kind"), Agreement.agreement_no.label("agreement_no"),
                  employer.label("employer"), ProcessInstance.status_label.label("status_label"),
                  Agreement.status.label("status"), Agreement.created_at.label("created_at"), *_graduate_cols())
    stmt = _joined(stmt.join(Graduate, Graduate.id == Agreement.graduate_id)
                   .join(ProcessInstance, ProcessInstance.id == Agreement.instance_id)
                   .outerjoin(Employer, Employer.id == Agreement.employer_id))
    kinds = Agreement.kind == "paper" if paper else Agreement.kind.in_(("online", "offline"))
    stmt = stmt.where(kinds)
    light = select(Agreement.id).join(Graduate, Graduate.id == Agreement.graduate_id).where(kinds)
    return stmt, {"light": light, "id": Agreement.id, "status": Agreement.status, "date": Agreement.created_at,
                  "sorts": _common_sorts({"created": Agreement.id, "agreement_no": Agreement.agreement_no,
                                          "status": ProcessInstance.status_label})}


def _termination_view() -> tuple[Select[Any], dict[str, Any]]:
    stmt = select(Termination.id.label("id"), Termination.instance_id.label("instance_id"),
                  Termination.initiator.label("initiator_code"), Termination.kind.label("kind"),
                  Termination.reason.label("reason"), Agreement.agreement_no.label("agreement_no"),
                  _employer().label("employer"),
                  ProcessInstance.status_label.label("status_label"), Termination.status.label("status"),
                  Termination.created_at.label("created_at"), *_graduate_cols())
    stmt = _joined(stmt.join(Agreement, Agreement.id == Termination.agreement_id)
                   .join(Graduate, Graduate.id == Agreement.graduate_id)
                   .join(ProcessInstance, ProcessInstance.id == Termination.instance_id)
                   .outerjoin(Employer, Employer.id == Agreement.employer_id))
    light = select(Termination.id).join(Agreement, Agreement.id == Termination.agreement_id).join(
        Graduate, Graduate.id == Agreement.graduate_id)
    return stmt, {"light": light, "id": Termination.id, "status": Termination.status, "date": Termination.created_at,
                  "sorts": _common_sorts({"created": Termination.id, "agreement_no": Agreement.agreement_no,
                                          "status": ProcessInstance.status_label})}


def _destination_view() -> tuple[Select[Any], dict[str, Any]]:
    stmt = select(DestinationRecord.id.label("id"), DestinationRecord.instance_id.label("instance_id"),
                  DestinationRecord.category.label("category"), DestinationRecord.dest_type.label("dest_type"),
                  DestinationRecord.fields.label("fields"), ProcessInstance.status_label.label("status_label"),
                  DestinationRecord.status.label("status"), DestinationRecord.created_at.label("created_at"),
                  *_graduate_cols())
    stmt = _joined(stmt.join(Graduate, Graduate.id == DestinationRecord.graduate_id)
                   .join(ProcessInstance, ProcessInstance.id == DestinationRecord.instance_id))
    light = select(DestinationRecord.id).join(Graduate, Graduate.id == DestinationRecord.graduate_id)
    return stmt, {"light": light, "id": DestinationRecord.id, "status": DestinationRecord.status,
                  "date": DestinationRecord.created_at,
                  "sorts": _common_sorts({"created": DestinationRecord.id, "dest_type": DestinationRecord.dest_type,
                                          "status": ProcessInstance.status_label})}


def _info_view(kind: str) -> tuple[Select[Any], dict[str, Any]]:
    """Graduates with their valid info of `kind`; read through graduate_stat (one row per graduate, kept by
    domain.statistics), whose (school, state, graduate) indexes serve a school's newest-first page by state."""
    info = aliased(RegisteredInfo)
    state = getattr(GraduateStat, kind)
    # counted in the module: not deleted (GRAD-5: their info is no longer valid); hukou: 户口已转入学校 (MOD-5)
    live = [state != ""]
    on_info = and_(info.graduate_id == GraduateStat.graduate_id, info.kind == kind, info.active.is_(True))
    light = select(GraduateStat.graduate_id).outerjoin(info, on_info).where(*live)
    stmt = select(GraduateStat.graduate_id.label("id"), info.fields.label("fields"),
                  info.created_at.label("created_at"), state.label("status"), *_graduate_cols())
    stmt = _joined(stmt.select_from(GraduateStat).join(Graduate, Graduate.id == GraduateStat.graduate_id)
                   .outerjoin(info, on_info)).where(*live)
    return stmt, {"light": light, "id": GraduateStat.graduate_id, "status": state, "date": info.created_at,
                  "school": GraduateStat.school_id, "department": GraduateStat.department_id,
                  "cohort": GraduateStat.cohort, "scope": _stat_scope,
                  "q": lambda q: GraduateStat.graduate_id.in_(select(Graduate.id).where(
                      or_(Graduate.name == q, Graduate.student_no == q))),
                  "sorts": _common_sorts({"created": GraduateStat.graduate_id, "exam_no": Graduate.exam_no,
                                          "origin": Graduate.origin_code})}


def _stat_scope(actor: Actor) -> Any:
    """ROLE-1 on graduate_stat's own columns (so a page is one index range of it, newest first)."""
    if actor.role == "Province":
        return GraduateStat.school_id.in_(POLICY.province_school_ids(actor))
    if actor.role == "School" and actor.school_id is not None:
        return GraduateStat.school_id == actor.school_id
    if actor.role == "Department" and actor.department_id is not None:
        return GraduateStat.department_id == actor.department_id
    return false()


_G = [Column("name", N_("姓名")), Column("school", N_("院校")), Column("department", N_("院系")), Column("major", N_("专业")),
      Column("education", N_("学历")), Column("id_number", N_("身份证号"))]
_INFO = [Column("exam_no", N_("考生号")), *_G[:5], Column("origin", N_("生源所在地")), _G[5]]

VIEWS: dict[str, DataView] = {v.code: v for v in (
    DataView("signing", N_("在线签约管理"), BASIC,
             (Column("initiator", N_("签约发起方")), *_G, Column("agreement_no", N_("当前协议编号")), Column("employer", N_("签约单位")),
              Column("student_no", N_("学号")), Column("status_label", N_("签约状态"))),
             AGREEMENT_STATUS, lambda: _agreement_view(False),
             ("created", "name", "student_no", "school", "department", "agreement_no", "status"),
             note=N_("线上签约与线下签约（电子就业协议书）")),
    DataView("paper", N_("补登管理"), BASIC,
             (*_G, Column("agreement_no", N_("协议编号")), Column("employer", N_("签约单位")), Column("student_no", N_("学号")),
              Column("status_label", N_("登记状态"))),
             PAPER_STATUS, lambda: _agreement_view(True),
             ("created", "name", "student_no", "school", "department", "agreement_no", "status"),
             note=N_("已签纸质就业协议书的补充登记")),
    DataView("terminations", N_("解约管理"), BASIC,
             (Column("initiator", N_("解约发起方")), Column("termination_kind", N_("解约方式")), *_G,
              Column("agreement_no", N_("协议编号")), Column("employer", N_("签约单位")), Column("reason", N_("解约原因")),
              Column("student_no", N_("学号")), Column("status_label", N_("解约状态"))),
             TERMINATION_STATUS, _termination_view,
             ("created", "name", "student_no", "school", "department", "agreement_no", "status"),
             note=N_("线上解约与线下解约")),
    DataView("destinations", N_("去向登记管理"), BASIC,
             (*_G, Column("category_name", N_("去向类别")), Column("dest_type_name", N_("毕业去向")), Column("unit", N_("单位/院校")),
              Column("student_no", N_("学号")), Column("status_label", N_("登记状态"))),
             DESTINATION_STATUS, _destination_view,
             ("created", "name", "student_no", "school", "department", "dest_type", "status"),
             note=N_("其他毕业去向登记")),
    DataView("archive", N_("档案信息管理"), ARCHIVE_AREA,
             (*_INFO, Column("transfer_type", N_("档案转递类型")), Column("transfer_address", N_("档案转递地址"))),
             INFO_STATUS, lambda: _info_view("archive"),
             ("created", "name", "exam_no", "student_no", "school", "department", "origin"), record_kind="archive"),
    DataView("hukou", N_("户口信息管理"), HUKOU_AREA,
             (*_INFO, Column("transfer_type", N_("户口迁转类型")), Column("transfer_address", N_("户口迁转地址"))),
             INFO_STATUS, lambda: _info_view("hukou"),
             ("created", "name", "exam_no", "student_no", "school", "department", "origin"), record_kind="hukou",
             note=N_("仅列户口已转入学校的毕业生（MOD-5）")),
)}
DESTINATION_VIEWS = ("signing", "paper", "terminations", "destinations")  # 毕业去向与网签信息管理


def view_for(actor: Actor, code: str) -> DataView:
    """The view, when the actor is a province, school or 院系 account that may read its area (ROLE-2)."""
    view = VIEWS.get(code)
    if view is None or actor.role not in ("Province", "School", "Department"):
        raise Forbidden("页面不存在或无权访问")
    POLICY.require_area(actor, view.area)
    return view


# -- query parameters -----------------------------------------------------------------------------------------
@dataclass
class Query:
    school: int | None = None
    department: int | None = None
    status: str = ""
    q: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    cohort: int | None = None
    sort: str = "created"
    order: str = "desc"
    page: int = 1
    per_page: int = PER_PAGE
    raw: dict[str, str] = field(default_factory=dict)  # the accepted parameters, for links


def _int(args: Mapping[str, str], name: str, low: int = 1, high: int = 10**9) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(_("参数 %(name)s 无效：%(raw)s", name=name, raw=raw[:20]), details={name: "无效"})
    return int(raw)


def _day(args: Mapping[str, str], name: str, *, end: bool = False) -> datetime | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise ValidationFailed(_("日期 %(name)s 格式应为 YYYY-MM-DD：%(raw)s", name=name, raw=raw[:20]), details={name: "格式"}) from None
    day -= timedelta(hours=8)  # Beijing dates; rows are UTC
    return day + timedelta(days=1) if end else day


def parse_query(view: DataView, args: Mapping[str, str], *, paged: bool = True) -> Query:
    """The filters, sort and page of a request; a bad value is a 422 naming the parameter, never a 500."""
    sort = (args.get("sort") or view.sorts[0]).strip()
    if sort not in view.sorts:
        raise ValidationFailed(_("不支持的排序字段：%(sort)s（可选：%(join)s）", sort=sort[:30], join='、'.join(view.sorts)), details={"sort": "无效"})
    order = (args.get("order") or "desc").strip()
    if order not in ("asc", "desc"):
        raise ValidationFailed("排序方向 order 只能是 asc 或 desc", details={"order": "无效"})
    status = (args.get("status") or "").strip()
    if status and status not in view.statuses:
        raise ValidationFailed(_("不支持的状态：%(status)s", status=status[:30]), details={"status": "无效"})
    query = Query(school=_int(args, "school"), department=_int(args, "department"), status=status,
                  q=(args.get("q") or "").strip()[:50], date_from=_day(args, "from"),
                  date_to=_day(args, "to", end=True), cohort=_int(args, "cohort", 1900, 9999), sort=sort, order=order)
    if paged:
        query.page = _int(args, "page") or 1
        query.per_page = _int(args, "per_page", 1, MAX_PER_PAGE) or PER_PAGE
        if (query.page - 1) * query.per_page >= COUNT_CAP:
            raise ValidationFailed(_("最多翻到第 %(COUNT_CAP)s 条，请缩小筛选范围或导出", COUNT_CAP=COUNT_CAP), details={"page": "超出范围"})
    query.raw = {k: str(args.get(k)) for k in ("school", "department", "status", "q", "from", "to", "cohort",
                                                 "sort", "order", "per_page") if args.get(k)}
    return query


def statement(view: DataView, actor: Actor, query: Query, *, light: bool = False) -> Select[Any]:
    """The view's rows in the actor's scope (ROLE-1), filtered and sorted (no paging); `light`: only the ids,
    with only the joins the filters need (what the count reads)."""
    stmt, cols = view.build()
    if light:
        stmt = cols["light"]
    stmt = stmt.where(cols["scope"](actor) if "scope" in cols else POLICY.graduate_filter(actor))
    if query.school is not None:
        stmt = stmt.where(cols.get("school", Graduate.school_id) == query.school)
    if query.department is not None:
        stmt = stmt.where(cols.get("department", Graduate.department_id) == query.department)
    if query.cohort is not None:
        stmt = stmt.where(cols.get("cohort", Graduate.cohort) == query.cohort)
    if query.status:
        stmt = stmt.where(cols["status"] == query.status)
    if query.q:
        stmt = stmt.where(cols["q"](query.q) if "q" in cols else or_(Graduate.name == query.q,
                                                                      Graduate.student_no == query.q))
    if query.date_from is not None:
        stmt = stmt.where(cols["date"] >= query.date_from)
    if query.date_to is not None:
        stmt = stmt.where(cols["date"] < query.date_to)
    if light:
        if query.sort == "created":  # newest first: the page's ids come from the light statement alone
            return stmt.order_by(cols["id"].asc() if query.order == "asc" else cols["id"].desc())
        return stmt
    key = cols["sorts"][query.sort]
    tie = cols["id"]
    if query.order == "asc":
        return stmt.order_by(key.asc(), tie.asc())
    return stmt.order_by(key.desc(), tie.desc())


def page(session: Session, view: DataView, actor: Actor, query: Query) -> tuple[list[dict[str, Any]], int, bool]:
    """One page of display rows, the count (up to COUNT_CAP) and whether the count stopped at the cap."""
    stmt = statement(view, actor, query)
    light = statement(view, actor, query, light=True)
    capped = light.order_by(None).limit(COUNT_CAP + 1).subquery()
    total = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    offset = (query.page - 1) * query.per_page
    rows: Any
    if query.sort == "created":
        # a deferred join: the page's ids from the narrow statement, then only those rows with their columns
        # (PostgreSQL otherwise may walk the whole graduate index to find one school's newest 20)
        ids = list(session.scalars(light.offset(offset).limit(query.per_page)))
        _, cols = view.build()
        rows = session.execute(stmt.where(cols["id"].in_(ids))) if ids else []
    else:
        rows = session.execute(stmt.offset(offset).limit(query.per_page))
    return [display(view, r) for r in rows], min(total, COUNT_CAP), total > COUNT_CAP


def stream(session: Session, view: DataView, actor: Actor, query: Query) -> Iterator[dict[str, Any]]:
    """Every row of the view (to EXPORT_CAP), fetched in batches (a server-side cursor on PostgreSQL)."""
    stmt = statement(view, actor, query).limit(EXPORT_CAP)
    result = session.execute(stmt.execution_options(yield_per=2000, stream_results=True))
    for row in result:
        yield display(view, row)


def _address(fields: Mapping[str, Any], kind: str) -> str:
    detail = fields.get("archive_address" if kind == "archive" else "hukou_address") or ""
    return f"{fields.get('division_name') or ''}{detail}"


def display(view: DataView, row: Any) -> dict[str, Any]:
    """A row as shown and exported: masked ID number (PRV-1), names for codes, '--' for nothing."""
    m = row._mapping
    out: dict[str, Any] = {"id": m["id"], "graduate_id": m["graduate_id"], "instance_id": m.get("instance_id"),
                           "name": m["name"], "school": m["school"], "department": m["department"],
                           "major": m["major"], "education": m["education"], "id_number": mask_id(m["id_number"]),
                           "student_no": m["student_no"] or "--", "exam_no": m["exam_no"], "origin": m["origin"] or "--",
                           "cohort": m["cohort"], "status": m["status"] or "",
                           "created_at": m["created_at"].isoformat() + "Z" if m["created_at"] else None}
    if view.code in ("signing", "paper"):
        out.update(initiator=m["initiator"], agreement_no=m["agreement_no"] or "--", employer=m["employer"] or "--",
                   status_label=m["status_label"], way="线上签约" if m["kind"] == "online" else
                   ("线下签约" if m["kind"] == "offline" else "纸质协议补登"))
    elif view.code == "terminations":
        out.update(initiator=INITIATOR.get(m["initiator_code"], m["initiator_code"]),
                   termination_kind=TERMINATION_KIND.get(m["kind"], m["kind"]), reason=m["reason"],
                   agreement_no=m["agreement_no"] or "--", employer=m["employer"] or "--",
                   status_label=m["status_label"])
    elif view.code == "destinations":
        fields = m["fields"] or {}
        out.update(category_name=(dicts.destination_category(m["category"]) or {}).get("name", m["category"]),
                   dest_type_name=(dicts.destination_type(m["dest_type"]) or {}).get("name", m["dest_type"]),
                   unit=fields.get("unit_name") or fields.get("school_name") or "--", status_label=m["status_label"])
    else:
        fields = m["fields"] or {}
        kind = view.record_kind
        out.update(transfer_type=fields.get(f"{kind}_type") or "--",
                   transfer_address=_address(fields, kind) or "--",
                   status_label=INFO_STATUS.get(m["status"] or "", ""))
        out["transfer_address"] = out["transfer_address"] or "--"
    return out


def scope_choices(session: Session, actor: Actor) -> dict[str, list[tuple[int, str]]]:
    """The schools (a province) and 院系 (a school; a province after picking a school) to filter by."""
    schools = [(s.id, s.name) for s in session.scalars(select(School).where(POLICY.school_filter(actor))
                                                        .order_by(School.code))] if actor.role == "Province" else []
    depts: list[tuple[int, str]] = []
    if actor.role == "School" and actor.school_id is not None:
        depts = [(d.id, d.name) for d in session.scalars(select(Department).where(
            Department.school_id == actor.school_id).order_by(Department.name))]
    return {"schools": schools, "departments": depts}
