"""Hukou information through /api/v1: the graduate's 户口信息栏, start a registration or a change, resubmit
after a withdrawal; the school's direct registration (HUK-1 as ARC-7). Bodies are validated by the page forms.
Only graduates whose 户口是否转入学校 is 是 may register (MOD-5): others get 409 with the reason."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request

from core.errors import Forbidden, ValidationFailed
from core.timefmt import iso
from domain import transfers
from domain.access import POLICY
from domain.graduate_info import current_info
from domain.models import Graduate, RegisteredInfo
from domain.transfers import HUKOU_KIND as KIND
from engine.models import ProcessInstance, WorkItem
from forms.describe import describe
from webapp.api.base import api_blueprint, body, step_response
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, log_refusal, run_step

from . import services
from .forms import HukouFieldsForm, HukouForm
from .pages import origin_json

bp = api_blueprint("hukou_api", __name__)


def _valid(data: dict[str, Any], form_cls: type[HukouFieldsForm] = HukouForm) -> HukouFieldsForm:
    form = form_cls.from_json(data)
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    return form


def _graduate_actor():
    actor = current_actor()
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生本人可以办理户口信息登记")
    return actor


def _starter(action: str) -> Callable[[dict[str, Any]], Any]:
    def api_start(data: dict[str, Any]):
        clean = _valid(data).clean()
        actor = _graduate_actor()
        inst = run_step(lambda db: services.start(db, g.runtime.runner, actor, db.get(Graduate, actor.graduate_id),
                                                  action, clean))
        return step_response(inst, 201)

    return api_start


start_registration = _starter(transfers.REGISTRATION)
start_change = _starter(transfers.CHANGE)


def complete(item: WorkItem, data: dict[str, Any]):
    clean = _valid(data).clean()
    actor = _graduate_actor()
    return run_step(lambda db: services.resubmit(db, g.runtime.runner, actor, db.get(Graduate, actor.graduate_id),
                                                 item.id, clean))


def fields() -> list[dict[str, Any]]:
    return describe(HukouForm)


def info_json(info: RegisteredInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"id": info.id, "fields": info.fields, "source": info.source,
            "source_name": transfers.SOURCE_NAMES.get(info.source, info.source), "registered_at": iso(info.created_at)}


@bp.route("/hukou")
def summary():
    """户口信息栏: the valid record (any source), the open application, and what may be started now."""
    actor = _graduate_actor()
    graduate = g.db.get(Graduate, actor.graduate_id)
    opened = transfers.open_application(g.db, graduate.id, KIND)
    instance = g.db.get(ProcessInstance, opened.instance_id) if opened else None
    origin = origin_json(graduate)
    return jsonify(
        closed_reason=transfers.closed_reason(graduate, KIND),
        info=info_json(current_info(g.db, graduate.id, KIND.code)),
        open_application={"instance_id": instance.id, "title": instance.title,
                          "status_label": instance.status_label} if instance else None,
        offered={"registration": services.REGISTRATION_ID, "change": services.CHANGE_ID}.get(
            transfers.offered_action(g.db, graduate, KIND) or ""),
        origin={k: origin[k] for k in ("code", "codes", "name", "province")} if origin else None,  # ARC-3
        types=list(transfers.TRANSFER_TYPES), proofs=transfers.PROOFS,
    )


def _school_graduate(graduate_id: int) -> Graduate:
    try:
        return transfers.school_graduate(g.db, current_actor(), graduate_id)
    except Forbidden:
        log_refusal(f"api school graduate {graduate_id} out of scope")
        raise


@bp.route("/school/graduates/<int:graduate_id>/hukou", methods=["GET", "POST"])
def school_hukou(graduate_id: int):
    """HUK-1 as ARC-7: the school reads or registers a graduate's hukou info directly (valid at once, no review)."""
    graduate = _school_graduate(graduate_id)
    if request.method == "GET":
        return jsonify(graduate_id=graduate.id, info=info_json(current_info(g.db, graduate.id, KIND.code)))
    clean = _valid(body(), HukouFieldsForm).clean()
    actor = current_actor()
    info = run_step(lambda db: transfers.register_by_school(db, actor, graduate_id, KIND, clean))
    return jsonify(graduate_id=graduate_id, info=info_json(info)), 201


def _str(max_length: int | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", **kw}
    if max_length:
        out["maxLength"] = max_length
    return out


FIELDS_PROPERTIES: dict[str, Any] = {
    "hukou_type": _str(enum=list(transfers.TRANSFER_TYPES), description="户口迁移类型（HUK-1）"),
    "division_code": _str(pattern="^[0-9]{6}$", description="户口迁移地址：省/市/区的行政区划代码（区县一级）；"
                          "转回生源地时省级须与生源所在地相同（ARC-3）"),
    "hukou_address": _str(200, description="户口迁移详细地址"),
    "note": _str(200, description="情况说明（200字以内）"),
}
REQUIRED = ["hukou_type", "division_code", "hukou_address"]
HUKOU_SCHEMA: dict[str, Any] = {
    "type": "object", "required": REQUIRED,
    "description": "户口信息登记 / 户口信息修改（HUK-1），仅户口已转入学校的毕业生（MOD-5）。除转回生源地外须上传证明材料："
                   "先 POST /attachments，再填 attachment_ids",
    "properties": {**FIELDS_PROPERTIES,
                   "attachment_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
}
SCHOOL_SCHEMA: dict[str, Any] = {"type": "object", "required": REQUIRED, "properties": FIELDS_PROPERTIES,
                                 "description": "学校直接登记毕业生户口信息（HUK-1 同 ARC-7），无需证明材料与审核"}
SCHEMAS = {"HukouInfo": HUKOU_SCHEMA, "HukouInfoBySchool": SCHOOL_SCHEMA}
PATHS = {
    "/hukou": {"get": _op("毕业生的户口信息栏：有效的户口信息（任一来源）、办理中的申请、可发起的流程；"
                          "户口未转入学校时 closed_reason 说明原因（HUK-1, MOD-5）")},
    "/school/graduates/{graduate_id}/hukou": {
        "get": _op("学校读取本校毕业生的户口信息", params=[_id("graduate_id")]),
        "post": _op("学校直接登记本校毕业生的户口信息，立即生效（HUK-1 同 ARC-7；仅户口已转入学校的毕业生）",
                    body="HukouInfoBySchool", ok="201", params=[_id("graduate_id")]),
    },
}
