"""Accounts and their module permissions (ROLE-2), the province's module switches and agreement type (MOD-2,
MOD-3), each school's module settings and review levels (MOD-4, MOD-6). Every change is written to SettingChange
(who, action, target, before, after) in the same transaction.

Who manages whom is the access policy's question (`POLICY.may_manage_account`): a province its schools' school
accounts, a school with read-write on 基本信息和就业信息 its departments' accounts, never above its own
permissions. Anything outside that scope looks exactly like a missing account (ROLE-1).
"""
from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, Forbidden, ValidationFailed
from core.i18n import N_
from domain.access import (
    AREA_NAMES,
    AREAS,
    BASIC,
    DEFAULT_PERMISSIONS,
    MODULE_AREA,
    NONE,
    PERMISSION_NAMES,
    POLICY,
    RO,
    RW,
    SCHOOL,
    permissions_of,
)
from domain.accounts import end_sessions, hash_password
from domain.models import Account, ApiToken, Department, Province, School, SettingChange
from domain.schools import MODULE_NAMES
from engine.services import Actor

CHANGE_NAMES = {"create_account": N_("新增账号"), "set_permissions": N_("设置模块管理权限"), "disable_account": N_("停用账号"),
                "enable_account": N_("启用账号"), "reset_password": N_("重置密码"), "enable_module": N_("开启模块"),
                "set_agreement_type": N_("设置电子就业协议书类型"), "open_module": N_("完成模块设置"),
                "set_review_levels": N_("修改审核方式")}
MODULES = tuple(MODULE_NAMES)  # destination, archive, hukou (MOD-1)
AGREEMENT_TYPES = {"two_party": N_("两方协议（甲方用人单位、乙方毕业生，院校鉴证）"),
                   "three_party": N_("三方协议（甲方用人单位、乙方毕业生、丙方学校，院校审核）")}  # MOD-3
REVIEW_LEVELS = {"department_school": N_("院系及学校审核"), "school_only": N_("仅学校审核")}  # MOD-6
RANK = {NONE: 0, RO: 1, RW: 2}
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,50}$")
MIN_PASSWORD = 8
NOT_FOUND = N_("账号不存在或无权访问")


# -- the audit trail -------------------------------------------------------------------------------------
def record(session: Session, actor: Actor, action: str, target: str, target_id: int,
           before: dict[str, Any] | None, after: dict[str, Any] | None, reason: str | None = None) -> SettingChange:
    """Append one audited change (ROLE-2, MOD-2..6); rows are never updated or deleted."""
    row = SettingChange(account_id=actor.id, actor_name=actor.name[:100], action=action, target=target,
                        target_id=target_id, before=before, after=after, reason=reason)
    session.add(row)
    session.flush()
    return row


def changes(session: Session, target: str, target_id: int, limit: int = 50) -> list[SettingChange]:
    return list(session.scalars(select(SettingChange).where(SettingChange.target == target,
                                                            SettingChange.target_id == target_id)
                                .order_by(SettingChange.id.desc()).limit(limit)))


def change_json(row: SettingChange) -> dict[str, Any]:
    from core.timefmt import iso

    return {"id": row.id, "account_id": row.account_id, "actor_name": row.actor_name, "action": row.action,
            "target": row.target, "target_id": row.target_id, "before": row.before, "after": row.after,
            "created_at": iso(row.created_at)}


# -- checks -----------------------------------------------------------------------------------------------
def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def require_province(actor: Actor) -> None:
    if not POLICY.is_province(actor):
        raise Forbidden("页面不存在或无权访问")


def require_school(actor: Actor) -> None:
    if actor.role != SCHOOL or actor.school_id is None:
        raise Forbidden("页面不存在或无权访问")


def clean_permissions(raw: Any, ceiling: dict[str, str] | None = None) -> dict[str, str]:
    """ROLE-2: one of rw / ro / none per area; a missing area keeps the default; never above `ceiling`."""
    if not isinstance(raw, dict):
        raise _fail("permissions", "模块管理权限格式不正确")
    unknown = [k for k in raw if k not in AREAS]
    if unknown:
        raise _fail("permissions", f"未知的管理模块：{'、'.join(str(k)[:20] for k in unknown)}")
    out: dict[str, str] = {}
    for area in AREAS:
        value = raw.get(area, DEFAULT_PERMISSIONS[area])
        if value not in PERMISSION_NAMES:
            raise _fail(area, f"{AREA_NAMES[area]}的权限只能是读写、只读或无权限")
        if ceiling is not None and RANK[value] > RANK[ceiling.get(area, NONE)]:
            raise _fail(area, f"院系账号的“{AREA_NAMES[area]}”权限不能高于学校账号自己的权限"
                              f"（{PERMISSION_NAMES[ceiling.get(area, NONE)]}）")
        out[area] = value
    return out


