"""Pages of the province (首页, 账号管理, 功能设置; seed 002 §2-4) and of the school (功能设置, 院系账号).

Bodies are read into plain dicts and validated by the services, the same as the API's JSON; a refused change
answers 422 (or 409) with the reason and changes nothing.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import Conflict, EngineError, Forbidden, ValidationFailed
from domain.access import (
    AREA_NAMES,
    AREAS,
    BASIC,
    DEFAULT_PERMISSIONS,
    MODULE_AREA,
    PERMISSION_NAMES,
    POLICY,
    PROVINCE,
    SCHOOL,
    permissions_of,
)
from domain.models import Account, Department, School
from domain.schools import MODULE_NAMES
from forms.base import ActionForm
from webapp.session import check_area, current_actor, log_refusal, role_required, run_step

from . import services

bp = Blueprint("schools", __name__, template_folder="templates")
province = role_required("province")
school = role_required("school")
staff = role_required("province", "school")


def _int(raw: Any) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def form_permissions() -> dict[str, str]:
    return {area: request.form.get(f"perm-{area}", DEFAULT_PERMISSIONS[area]) for area in AREAS}


def _checked_post() -> None:
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")


def _common() -> dict[str, Any]:
    return {"area_names": AREA_NAMES, "permission_names": PERMISSION_NAMES, "areas": AREAS,
            "module_names": MODULE_NAMES, "agreement_types": services.AGREEMENT_TYPES,
            "review_levels": services.REVIEW_LEVELS, "change_names": services.CHANGE_NAMES}


def _refused(exc: EngineError) -> int:
    return exc.status if isinstance(exc, (ValidationFailed, Conflict)) else 422


# -- the province -------------------------------------------------------------------------------------------
@bp.route("/province")
@province
def province_home():
    """首页: the welcome and the way to 功能设置 (seed 002 §2, 图 3)."""
    actor = current_actor()
    prov = services.province_of(g.db, actor)
    schools = services.province_schools(g.db, actor)
    return render_template("schools/province_home.html", province=prov, schools=schools,
                           enabled=services.province_json(prov)["enabled_modules"], **_common())


@bp.route("/province/settings", methods=["GET", "POST"])
@province
def province_settings():
    """功能设置: enable each module for the province's schools (one way, MOD-2) and the agreement type (MOD-3)."""
    actor = current_actor()
    error, status = None, 200
    if request.method == "POST":
        _checked_post()
        module = request.form.get("module", "")
        agreement_type = request.form.get("agreement_type") or None
        try:
            run_step(lambda db: services.enable_module(db, actor, module, agreement_type))
        except (ValidationFailed, Conflict) as exc:
            error, status = _(exc.message), _refused(exc)
        else:
            flash(_("已开启“%(MODULE_NAMES)s”模块，本省高校完成设置后毕业生即可使用", MODULE_NAMES=_(MODULE_NAMES[module])))
            return redirect(url_for("schools.province_settings"))
    prov = services.province_of(g.db, actor)
    schools = services.province_schools(g.db, actor)
    return render_template("schools/province_settings.html", province=prov, schools=schools, error=error,
                           enabled=services.province_json(prov)["enabled_modules"],
                           changes=services.changes(g.db, "province", prov.id, 20), **_common()), status


def _create_account(actor, create, scope_field: str, kind: str):
    """POST of a new school or department account: (redirect, None, 200) on success, else (None, error, status)."""
    _checked_post()
    data = {"username": request.form.get("username", "").strip(),
            "display_name": request.form.get("display_name", ""), "password": request.form.get("password", ""),
            scope_field: _int(request.form.get(scope_field)), "permissions": form_permissions()}
    try:
        account = run_step(lambda db: create(db, actor, data))
    except (ValidationFailed, Conflict) as exc:
        return None, _(exc.message), _refused(exc)
    flash(_("已新增%(kind)s账号 %(username)s", kind=kind, username=account.username))
    return redirect(url_for("schools.account", account_id=account.id)), None, 200


@bp.route("/province/accounts", methods=["GET", "POST"])
@province
def province_accounts():
    """账号管理: the province's school accounts, and a new one with its module permissions (ROLE-2)."""
    actor = current_actor()
    error, status = None, 200
    if request.method == "POST":
        created, error, status = _create_account(actor, services.create_school_account, "school_id", _("学校"))
        if created is not None:
            return created
    school_id = _int(request.args.get("school_id"))
    schools = services.province_schools(g.db, actor)
    return render_template("schools/accounts.html", accounts=services.school_accounts(g.db, actor, school_id),
                           schools={s.id: s for s in schools}, school_id=school_id, error=error, kind="school",
                           form=request.form if error else {}, ceiling=None, may_write=True,
                           **_common()), status


