"""去向登记确认 through /api/v1: the state, confirm, report an error, revoke — bodies validated by the page's
form — and, for reviewers, a graduate's confirmation state in their scope."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from core.errors import Conflict, Forbidden, ValidationFailed
from core.timefmt import iso
from domain.access import POLICY
from domain.graduate_info import PARTS
from domain.models import Graduate
from webapp.api.base import api_blueprint, body
from webapp.api.openapi import _id, _op, _str
from webapp.session import current_actor, log_refusal, run_step

from . import services
from .forms import ConfirmationForm

bp = api_blueprint("confirmation_api", __name__)


def _own_graduate() -> Graduate:
    actor = current_actor()
    graduate = g.db.get(Graduate, actor.graduate_id) if POLICY.is_graduate(actor) else None
    if graduate is None:
        log_refusal("confirmation: not a graduate")
        raise Forbidden("只有毕业生本人可以进行去向登记确认")
    return graduate


def _optional_body() -> dict[str, Any]:
    """confirm and revoke need no body; one that is sent must still be a JSON object."""
    return body() if request.get_data() else {}


def _valid(data: dict[str, Any], choice: str, graduate: Graduate) -> dict[str, Any]:
    snap = services.snapshot(g.db, graduate)
    if snap.destination is None:
        raise Conflict(services.NOT_AVAILABLE)  # CNF-1, before what the body says
    form = ConfirmationForm.from_json({**data, "choice": choice}, available=snap.parts())
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    return form.clean()


def state_json(graduate: Graduate) -> dict[str, Any]:
    st = services.state(g.db, graduate)
    snap: services.Snapshot = st["snapshot"]
    row = st["row"]
    return {
        "graduate_id": graduate.id, "status": st["status"], "status_label": st["status_label"],
        "available": st["available"], "reason": st["reason"], "confirmed_at": iso(st["confirmed_at"]),
        "changed_parts": st["changed_parts"],
        "error_parts": dict(row.error_parts or {}) if row is not None and st["status"] == "error_reported" else {},
        "error_mobile": st["error_mobile"], "missing_updates": st["missing_updates"],
        "parts": list(snap.parts()), "hukou_needed": snap.hukou_needed,
        "info": {part: (section.as_json() if section is not None else None) for part, section in
                 (("destination", snap.destination), ("archive", snap.archive), ("hukou", snap.hukou))},
        "info_version": snap.version,
        "may_confirm": st["may_confirm"], "may_report_error": st["may_report_error"], "may_revoke": st["may_revoke"],
    }


def _after_step(graduate_id: int):
    g.db.expire_all()
    return jsonify(state_json(g.db.get(Graduate, graduate_id)))


@bp.route("/me/confirmation")
def get_state():
    """CNF-1 / CNF-2 / CNF-5: what the graduate confirms, and what they may do now."""
    return jsonify(state_json(_own_graduate()))


@bp.route("/me/confirmation/confirm", methods=["POST"])
def confirm():
    graduate = _own_graduate()
    clean = _valid(_optional_body(), "confirm", graduate)
    actor = current_actor()
    run_step(lambda db: services.confirm(db, actor, graduate.id, clean["info_version"]))
    return _after_step(graduate.id)


@bp.route("/me/confirmation/report-error", methods=["POST"])
def report_error():
    graduate = _own_graduate()
    clean = _valid(body(), "error", graduate)
    actor = current_actor()
    run_step(lambda db: services.report_error(db, actor, graduate.id, clean))
    return _after_step(graduate.id)


@bp.route("/me/confirmation/revoke", methods=["POST"])
def revoke():
    graduate = _own_graduate()
    _optional_body()
    actor = current_actor()
    run_step(lambda db: services.revoke(db, actor, graduate.id))
    return _after_step(graduate.id)


@bp.route("/graduates/<int:graduate_id>/confirmation")
def graduate_state(graduate_id: int):
    """A reviewer (院系 / 学校) reads the confirmation state of a graduate in their scope (ROLE-1)."""
    actor = current_actor()
    graduate = g.db.get(Graduate, graduate_id)
    if graduate is None or not POLICY.may_see_graduate(actor, graduate):
        log_refusal(f"confirmation of graduate {graduate_id} out of scope")
        raise Forbidden("毕业生不存在或无权访问")
    out = state_json(graduate)
    for key in ("may_confirm", "may_report_error", "may_revoke"):  # the graduate's own acts
        out.pop(key)
    return jsonify(out)


# -- OpenAPI ----------------------------------------------------------------------------------------
_PART = _str(enum=list(PARTS), description="destination 毕业去向信息 / archive 档案转递信息 / hukou 户口迁移信息")
_EXPLANATION = _str(services.MAX_EXPLANATION, description="情况说明：勾选该项时必填")
SCHEMAS: dict[str, Any] = {
    "ConfirmationConfirm": {"type": "object", "description": "可为空对象（或不带请求体）", "properties": {
        "info_version": _str(64, description="GET /me/confirmation 返回的 info_version；给出时，信息若已更新则 409")}},
    "ConfirmationErrorReport": {
        "type": "object", "required": ["parts", "mobile"],
        "description": "信息有误，需更新后确认（CNF-3）：只能勾选已有的信息（见 GET 的 parts），每项必须说明",
        "properties": {
            "parts": {"type": "array", "items": _PART, "minItems": 1, "uniqueItems": True},
            "destination_kind": _str(enum=list(services.DESTINATION_KINDS),
                                     description="勾选 destination 时必填：changed 有变化 / wrong 有错误"),
            "destination_explanation": _EXPLANATION, "archive_explanation": _EXPLANATION,
            "hukou_explanation": _EXPLANATION,
            "mobile": _str(pattern="^1[3-9][0-9]{9}$", description="联系方式：手机号码"),
        }},
    "ConfirmationState": {"type": "object", "properties": {
        "status": _str(enum=list(services.STATUS_LABELS)), "status_label": _str(),
        "available": {"type": "boolean", "description": "已有生效的毕业去向（CNF-1）"},
        "reason": _str(description="不可确认的原因"), "confirmed_at": _str(format="date-time", nullable=True),
        "changed_parts": {"type": "array", "items": _PART, "description": "上次确认（或报告有误）后有变化的信息"},
        "error_parts": {"type": "object", "additionalProperties": {"type": "string"}},
        "error_mobile": _str(nullable=True), "missing_updates": {"type": "array", "items": _PART},
        "parts": {"type": "array", "items": _PART, "description": "可勾选为有误的信息"},
        "info": {"type": "object", "description": "destination / archive / hukou：rows 与上报时间 reported_at"},
        "info_version": _str(), "may_confirm": {"type": "boolean"}, "may_report_error": {"type": "boolean"},
        "may_revoke": {"type": "boolean"}}},
}
def _state_op(summary: str, **kw: Any) -> dict[str, Any]:
    op = _op(summary, **kw)
    op["responses"]["200"]["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/ConfirmationState"}
    if "requestBody" in op:
        op["requestBody"]["required"] = kw.get("body") != "ConfirmationConfirm"
    return op


PATHS: dict[str, Any] = {
    "/me/confirmation": {"get": _state_op("去向登记确认：待确认的信息与确认状态（CNF-1、CNF-2、CNF-5）")},
    "/me/confirmation/confirm": {"post": _state_op("信息无误，确认登记去向（CNF-2、CNF-5）", body="ConfirmationConfirm")},
    "/me/confirmation/report-error": {"post": _state_op("信息有误，需更新后确认（CNF-3）",
                                                        body="ConfirmationErrorReport")},
    "/me/confirmation/revoke": {"post": _state_op("实际信息无误，撤销确认（CNF-4）")},
    "/graduates/{graduate_id}/confirmation": {"get": _state_op("院系、学校查看本范围内毕业生的去向登记确认状态",
                                                               params=[_id("graduate_id")])},
}
