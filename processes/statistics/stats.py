"""PRV-2 tables for one actor: a province per school, a school per 院系, a 院系 itself; read from the counters.

The states are defined in `domain.statistics`; 未登记 includes 审核中 (总人数 = 已登记 + 未登记, seed 002 §7)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.i18n import N_
from domain import dicts
from domain import statistics as st
from domain.access import MODULE_AREA, POLICY
from domain.models import Cohort, Department, Province, School
from engine.services import Actor

KEYS = ("total", "registered", "unregistered", "reviewing")
OPEN_NAMES = {"open": N_("已开启"), "settings": N_("学校未完成设置"), "closed": N_("省级未开启")}


def readable_modules(actor: Actor) -> list[str]:
    """The modules whose statistics this actor may read (ROLE-2: not an area with 无权限)."""
    return [m for m in st.MODULES if POLICY.may_read_area(actor, MODULE_AREA[m])]


def cohorts(session: Session) -> list[int]:
    return list(session.scalars(select(Cohort.year).order_by(Cohort.year.desc())))


def parse(session: Session, actor: Actor, args: Any) -> tuple[str, int | None]:
    """module and cohort of a request: 422 for a value that is not one, 404 for a module the actor may not read."""
    if actor.role not in ("Province", "School", "Department"):
        raise Forbidden("页面不存在或无权访问")
    modules = readable_modules(actor)
    if not modules:
        raise Forbidden("页面不存在或无权访问")
    module = (args.get("module") or modules[0]).strip()
    if module not in st.MODULES:
        raise ValidationFailed(_("不支持的模块：%(module)s（可选：%(join)s）", module=module[:30], join='、'.join(st.MODULES)), details={"module": "无效"})
    if module not in modules:
        raise Forbidden("页面不存在或无权访问")
    raw = (args.get("cohort") or "").strip()
    if raw == "all":
        return module, None
    if raw:
        if not raw.isdigit() or len(raw) != 4:
            raise ValidationFailed(_("届别 cohort 应为四位年份：%(raw)s", raw=raw[:20]), details={"cohort": "无效"})
        return module, int(raw)
    latest = session.scalar(select(func.max(Cohort.year)))
    return module, int(latest) if latest is not None else None


def open_state(province: Province | None, school: School, module: str) -> str:
    """开启情况 (MOD-2, MOD-4): enabled by the province, and the school completed its settings."""
    if province is None or module not in (province.enabled_modules or []):
        return "closed"
    return "open" if module in (school.open_modules or []) else "settings"


def _row(key: int, name: str, counts: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {"id": key, "name": name, **st.summary(counts), **extra}


def table(session: Session, actor: Actor, module: str, cohort: int | None) -> dict[str, Any]:
    """Rows (schools or 院系), the total row, the destination-type breakdown and the 开启情况."""
    rows: list[dict[str, Any]] = []
    buckets: dict[str, int] = {}
    if actor.role == "Province":
        province = session.get(Province, actor.province_id)
        schools = list(session.scalars(select(School).where(POLICY.school_filter(actor)).order_by(School.code)))
        counts = st.counter_totals(session, module, school_ids=[s.id for s in schools], cohort=cohort)
        for school in schools:
            c = counts.get(school.id, {})
            state = open_state(province, school, module)
            rows.append(_row(school.id, school.name, c, open=state, open_name=OPEN_NAMES[state]))
            _add(buckets, c)
        scope, total_name, by = "province", (province.name if province else "") + "总计", "school"
    else:
        own = session.get(School, actor.school_id) if actor.school_id is not None else None
        if own is None:
            raise Forbidden("页面不存在或无权访问")
        school = own
        depts = select(Department).where(Department.school_id == school.id)
        if actor.role == "Department":
            depts = depts.where(Department.id == actor.department_id)
        departments = list(session.scalars(depts.order_by(Department.name)))
        counts = st.counter_totals(session, module, school_id=school.id, cohort=cohort, by="department",
                                   department_id=actor.department_id if actor.role == "Department" else None)
        for dept in departments:
            c = counts.get(dept.id, {})
            rows.append(_row(dept.id, dept.name, c))
            _add(buckets, c)
        state = open_state(school.province, school, module)
        scope, total_name, by = "school", school.name + "总计", "department"
        opened = {"open": state, "open_name": OPEN_NAMES[state]}
    total = {"name": total_name, **{k: sum(r[k] for r in rows) for k in KEYS}}
    out: dict[str, Any] = {"module": module, "module_name": st.MODULE_NAMES[module], "cohort": cohort,
                           "scope": scope, "by": by, "rows": rows, "total": total,
                           "types": types(buckets) if module == "destination" else {"categories": [], "types": []}}
    if scope == "school":
        out["open"] = opened
    else:
        out["open_counts"] = {k: sum(1 for r in rows if r["open"] == k) for k in OPEN_NAMES}
    return out


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for bucket, n in counts.items():
        into[bucket] = into.get(bucket, 0) + n


def types(buckets: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The registered graduates by DICT-1 category and type of their effective destination (DST-4)."""
    names = {t["code"]: t["name"] for t in dicts.destination_types()}
    cats = {c["code"]: c["name"] for c in dicts.destination_categories()}
    names[st.AGREEMENT] = cats.get(st.AGREEMENT, "签就业协议形式就业")
    categories = [{"code": code, "name": cats.get(code, code), "n": buckets.get(f"cat:{code}", 0)}
                  for code in [*cats, *sorted(k[4:] for k in buckets if k.startswith("cat:") and k[4:] not in cats)]]
    by_type = sorted(({"code": k[5:], "name": names.get(k[5:], k[5:]), "n": n} for k, n in buckets.items()
                      if k.startswith("type:") and n), key=lambda t: (-t["n"], t["code"]))
    return {"categories": [c for c in categories if c["n"] or c["code"] in cats], "types": by_type}


def chart_data(data: dict[str, Any]) -> dict[str, Any]:
    """What statistics.js draws: stacked bars per row, and the destination types as a pie."""
    return {"labels": [r["name"] for r in data["rows"]],
            "series": {k: [r[k] for r in data["rows"]] for k in ("registered", "reviewing")} | {
                "waiting": [r["unregistered"] - r["reviewing"] for r in data["rows"]]},
            "types": [{"name": t["name"], "value": t["n"]} for t in data["types"]["types"]]}
