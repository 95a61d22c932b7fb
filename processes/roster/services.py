"""The school's graduates (GRAD-1, GRAD-5): list, add, edit, delete, each one step; who may (ROLE-1, ROLE-2).

A graduate is one row per school, cohort and 身份证号 (the table's unique key). Saving a row whose person was
deleted (GRAD-5) revives that row with the new values and no archive or hukou registration: those were made
invalid by the deletion and stay so, the graduate must check the basic info again (GRAD-3) and register again.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from domain import statistics, transfers
from domain.access import BASIC, POLICY, SCHOOL
from domain.cohorts import ensure_cohort
from domain.graduate_info import info_changed
from domain.models import Cohort, Department, Graduate, School
from engine.runner import Runner
from engine.services import Actor

from .rules import COLUMNS, GRADUATE_FIELDS, SchoolContext, check_row, unchanged

PAGE_SIZE = 50
HEADER_OF = {c.key: c.header for c in COLUMNS}


def require_school(actor: Actor, write: bool = False) -> int:
    """The acting school's id; a school account needs read (or read-write) on 基本信息和就业信息 (ROLE-2)."""
    if actor.role != SCHOOL or actor.school_id is None:
        raise Forbidden("页面不存在或无权访问")
    POLICY.require_area(actor, BASIC, write=write)
    return actor.school_id


def may_write(actor: Actor) -> bool:
    return actor.role == SCHOOL and POLICY.may_write_area(actor, BASIC)


def school_context(session: Session, school_id: int) -> SchoolContext:
    school = session.get(School, school_id)
    if school is None:
        raise Forbidden("页面不存在或无权访问")
    departments = dict(session.execute(select(Department.name, Department.id).where(Department.school_id == school_id))
                       .tuples().all())
    return SchoolContext(school_id=school.id, school_name=school.name, school_code=school.code, departments=departments)


def graduate_of(session: Session, actor: Actor, graduate_id: int) -> Graduate:
    """One graduate of the acting school (ROLE-1); anything else looks missing."""
    require_school(actor)
    return transfers.school_graduate(session, actor, graduate_id)


def default_cohort(session: Session) -> int | None:
    """The newest open cohort (its season has not ended), else the newest one (design)."""
    from core.db import utcnow

    today = utcnow().date()
    found = session.scalar(select(Cohort.year).where(Cohort.ends_on >= today).order_by(Cohort.year.desc()).limit(1))
    return found if found is not None else session.scalar(select(func.max(Cohort.year)))