def _check_new_account(session: Session, username: str, display_name: str, password: str) -> None:
    if not USERNAME.match(username or ""):
        raise _fail("username", "用户名须为3至50位字母、数字或 _ . -")
    if not (display_name or "").strip() or len(display_name) > 100:
        raise _fail("display_name", "请填写账号名称（100字以内）")
    check_password(password)
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise _fail("username", f"用户名“{username}”已被使用，请换一个")


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD or len(password) > 128 or not re.search(r"[A-Za-z]", password) \
            or not re.search(r"\d", password):
        raise _fail("password", f"密码至少{MIN_PASSWORD}位，且须同时包含字母和数字")


# -- accounts ---------------------------------------------------------------------------------------------
def account_json(account: Account) -> dict[str, Any]:
    return {"id": account.id, "username": account.username, "display_name": account.display_name,
            "role": account.role, "school_id": account.school_id, "department_id": account.department_id,
            "active": account.active, "permissions": permissions_of(account)}


def managed_account(session: Session, actor: Actor, account_id: int) -> Account:
    """An account the actor manages, or the same Forbidden as a missing one (ROLE-1)."""
    account = session.get(Account, account_id)
    if account is None or not POLICY.may_manage_account(session, actor, account):
        raise Forbidden(NOT_FOUND)
    return account


def province_schools(session: Session, actor: Actor) -> list[School]:
    require_province(actor)
    return list(session.scalars(select(School).where(School.province_id == actor.province_id)
                                .order_by(School.code)))


def school_accounts(session: Session, actor: Actor, school_id: int | None = None) -> list[Account]:
    """The province's school accounts (of one school when given)."""
    require_province(actor)
    query = (select(Account).join(School, School.id == Account.school_id)
             .where(Account.role == "school", School.province_id == actor.province_id))
    if school_id is not None:
        query = query.where(Account.school_id == school_id)
    return list(session.scalars(query.order_by(School.code, Account.username)))


def department_accounts(session: Session, actor: Actor) -> list[Account]:
    require_school(actor)
    return list(session.scalars(select(Account).where(Account.role == "department",
                                                      Account.school_id == actor.school_id)
                                .order_by(Account.department_id, Account.username)))


def school_departments(session: Session, actor: Actor) -> list[Department]:
    require_school(actor)
    return list(session.scalars(select(Department).where(Department.school_id == actor.school_id)
                                .order_by(Department.id)))


def create_school_account(session: Session, actor: Actor, data: dict[str, Any]) -> Account:
    """ROLE-2: the province adds a school account for a school of its province, with its module permissions."""
    require_province(actor)
    school = session.get(School, data.get("school_id")) if isinstance(data.get("school_id"), int) else None
    if school is None or school.province_id != actor.province_id:
        raise _fail("school_id", "请选择本省的高校")
    username, name, password = data.get("username") or "", (data.get("display_name") or "").strip(), \
        data.get("password") or ""
    _check_new_account(session, username, name, password)
    perms = clean_permissions(data.get("permissions") or {})
    account = Account(username=username, display_name=name, role="school", school_id=school.id,
                      password_hash=hash_password(password), module_permissions=perms, active=True)
    session.add(account)
    session.flush()
    record(session, actor, "create_account", "account", account.id, None,
           {"username": username, "role": "school", "school_id": school.id, "permissions": perms})
    return account


def create_department_account(session: Session, actor: Actor, data: dict[str, Any]) -> Account:
    """ROLE-2: a school (basic read-write) adds an account for one of its departments, never above its own."""
    require_school(actor)
    _require_basic_write(actor)
    department = session.get(Department, data.get("department_id")) \
        if isinstance(data.get("department_id"), int) else None
    if department is None or department.school_id != actor.school_id:
        raise _fail("department_id", "请选择本校的院系")
    username, name, password = data.get("username") or "", (data.get("display_name") or "").strip(), \
        data.get("password") or ""
    _check_new_account(session, username, name, password)
    perms = clean_permissions(data.get("permissions") or {}, ceiling=actor.permissions or DEFAULT_PERMISSIONS)
    account = Account(username=username, display_name=name, role="department", school_id=actor.school_id,
                      department_id=department.id, password_hash=hash_password(password),
                      module_permissions=perms, active=True)
    session.add(account)
    session.flush()
    record(session, actor, "create_account", "account", account.id, None,
           {"username": username, "role": "department", "department_id": department.id, "permissions": perms})
    return account


