"""GRAD-1: the columns of a graduate's basic information and the one validator every way in uses (a file's
row, the school's add and edit forms, the API): `check_row(raw, context)` -> clean values or errors by column.

Decisions (design):
- 院系 must already exist in the school (a typo must not create a department that no reviewer account covers);
- 毕业院校 must be the uploading school (its name or its code);
- 届别 may be left empty: it is then the year of 毕业时间; when given it must equal that year;
- 定向 / 委培 need 定向单位 (GRAD-6); a 非定向 row must leave 定向单位 and 定向单位地址 empty.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

from core.i18n import N_
from domain.cohorts import FIRST_YEAR, LAST_YEAR
from forms.validators import id_number_error, mobile_error, year_month_error

from . import dictionaries


@dataclass(frozen=True)
class Column:
    key: str  # the form field / API key
    header: str  # the Chinese header of the template and the error report
    max_length: int
    required: bool = True
    hint: str = ""  # the template's note on the column


COLUMNS: tuple[Column, ...] = (
    Column("exam_no", N_("考生号"), 20, hint=N_("字母或数字")),
    Column("name", N_("姓名"), 50),
    Column("id_number", N_("身份证号"), 18, hint=N_("18位，末位可为X")),
    Column("school", N_("毕业院校"), 100, hint=N_("本校名称或代码")),
    Column("education", N_("学历"), 20, hint="/".join(dictionaries.names("education"))),
    Column("gender", N_("性别"), 4, hint=N_("男/女")),
    Column("ethnicity", N_("民族"), 20, hint=N_("如 汉族 或代码 01")),
    Column("political_status", N_("政治面貌"), 20, hint=N_("如 共青团员 或代码 03")),
    Column("training_mode", N_("培养方式"), 10, hint=N_("非定向/定向/委培")),
    Column("origin", N_("生源所在地"), 100, hint=N_("行政区划代码或全称，如 350203 或 福建省厦门市思明区")),
    Column("enrolled_on", N_("入学时间"), 6, hint=N_("YYYYMM，如 202209")),
    Column("graduates_on", N_("毕业时间"), 6, hint=N_("YYYYMM，如 202606")),
    Column("student_no", N_("学号"), 30),
    Column("department", N_("院系"), 100, hint=N_("本校已有的院系名称")),
    Column("major", N_("专业"), 100),
    Column("duration", N_("学制"), 4, hint=N_("年，如 4 或 2.5")),
    Column("archive_in_school", N_("档案是否转入学校"), 2, hint=N_("是/否")),
    Column("hukou_in_school", N_("户口是否转入学校"), 2, hint=N_("是/否")),
    Column("email", N_("电子邮箱"), 100, required=False),
    Column("phone", N_("手机号码"), 11, required=False, hint=N_("11位手机号码")),
    Column("cohort", N_("届别"), 6, required=False, hint=N_("如 2026，空则取毕业年份")),
    Column("directed_unit", N_("定向单位"), 200, required=False, hint=N_("定向/委培必填")),
    Column("directed_unit_address", N_("定向单位地址"), 200, required=False, hint=N_("定向/委培可填")),
)
BY_KEY = {c.key: c for c in COLUMNS}
BY_HEADER = {c.header: c for c in COLUMNS}
HEADERS = tuple(c.header for c in COLUMNS)
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required) + (N_("届别"),)  # 届别 may be empty, not missing
# the Graduate attributes a clean row sets (what "unchanged" compares)
GRADUATE_FIELDS = ("exam_no", "name", "id_number", "education", "gender", "ethnicity", "political_status",
                   "training_mode", "directed_unit", "directed_unit_address", "origin_code", "origin_name",
                   "enrolled_on", "graduates_on", "student_no", "department_id", "major", "duration",
                   "archive_in_school", "hukou_in_school", "email", "phone", "cohort")

_EXAM_NO = re.compile(r"^[0-9A-Za-z]{1,20}$")
_PLAIN_EMAIL = re.compile(r"^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                          r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}$")
_DURATION = re.compile(r"^[1-9](\.5)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# columns whose format check names the length itself (a clearer reason than 不能超过N个字符)
_FORMAT_SAYS_LENGTH = frozenset({"id_number", "enrolled_on", "graduates_on", "phone", "duration", "cohort"})


@dataclass
class SchoolContext:
    """What the validator needs of the school: its name and code and its departments by name."""

    school_id: int
    school_name: str
    school_code: str
    departments: dict[str, int] = field(default_factory=dict)


def text(value: Any) -> str:
    """A cell as text: numbers without a trailing .0 (Excel turns 202209 into 202209.0), trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _yes_no(value: str) -> bool | None:
    return {"是": True, "1": True, "Y": True, "y": True, "否": False, "0": False, "N": False, "n": False}.get(value)