# -- the school -----------------------------------------------------------------------------------------------
@bp.route("/school/settings", methods=["GET", "POST"])
@school
def school_settings():
    """功能设置 of the school: complete a module's settings once the province enabled it (MOD-4), review levels
    (MOD-6). Each module needs read-write on its area."""
    actor = current_actor()
    error, status = None, 200
    if request.method == "POST":
        _checked_post()
        what = request.form.get("what", "")
        module = request.form.get("module", "")
        levels = request.form.get("review_levels") or None
        check_area(MODULE_AREA.get(module, BASIC) if what == "module" else BASIC, write=True)
        try:
            if what == "module":
                run_step(lambda db: services.open_school_module(db, actor, module, levels))
                message = _("“%(MODULE_NAMES)s”已完成设置，本校毕业生现在可以使用", MODULE_NAMES=_(MODULE_NAMES[module]))
            else:
                run_step(lambda db: services.set_review_levels(db, actor, levels or ""))
                message = _("审核方式已保存，此后提交的申请按新的审核方式办理")
        except (ValidationFailed, Conflict) as exc:
            error, status = _(exc.message), _refused(exc)
        else:
            flash(message)
            return redirect(url_for("schools.school_settings"))
    sch = services.school_of(g.db, actor)
    writable = {m: POLICY.may_write_area(actor, MODULE_AREA[m]) for m in services.MODULES}
    return render_template("schools/school_settings.html", school=sch, info=services.school_json(sch),
                           error=error, writable=writable, basic_write=POLICY.may_write_area(actor, BASIC),
                           changes=services.changes(g.db, "school", sch.id, 20), **_common()), status


@bp.route("/school/accounts", methods=["GET", "POST"])
@school
def school_accounts():
    """院系账号: the school's department accounts (read: 基本信息和就业信息 read-only or more; change: read-write)."""
    actor = current_actor()
    check_area(BASIC, write=request.method == "POST")
    error, status = None, 200
    if request.method == "POST":
        created, error, status = _create_account(actor, services.create_department_account, "department_id", _("院系"))
        if created is not None:
            return created
    departments = services.school_departments(g.db, actor)
    return render_template("schools/accounts.html", accounts=services.department_accounts(g.db, actor),
                           departments={d.id: d for d in departments}, error=error, kind="department",
                           form=request.form if error else {}, ceiling=actor.permissions,
                           may_write=POLICY.may_write_area(actor, BASIC), **_common()), status


# -- one account (the province's school accounts, the school's department accounts) ----------------------------
def _visible_account(account_id: int) -> Account:
    """The account if the actor manages it (a read-only school may look at its departments' accounts)."""
    actor = current_actor()
    account = g.db.get(Account, account_id)
    visible = account is not None and (
        POLICY.may_manage_account(g.db, actor, account)
        or (actor.role == SCHOOL and account.role == "department" and account.school_id == actor.school_id))
    if not visible:
        log_refusal(f"account {account_id} out of scope")
        raise Forbidden(services.NOT_FOUND)
    return account


def _school_area(write: bool) -> None:
    if current_actor().role == SCHOOL:
        check_area(BASIC, write=write)


@bp.route("/accounts/<int:account_id>")
@staff
def account(account_id: int):
    _school_area(False)
    acc = _visible_account(account_id)
    return _account_page(acc)


def _account_page(acc: Account, error: str | None = None, status: int = 200):
    actor = current_actor()
    ceiling = actor.permissions if acc.role == "department" else None
    owner: School | Department | None = g.db.get(Department, acc.department_id) if acc.department_id \
        else g.db.get(School, acc.school_id) if acc.school_id else None
    return render_template("schools/account.html", account=acc, owner=owner, error=error, ceiling=ceiling,
                           permissions=permissions_of(acc) or {},
                           may_write=actor.role == PROVINCE or POLICY.may_write_area(actor, BASIC),
                           changes=services.changes(g.db, "account", acc.id, 30), **_common()), status


@bp.route("/accounts/<int:account_id>/<any(permissions, disable, enable, password):what>", methods=["POST"])
@staff
def account_change(account_id: int, what: str):
    """Set the permissions, disable or enable, or reset the password of one managed account (ROLE-2)."""
    actor = current_actor()
    _school_area(True)
    _checked_post()
    acc = _visible_account(account_id)
    try:
        if what == "permissions":
            perms = form_permissions()
            run_step(lambda db: services.set_permissions(db, actor, account_id, perms))
            message = _("模块管理权限已保存")
        elif what in ("disable", "enable"):
            run_step(lambda db: services.set_active(db, actor, account_id, what == "enable"))
            message = _("账号已停用，其登录和访问令牌已全部失效") if what == "disable" else _("账号已启用")
        else:
            password = request.form.get("password", "")
            run_step(lambda db: services.reset_password(db, actor, account_id, password))
            message = _("密码已重置，该账号需用新密码重新登录")
    except (ValidationFailed, Conflict) as exc:
        g.db.rollback()
        return _account_page(g.db.get(Account, acc.id), _(exc.message), _refused(exc))
    flash(message)
    return redirect(url_for("schools.account", account_id=account_id))