def _require_basic_write(actor: Actor) -> None:
    if actor.role == SCHOOL and not POLICY.may_write_area(actor, BASIC):
        raise Conflict("你的账号对“基本信息和就业信息”没有读写权限，不能管理院系账号")


def _ceiling(session: Session, actor: Actor, account: Account) -> dict[str, str] | None:
    """What a department account may hold: at most the acting school account's own permissions."""
    return (actor.permissions or DEFAULT_PERMISSIONS) if account.role == "department" else None


def set_permissions(session: Session, actor: Actor, account_id: int, raw: Any) -> Account:
    """ROLE-2: a province sets a school account's permissions, a school its departments' (never above its own).
    Lowering a school account caps its school's department accounts at what the school's accounts still hold."""
    account = managed_account(session, actor, account_id)
    _require_basic_write(actor)
    before = permissions_of(account) or {}
    perms = clean_permissions(raw, ceiling=_ceiling(session, actor, account))
    if perms == before:
        return account
    account.module_permissions = perms
    session.flush()
    record(session, actor, "set_permissions", "account", account.id, {"permissions": before},
           {"permissions": perms})
    if account.role == "school" and account.school_id is not None:
        _cap_departments(session, actor, account.school_id)
    return account


def _cap_departments(session: Session, actor: Actor, school_id: int) -> None:
    schools = [permissions_of(a) or {} for a in session.scalars(select(Account).where(
        Account.role == "school", Account.school_id == school_id, Account.active))]
    ceiling = {area: max((p.get(area, NONE) for p in schools), key=RANK.__getitem__, default=NONE)
               for area in AREAS}
    for dept in session.scalars(select(Account).where(Account.role == "department", Account.school_id == school_id)):
        have = permissions_of(dept) or {}
        capped = {area: min(have[area], ceiling[area], key=RANK.__getitem__) for area in AREAS}
        if capped != have:
            dept.module_permissions = capped
            record(session, actor, "set_permissions", "account", dept.id, {"permissions": have},
                   {"permissions": capped}, reason="学校账号权限降低，院系账号权限随之降低")
    session.flush()