def _email_error(value: str) -> str | None:
    """email_validator's syntax check (as the forms' Email validator), after a quick pass for plain addresses."""
    if _PLAIN_EMAIL.match(value) and ".." not in value:
        return None
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "电子邮箱格式不正确"
    return None


def _check_dicts(raw: dict[str, str], clean: dict[str, Any], errors: dict[str, str]) -> None:
    for key in ("education", "gender", "ethnicity", "political_status", "training_mode"):
        if key in errors or not raw[key]:
            continue
        found = dictionaries.lookup(key, raw[key])
        if found is None:
            options = dictionaries.names(key)
            listed = "、".join(options) if len(options) <= 13 else "GB/T 3304 民族名称或代码"
            errors[key] = f"不在字典中，应为：{listed}"
        else:
            clean[key] = found
    if raw["origin"] and "origin" not in errors:
        place = dictionaries.division(raw["origin"])
        if place is None:
            errors["origin"] = "生源所在地不是有效的行政区划代码或全称"
        else:
            clean["origin_code"], clean["origin_name"] = place
    for key in ("archive_in_school", "hukou_in_school"):
        if raw[key] and key not in errors:
            flag = _yes_no(raw[key])
            if flag is None:
                errors[key] = "应填“是”或“否”"
            else:
                clean[key] = flag


def _check_dates(raw: dict[str, str], clean: dict[str, Any], errors: dict[str, str]) -> None:
    for key in ("enrolled_on", "graduates_on"):
        if raw[key] and key not in errors:
            error = year_month_error(raw[key])
            if error:
                errors[key] = error
            else:
                clean[key] = raw[key]
    if "enrolled_on" in clean and "graduates_on" in clean and clean["graduates_on"] <= clean["enrolled_on"]:
        errors["graduates_on"] = "毕业时间应晚于入学时间"
    cohort = raw["cohort"].removesuffix("届")
    if cohort:
        if not cohort.isdigit() or not FIRST_YEAR <= int(cohort) <= LAST_YEAR:
            errors["cohort"] = f"届别应为{FIRST_YEAR}至{LAST_YEAR}之间的年份，如 2026"
            return
        clean["cohort"] = int(cohort)
        if "graduates_on" in clean and clean["graduates_on"][:4] != cohort:
            errors["cohort"] = "届别与毕业时间的年份不一致"
    elif "graduates_on" in clean:
        year = int(clean["graduates_on"][:4])
        if FIRST_YEAR <= year <= LAST_YEAR:
            clean["cohort"] = year
        else:
            errors["graduates_on"] = f"毕业年份应在{FIRST_YEAR}至{LAST_YEAR}之间"


def _check_school(raw: dict[str, str], clean: dict[str, Any], errors: dict[str, str], school: SchoolContext) -> None:
    if raw["school"] and "school" not in errors and raw["school"] not in (school.school_name, school.school_code):
        errors["school"] = f"毕业院校应为本校（{school.school_name}）"
    if raw["department"] and "department" not in errors:
        department_id = school.departments.get(raw["department"])
        if department_id is None:
            errors["department"] = "院系在本校不存在，请先添加该院系或改正名称"
        else:
            clean["department_id"] = department_id