def list_graduates(session: Session, actor: Actor, *, q: str = "", cohort: int | None = None, page: int = 1,
                   department_id: int | None = None) -> tuple[list[Graduate], int]:
    """The school's graduates of one cohort, by 学号; q matches 姓名, 学号 or 身份证号 (exactly, or a name prefix)."""
    school_id = require_school(actor)
    query = select(Graduate).where(Graduate.school_id == school_id, Graduate.deleted_at.is_(None))
    if cohort is not None:
        query = query.where(Graduate.cohort == cohort)
    if department_id is not None:
        query = query.where(Graduate.department_id == department_id)
    q = q.strip()
    if q:
        query = query.where(or_(Graduate.name.startswith(q, autoescape=True), Graduate.student_no == q,
                                Graduate.id_number == q.upper()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Graduate.student_no, Graduate.id)
                                .offset((max(page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return rows, total


def _conflicts(session: Session, school_id: int, clean: dict[str, Any], own_id: int | None) -> tuple[Graduate | None, dict[str, str]]:
    """(the row of this school, cohort and 身份证号 if any, errors against the database)."""
    errors: dict[str, str] = {}
    same = session.scalar(select(Graduate).where(Graduate.school_id == school_id, Graduate.cohort == clean["cohort"],
                                                 Graduate.id_number == clean["id_number"]))
    if same is not None and same.id != own_id and same.deleted_at is None:
        errors["id_number"] = f"{clean['cohort']}届已有该身份证号的毕业生（{same.name}，学号{same.student_no}）"
    other = session.scalar(select(Graduate).where(
        Graduate.school_id == school_id, Graduate.cohort == clean["cohort"], Graduate.student_no == clean["student_no"],
        Graduate.deleted_at.is_(None), Graduate.id_number != clean["id_number"],
        *((Graduate.id != own_id,) if own_id is not None else ())).limit(1))
    if other is not None:
        errors["student_no"] = f"学号已被本届其他毕业生（{other.name}）使用"
    return same, errors


def _fail(errors: dict[str, str]) -> ValidationFailed:
    first = next(iter(errors))
    return ValidationFailed(f"{HEADER_OF.get(first, first)}：{errors[first]}",
                            details={k: [v] for k, v in errors.items()})


def revive(session: Session, graduate: Graduate, clean: dict[str, Any]) -> None:
    """GRAD-5: a deleted graduate uploaded again: the same row, new values, no valid archive/hukou info; they
    check the basic info again (GRAD-3) and register archive and hukou again."""
    for key in GRADUATE_FIELDS:
        setattr(graduate, key, clean[key])
    graduate.deleted_at = None
    graduate.confirmed_at = None
    session.flush()
    for part in ("archive", "hukou"):
        info_changed(session, graduate.id, part)  # a confirmation on file must be given again (CNF-5)


def add_graduate(session: Session, actor: Actor, values: dict[str, Any]) -> Graduate:
    """GRAD-1 single add (or GRAD-5 re-upload of a deleted graduate)."""
    school_id = require_school(actor, write=True)
    clean, errors = check_row(values, school_context(session, school_id))
    if errors:
        raise _fail(errors)
    ensure_cohort(session, clean["cohort"])
    same, errors = _conflicts(session, school_id, clean, None)
    if errors:
        raise _fail(errors)
    if same is not None:
        revive(session, same, clean)
        graduate = same
    else:
        graduate = Graduate(school_id=school_id, **{k: clean[k] for k in GRADUATE_FIELDS})
        session.add(graduate)
        session.flush()
    statistics.refresh_graduates(session, [graduate.id])
    return graduate


def edit_graduate(session: Session, actor: Actor, graduate_id: int, values: dict[str, Any]) -> tuple[Graduate, bool]:
    """GRAD-3: the school corrects a graduate's basic info; (graduate, whether anything changed)."""
    school_id = require_school(actor, write=True)
    graduate = graduate_of(session, actor, graduate_id)
    clean, errors = check_row(values, school_context(session, school_id))
    if errors:
        raise _fail(errors)
    if unchanged(graduate, clean):
        return graduate, False
    ensure_cohort(session, clean["cohort"])
    _same, errors = _conflicts(session, school_id, clean, graduate.id)
    if not errors and _same is not None and _same.id != graduate.id:
        errors["id_number"] = f"{clean['cohort']}届已有该身份证号的记录（已删除），请重新新增该毕业生"
    if errors:
        raise _fail(errors)
    for key in GRADUATE_FIELDS:
        setattr(graduate, key, clean[key])
    session.flush()
    statistics.refresh_graduates(session, [graduate.id])
    return graduate, True


def delete_graduate(session: Session, runner: Runner, actor: Actor, graduate_id: int) -> dict[str, Any]:
    """GRAD-5 through domain.transfers.delete_basic_info, for a school with read-write on basic info."""
    require_school(actor, write=True)
    graduate_of(session, actor, graduate_id)
    result = transfers.delete_basic_info(session, runner, actor, graduate_id)
    statistics.refresh_graduates(session, [graduate_id])
    return result


def cohort_years(session: Session, school_id: int) -> list[int]:
    """The cohorts the school has graduates in, and every cohort on record, newest first."""
    years = set(session.scalars(select(Cohort.year)))
    years.update(session.scalars(select(Graduate.cohort).where(Graduate.school_id == school_id).distinct()))
    return sorted(years, reverse=True)


def graduate_json(graduate: Graduate, *, masked: bool = True) -> dict[str, Any]:
    from webapp.filters import mask_id

    return {
        "id": graduate.id, "cohort": graduate.cohort, "exam_no": graduate.exam_no, "name": graduate.name,
        "id_number": mask_id(graduate.id_number) if masked else graduate.id_number,
        "education": graduate.education, "gender": graduate.gender, "ethnicity": graduate.ethnicity,
        "political_status": graduate.political_status, "training_mode": graduate.training_mode,
        "directed_unit": graduate.directed_unit, "directed_unit_address": graduate.directed_unit_address,
        "origin_code": graduate.origin_code, "origin_name": graduate.origin_name,
        "enrolled_on": graduate.enrolled_on, "graduates_on": graduate.graduates_on,
        "student_no": graduate.student_no, "department_id": graduate.department_id,
        "department": graduate.department.name if graduate.department is not None else None,
        "major": graduate.major, "duration": graduate.duration, "archive_in_school": graduate.archive_in_school,
        "hukou_in_school": graduate.hukou_in_school, "email": graduate.email, "phone": graduate.phone,
        "confirmed": graduate.confirmed_at is not None,
    }
