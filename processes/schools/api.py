"""/api/v1 for accounts and permissions (ROLE-2) and module settings (MOD-2..4, MOD-6): the same services as the
pages, the same refusals (404 outside scope or without the area, 403 read-only, 409 a refused change, 422 bad
input; nothing changes on a refusal)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from core.errors import Forbidden
from domain.access import AREAS, BASIC, MODULE_AREA, POLICY, PROVINCE, SCHOOL
from domain.models import Account
from webapp.api.base import api_blueprint, body
from webapp.api.openapi import _id, _op
from webapp.session import check_area, current_actor, log_refusal, run_step

from . import services

bp = api_blueprint("schools_api", __name__)


def _role(*roles: str) -> Any:
    actor = current_actor()
    if actor.role not in roles:
        log_refusal(f"api {request.path} role {actor.role}")
        raise Forbidden("资源不存在或无权访问")
    return actor


def _int_or_none(value: Any) -> int | None:
    # school and department ids are 32-bit: a larger number names no record, and binding it fails in the
    # database (PostgreSQL "integer out of range", SQLite OverflowError) with a 500
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 31 else None


# -- the province ------------------------------------------------------------------------------------------
@bp.route("/province/settings")
def province_settings():
    actor = _role(PROVINCE)
    prov = services.province_of(g.db, actor)
    return jsonify(province=services.province_json(prov),
                   schools=[services.school_json(s) for s in services.province_schools(g.db, actor)])


@bp.route("/province/modules", methods=["POST"])
def enable_module():
    actor = _role(PROVINCE)
    data = body()
    module, agreement_type = str(data.get("module") or ""), data.get("agreement_type")
    prov = run_step(lambda db: services.enable_module(db, actor, module, agreement_type))
    return jsonify(province=services.province_json(prov))


@bp.route("/province/modules/<module>", methods=["DELETE"])
def disable_module(module: str):
    actor = _role(PROVINCE)
    run_step(lambda db: services.disable_module(db, actor, module[:20]))
    return jsonify(), 204  # never reached: MOD-2 refuses


@bp.route("/province/agreement-type", methods=["PUT"])
def set_agreement_type():
    actor = _role(PROVINCE)
    value = str(body().get("agreement_type") or "")
    prov = run_step(lambda db: services.set_agreement_type(db, actor, value))
    return jsonify(province=services.province_json(prov))


@bp.route("/province/accounts")
def province_accounts():
    actor = _role(PROVINCE)
    school_id = request.args.get("school_id", "")
    rows = services.school_accounts(g.db, actor, int(school_id) if school_id.isdigit() and len(school_id) < 10
                                    else None)
    return jsonify(items=[services.account_json(a) for a in rows])


@bp.route("/province/accounts", methods=["POST"])
def create_school_account():
    actor = _role(PROVINCE)
    data = body()
    clean = {**data, "school_id": _int_or_none(data.get("school_id")),
             "username": str(data.get("username") or "").strip(), "password": str(data.get("password") or ""),
             "display_name": str(data.get("display_name") or "")}
    account = run_step(lambda db: services.create_school_account(db, actor, clean))
    return jsonify(services.account_json(account)), 201


# -- the school ---------------------------------------------------------------------------------------------
@bp.route("/school/settings")
def school_settings():
    actor = _role(SCHOOL)
    return jsonify(school=services.school_json(services.school_of(g.db, actor)))


@bp.route("/school/modules", methods=["POST"])
def open_school_module():
    actor = _role(SCHOOL)
    data = body()
    module = str(data.get("module") or "")
    levels = data.get("review_levels")
    check_area(MODULE_AREA.get(module, BASIC), write=True)
    school = run_step(lambda db: services.open_school_module(db, actor, module,
                                                             str(levels) if levels is not None else None))
    return jsonify(school=services.school_json(school))


@bp.route("/school/review-levels", methods=["PUT"])
def set_review_levels():
    actor = _role(SCHOOL)
    check_area(BASIC, write=True)
    value = str(body().get("review_levels") or "")
    school = run_step(lambda db: services.set_review_levels(db, actor, value))
    return jsonify(school=services.school_json(school))


@bp.route("/school/accounts")
def school_accounts():
    actor = _role(SCHOOL)
    check_area(BASIC)
    return jsonify(items=[services.account_json(a) for a in services.department_accounts(g.db, actor)])


@bp.route("/school/accounts", methods=["POST"])
def create_department_account():
    actor = _role(SCHOOL)
    check_area(BASIC, write=True)
    data = body()
    clean = {**data, "department_id": _int_or_none(data.get("department_id")),
             "username": str(data.get("username") or "").strip(), "password": str(data.get("password") or ""),
             "display_name": str(data.get("display_name") or "")}
    account = run_step(lambda db: services.create_department_account(db, actor, clean))
    return jsonify(services.account_json(account)), 201


# -- one account --------------------------------------------------------------------------------------------
def _account(account_id: int, write: bool) -> Account:
    actor = _role(PROVINCE, SCHOOL)
    if actor.role == SCHOOL:
        check_area(BASIC, write=write)
    account = g.db.get(Account, account_id)
    visible = account is not None and (
        POLICY.may_manage_account(g.db, actor, account)
        or (actor.role == SCHOOL and account.role == "department" and account.school_id == actor.school_id))
    if not visible:
        log_refusal(f"api account {account_id} out of scope")
        raise Forbidden(services.NOT_FOUND)
    return account


@bp.route("/accounts/<int:account_id>")
def get_account(account_id: int):
    account = _account(account_id, False)
    return jsonify(account=services.account_json(account),
                   changes=[services.change_json(c) for c in services.changes(g.db, "account", account.id)])


@bp.route("/accounts/<int:account_id>/permissions", methods=["PUT"])
def set_permissions(account_id: int):
    _account(account_id, True)
    actor = current_actor()
    perms = body().get("permissions")
    account = run_step(lambda db: services.set_permissions(db, actor, account_id, perms))
    return jsonify(account=services.account_json(account))


def _set_active(account_id: int, active: bool):
    _account(account_id, True)
    actor = current_actor()
    account = run_step(lambda db: services.set_active(db, actor, account_id, active))
    return jsonify(account=services.account_json(account))


@bp.route("/accounts/<int:account_id>/disable", methods=["POST"])
def disable_account(account_id: int):
    return _set_active(account_id, False)


@bp.route("/accounts/<int:account_id>/enable", methods=["POST"])
def enable_account(account_id: int):
    return _set_active(account_id, True)


@bp.route("/accounts/<int:account_id>/password", methods=["POST"])
def reset_password(account_id: int):
    _account(account_id, True)
    actor = current_actor()
    password = str(body().get("password") or "")
    account = run_step(lambda db: services.reset_password(db, actor, account_id, password))
    return jsonify(account=services.account_json(account))


# -- OpenAPI ------------------------------------------------------------------------------------------------
PERMISSIONS_SCHEMA = {"type": "object", "description": "ROLE-2：每个管理模块 rw 读写 / ro 只读 / none 无权限；"
                                                       "未给出的模块取默认值（basic 读写，archive、hukou 无权限）",
                      "properties": {area: {"type": "string", "enum": ["rw", "ro", "none"]} for area in AREAS}}
ACCOUNT_BODY = {"username": {"type": "string", "maxLength": 50, "description": "3-50位字母、数字或 _ . -，唯一"},
                "display_name": {"type": "string", "maxLength": 100},
                "password": {"type": "string", "minLength": 8, "maxLength": 128, "description": "至少8位，含字母和数字"},
                "permissions": {"$ref": "#/components/schemas/ModulePermissions"}}
SCHEMAS: dict[str, Any] = {
    "ModulePermissions": PERMISSIONS_SCHEMA,
    "SchoolAccountNew": {"type": "object", "required": ["school_id", "username", "display_name", "password"],
                         "properties": {"school_id": {"type": "integer", "description": "本省高校"}, **ACCOUNT_BODY}},
    "DepartmentAccountNew": {"type": "object", "required": ["department_id", "username", "display_name", "password"],
                             "properties": {"department_id": {"type": "integer", "description": "本校院系"},
                                            **ACCOUNT_BODY}},
    "ModuleEnable": {"type": "object", "required": ["module"], "properties": {
        "module": {"type": "string", "enum": list(services.MODULES)},
        "agreement_type": {"type": "string", "enum": list(services.AGREEMENT_TYPES),
                           "description": "开启 destination 时必填（MOD-3），开启后不可更改"}}},
    "SchoolModuleOpen": {"type": "object", "required": ["module"], "properties": {
        "module": {"type": "string", "enum": list(services.MODULES)},
        "review_levels": {"type": "string", "enum": list(services.REVIEW_LEVELS)}}},
    "ReviewLevels": {"type": "object", "required": ["review_levels"], "properties": {
        "review_levels": {"type": "string", "enum": list(services.REVIEW_LEVELS)}}},
    "AgreementType": {"type": "object", "required": ["agreement_type"], "properties": {
        "agreement_type": {"type": "string", "enum": list(services.AGREEMENT_TYPES)}}},
    "PermissionsBody": {"type": "object", "required": ["permissions"], "properties": {
        "permissions": {"$ref": "#/components/schemas/ModulePermissions"}}},
    "PasswordBody": {"type": "object", "required": ["password"], "properties": {
        "password": {"type": "string", "minLength": 8, "maxLength": 128}}},
}
_ACCOUNT = [_id("account_id")]
PATHS: dict[str, Any] = {
    "/province/settings": {"get": _op("省级用户：本省模块开启情况、电子就业协议书类型和各高校的设置情况（MOD-2..4）")},
    "/province/modules": {"post": _op("省级用户开启一个模块（MOD-2，一旦开启不可关闭；开启毕业去向登记与网签时选择协议类型，MOD-3）",
                                      body="ModuleEnable")},
    "/province/modules/{module}": {"delete": _op("关闭模块：总是拒绝（409，MOD-2 模块一旦开启不可关闭）",
                                                 params=[{"name": "module", "in": "path", "required": True,
                                                          "schema": {"type": "string"}}])},
    "/province/agreement-type": {"put": _op("设置电子就业协议书类型（MOD-3；毕业去向登记与网签开启后不可更改，409）",
                                            body="AgreementType")},
    "/province/accounts": {
        "get": _op("省级用户：本省高校的学校账号及其模块管理权限（可按 school_id 筛选）"),
        "post": _op("省级用户新增学校账号并设置模块管理权限（ROLE-2）", body="SchoolAccountNew", ok="201"),
    },
    "/school/settings": {"get": _op("学校：各模块的省级开启情况、本校设置情况、审核方式（MOD-4, MOD-6）")},
    "/school/modules": {"post": _op("学校完成一个模块的设置并向毕业生开放（MOD-4；需该模块读写权限，只读 403）",
                                    body="SchoolModuleOpen")},
    "/school/review-levels": {"put": _op("学校修改审核方式（MOD-6；此后发起的申请生效）", body="ReviewLevels")},
    "/school/accounts": {
        "get": _op("学校：本校院系账号（基本信息和就业信息只读及以上）"),
        "post": _op("学校新增院系账号（权限不高于学校账号自己的权限，ROLE-2）", body="DepartmentAccountNew", ok="201"),
    },
    "/accounts/{account_id}": {"get": _op("一个所管理的账号及其变更记录", params=_ACCOUNT)},
    "/accounts/{account_id}/permissions": {"put": _op("设置账号的模块管理权限（ROLE-2）", body="PermissionsBody",
                                                      params=_ACCOUNT)},
    "/accounts/{account_id}/disable": {"post": _op("停用账号：其登录会话结束、访问令牌作废", params=_ACCOUNT)},
    "/accounts/{account_id}/enable": {"post": _op("重新启用账号", params=_ACCOUNT)},
    "/accounts/{account_id}/password": {"post": _op("重置账号密码（会话结束、令牌作废）", body="PasswordBody",
                                                    params=_ACCOUNT)},
}