def _check_formats(raw: dict[str, str], clean: dict[str, Any], errors: dict[str, str], school: SchoolContext) -> None:
    if raw["exam_no"] and "exam_no" not in errors:
        if _EXAM_NO.match(raw["exam_no"]):
            clean["exam_no"] = raw["exam_no"]
        else:
            errors["exam_no"] = "考生号只能含字母和数字"
    if raw["id_number"] and "id_number" not in errors:
        number = raw["id_number"].upper()
        error = id_number_error(number)
        if error:
            errors["id_number"] = error
        else:
            clean["id_number"] = number
    _check_school(raw, clean, errors, school)
    if raw["duration"] and "duration" not in errors:
        if _DURATION.match(raw["duration"]):
            clean["duration"] = raw["duration"]
        else:
            errors["duration"] = "学制应为1至9年（可为半年，如 2.5）"
    if raw["email"] and "email" not in errors:
        error = _email_error(raw["email"])
        if error:
            errors["email"] = error
    if raw["phone"] and "phone" not in errors:
        error = mobile_error(raw["phone"])
        if error:
            errors["phone"] = error


def check_row(values: dict[str, Any], school: SchoolContext) -> tuple[dict[str, Any], dict[str, str]]:
    """One graduate's basic information: (clean Graduate attributes, {column key: reason}).

    The same checks for an uploaded row, the add and edit forms and the API (GRAD-1). Duplicates inside a file
    and against the database are the import's and the service's business (they need more than one row)."""
    raw = {c.key: text(values.get(c.key)) for c in COLUMNS}
    errors: dict[str, str] = {}
    for column in COLUMNS:
        value = raw[column.key]
        if not value:
            if column.required:
                errors[column.key] = "必填"
        elif len(value) > column.max_length and column.key not in _FORMAT_SAYS_LENGTH:
            errors[column.key] = f"不能超过{column.max_length}个字符"
        elif _CONTROL.search(value):
            errors[column.key] = "含有不可见的控制字符"
    clean: dict[str, Any] = {key: raw[key] for key in ("name", "student_no", "major")}
    clean["email"] = raw["email"] or None
    clean["phone"] = raw["phone"] or None
    _check_formats(raw, clean, errors, school)
    _check_dicts(raw, clean, errors)
    _check_dates(raw, clean, errors)
    mode = clean.get("training_mode")
    if mode in ("定向", "委培"):
        if not raw["directed_unit"] and "directed_unit" not in errors:
            errors["directed_unit"] = "定向/委培毕业生必须填写定向单位"
    elif mode == "非定向" and (raw["directed_unit"] or raw["directed_unit_address"]):
        errors["directed_unit"] = "非定向毕业生不应填写定向单位"
    clean["directed_unit"] = raw["directed_unit"] or None
    clean["directed_unit_address"] = raw["directed_unit_address"] or None
    return ({} if errors else clean), errors


def unchanged(graduate: Any, clean: dict[str, Any]) -> bool:
    """Whether a stored graduate already holds exactly these values (a re-imported identical row)."""
    return all(getattr(graduate, key) == clean.get(key) for key in GRADUATE_FIELDS)


def row_of(graduate: Any) -> dict[str, str]:
    """A stored graduate as the columns' text (the edit form's initial values)."""
    return {
        "exam_no": graduate.exam_no, "name": graduate.name, "id_number": graduate.id_number,
        "school": graduate.school.name if graduate.school is not None else "", "education": graduate.education,
        "gender": graduate.gender, "ethnicity": graduate.ethnicity, "political_status": graduate.political_status,
        "training_mode": graduate.training_mode, "origin": graduate.origin_code, "enrolled_on": graduate.enrolled_on,
        "graduates_on": graduate.graduates_on, "student_no": graduate.student_no,
        "department": graduate.department.name if graduate.department is not None else "", "major": graduate.major,
        "duration": graduate.duration, "archive_in_school": "是" if graduate.archive_in_school else "否",
        "hukou_in_school": "是" if graduate.hukou_in_school else "否", "email": graduate.email or "",
        "phone": graduate.phone or "", "cohort": str(graduate.cohort), "directed_unit": graduate.directed_unit or "",
        "directed_unit_address": graduate.directed_unit_address or "",
    }