def set_active(session: Session, actor: Actor, account_id: int, active: bool) -> Account:
    """Disable (or enable again) an account; disabling ends its login sessions and revokes its API tokens."""
    account = managed_account(session, actor, account_id)
    _require_basic_write(actor)
    if account.active == active:
        return account
    account.active = active
    session.flush()
    if not active:
        end_sessions(session, account.id)
        session.execute(update(ApiToken).where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    record(session, actor, "enable_account" if active else "disable_account", "account", account.id,
           {"active": not active}, {"active": active})
    return account


def reset_password(session: Session, actor: Actor, account_id: int, password: str) -> Account:
    """A new password for a managed account; its sessions end and its tokens are revoked (never logged)."""
    account = managed_account(session, actor, account_id)
    _require_basic_write(actor)
    check_password(password)
    from domain.accounts import change_password

    change_password(session, account, password)
    record(session, actor, "reset_password", "account", account.id, None, None)
    return account


# -- the province's module switches (MOD-2, MOD-3) ---------------------------------------------------------
def province_of(session: Session, actor: Actor) -> Province:
    require_province(actor)
    province = session.get(Province, actor.province_id)
    if province is None:
        raise Forbidden("页面不存在或无权访问")
    return province


def province_json(province: Province) -> dict[str, Any]:
    return {"id": province.id, "code": province.code, "name": province.name,
            "enabled_modules": [m for m in MODULES if m in (province.enabled_modules or [])],
            "agreement_type": province.agreement_type}


def enable_module(session: Session, actor: Actor, module: str, agreement_type: str | None = None) -> Province:
    """MOD-2: the province enables one module for its schools; once enabled it cannot be disabled. Enabling
    毕业去向登记与网签 sets the e-agreement type (MOD-3: seed 002 §4 "即设置本省各高校电子就业协议书类型"), which
    is then fixed with it (design: every agreement of the province's season uses the same template)."""
    province = province_of(session, actor)
    if module not in MODULES:
        raise _fail("module", "请选择要开启的模块")
    enabled = list(province.enabled_modules or [])
    if module in enabled:
        raise Conflict(_("“%(MODULE_NAMES)s”模块已开启；模块一旦开启，不可再关闭", MODULE_NAMES=_(MODULE_NAMES[module])))
    before = province_json(province)
    if module == "destination":
        if agreement_type not in AGREEMENT_TYPES:
            raise _fail("agreement_type", "开启毕业去向登记与网签模块时请选择电子就业协议书类型（两方协议或三方协议）")
        province.agreement_type = agreement_type
    province.enabled_modules = [m for m in MODULES if m in enabled or m == module]
    session.flush()
    record(session, actor, "enable_module", "province", province.id, before, province_json(province))
    return province


def disable_module(session: Session, actor: Actor, module: str) -> None:
    """MOD-2: refused, always: the guide says once enabled a module cannot be closed again."""
    province = province_of(session, actor)
    if module in (province.enabled_modules or []):
        raise Conflict(_("“%(get)s”模块已开启，一旦开启不可再关闭", get=_(MODULE_NAMES.get(module, module))))
    raise _fail("module", "该模块尚未开启")


def set_agreement_type(session: Session, actor: Actor, agreement_type: str) -> Province:
    """MOD-3: chosen freely until the destination module is enabled, fixed after that."""
    province = province_of(session, actor)
    if agreement_type not in AGREEMENT_TYPES:
        raise _fail("agreement_type", "电子就业协议书类型只能是两方协议或三方协议")
    if "destination" in (province.enabled_modules or []):
        if agreement_type == province.agreement_type:
            return province
        raise Conflict("毕业去向登记与网签模块已开启，电子就业协议书类型随之确定，不可再更改")
    before = province_json(province)
    province.agreement_type = agreement_type
    session.flush()
    record(session, actor, "set_agreement_type", "province", province.id, before, province_json(province))
    return province


# -- the school's settings (MOD-4, MOD-6) -------------------------------------------------------------------
def school_of(session: Session, actor: Actor) -> School:
    require_school(actor)
    school = session.get(School, actor.school_id)
    if school is None:
        raise Forbidden("页面不存在或无权访问")
    return school


def school_json(school: School) -> dict[str, Any]:
    enabled = school.province.enabled_modules or []
    return {"id": school.id, "code": school.code, "name": school.name,
            "review_levels": school.review_levels, "agreement_type": school.province.agreement_type,
            "modules": [{"module": m, "name": MODULE_NAMES[m], "area": MODULE_AREA[m],
                         "enabled_by_province": m in enabled, "open": m in (school.open_modules or [])}
                        for m in MODULES]}


def open_school_module(session: Session, actor: Actor, module: str, review_levels: str | None = None) -> School:
    """MOD-4: after the province enabled the module, a school account with read-write on its area completes the
    school's settings (the review levels, MOD-6, confirmed with it); then the school's graduates may use it."""
    school = school_of(session, actor)
    if module not in MODULES:
        raise _fail("module", "请选择要设置的模块")
    if not POLICY.may_write_area(actor, MODULE_AREA[module]):
        raise Conflict(_("你的账号对“%(AREA_NAMES)s”没有读写权限，不能完成“%(MODULE_NAMES)s”的设置", AREA_NAMES=AREA_NAMES[MODULE_AREA[module]], MODULE_NAMES=_(MODULE_NAMES[module])))
    if module not in (school.province.enabled_modules or []):
        raise Conflict(_("省级主管部门尚未开启“%(MODULE_NAMES)s”模块，学校暂不能设置", MODULE_NAMES=_(MODULE_NAMES[module])))
    if module in (school.open_modules or []):
        raise Conflict(_("“%(MODULE_NAMES)s”模块已完成设置并开放给毕业生", MODULE_NAMES=_(MODULE_NAMES[module])))
    before = school_json(school)
    if review_levels is not None:
        _levels(review_levels)
        school.review_levels = review_levels
    school.open_modules = [m for m in MODULES if m in (school.open_modules or []) or m == module]
    session.flush()
    record(session, actor, "open_module", "school", school.id, before, school_json(school))
    return school


def _levels(review_levels: str) -> None:
    if review_levels not in REVIEW_LEVELS:
        raise _fail("review_levels", "审核方式只能是院系及学校审核或仅学校审核")


def set_review_levels(session: Session, actor: Actor, review_levels: str) -> School:
    """MOD-6: department-then-school or school-only review; applies to applications started after the change
    (each start copies School.review_levels into its instance)."""
    school = school_of(session, actor)
    _levels(review_levels)
    if not POLICY.may_write_area(actor, BASIC):
        raise Conflict("你的账号对“基本信息和就业信息”没有读写权限，不能修改审核方式")
    if school.review_levels == review_levels:
        return school
    before = school_json(school)
    school.review_levels = review_levels
    session.flush()
    record(session, actor, "set_review_levels", "school", school.id, before, school_json(school))
    return school

