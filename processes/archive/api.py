"""Archive information through /api/v1: the graduate's 档案信息栏, start a registration or a change, resubmit
after a withdrawal; the school's direct registration (ARC-7) and deletion of basic info (GRAD-5).
Bodies are validated by the page forms."""
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
from domain.transfers import ARCHIVE_KIND as KIND
from engine.models import ProcessInstance, WorkItem
from forms.describe import describe
from webapp.api.base import api_blueprint, body, step_response
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, log_refusal, run_step

from . import services
from .forms import ArchiveFieldsForm, ArchiveForm
from .pages import origin_json

bp = api_blueprint("archive_api", __name__)


def _valid(data: dict[str, Any], form_cls: type[ArchiveFieldsForm] = ArchiveForm) -> ArchiveFieldsForm:
    form = form_cls.from_json(data)
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    return form


def _graduate_actor():
    actor = current_actor()
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生本人可以办理档案信息登记")
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
    return describe(ArchiveForm)


def info_json(info: RegisteredInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"id": info.id, "fields": info.fields, "source": info.source,
            "source_name": transfers.SOURCE_NAMES.get(info.source, info.source), "registered_at": iso(info.created_at)}


@bp.route("/archive")
def summary():
    """档案信息栏: the valid record (any source), the open application, and what may be started now."""
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


@bp.route("/school/graduates/<int:graduate_id>/archive", methods=["GET", "POST"])
def school_archive(graduate_id: int):
    """ARC-7: the school reads or registers a graduate's archive info directly (valid at once, no review)."""
    graduate = _school_graduate(graduate_id)
    if request.method == "GET":
        return jsonify(graduate_id=graduate.id, info=info_json(current_info(g.db, graduate.id, KIND.code)))
    clean = _valid(body(), ArchiveFieldsForm).clean()
    actor = current_actor()
    info = run_step(lambda db: transfers.register_by_school(db, actor, graduate_id, KIND, clean))
    return jsonify(graduate_id=graduate_id, info=info_json(info)), 201


@bp.route("/school/graduates/<int:graduate_id>", methods=["DELETE"])
def delete_graduate(graduate_id: int):
    """GRAD-5: delete a graduate's basic info; archive/hukou records become invalid, open applications end."""
    _school_graduate(graduate_id)
    actor = current_actor()
    result = run_step(lambda db: transfers.delete_basic_info(db, g.runtime.runner, actor, graduate_id))
    return jsonify({**result, "deleted_at": iso(result["deleted_at"])})


def _str(max_length: int | None = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", **kw}
    if max_length:
        out["maxLength"] = max_length
    return out


FIELDS_PROPERTIES: dict[str, Any] = {
    "archive_type": _str(enum=list(transfers.TRANSFER_TYPES), description="档案转递类型（ARC-1）"),
    "archive_unit": _str(100, description="档案转递单位名称"),
    "division_code": _str(pattern="^[0-9]{6}$", description="档案转递单位地址：省/市/区的行政区划代码（区县一级）；"
                          "转回生源地时省级须与生源所在地相同（ARC-3）"),
    "archive_address": _str(200, description="档案转递单位详细地址"),
    "archive_postcode": _str(pattern="^[0-9]{6}$", description="档案转递单位邮编（6位）"),
    "archive_contact": _str(50, description="档案转递联系人/联系部门"),
    "archive_phone": _str(20, description="档案转递联系电话（手机或固话）"),
    "note": _str(200, description="情况说明（200字以内）"),
}
REQUIRED = ["archive_type", "archive_unit", "division_code", "archive_address", "archive_postcode", "archive_contact",
            "archive_phone"]
ARCHIVE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": REQUIRED,
    "description": "档案信息登记 / 档案信息修改（ARC-2）。除转回生源地外须上传证明材料（ARC-4）：先 POST /attachments，再填 attachment_ids",
    "properties": {**FIELDS_PROPERTIES,
                   "attachment_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}},
}
SCHOOL_SCHEMA: dict[str, Any] = {"type": "object", "required": REQUIRED, "properties": FIELDS_PROPERTIES,
                                 "description": "学校直接登记毕业生档案信息（ARC-7），无需证明材料与审核"}
SCHEMAS = {"ArchiveInfo": ARCHIVE_SCHEMA, "ArchiveInfoBySchool": SCHOOL_SCHEMA}
PATHS = {
    "/archive": {"get": _op("毕业生的档案信息栏：有效的档案信息（任一来源）、办理中的申请、可发起的流程（ARC-5..7）")},
    "/school/graduates/{graduate_id}/archive": {
        "get": _op("学校读取本校毕业生的档案信息（ARC-7）", params=[_id("graduate_id")]),
        "post": _op("学校直接登记本校毕业生的档案信息，立即生效（ARC-7）", body="ArchiveInfoBySchool", ok="201",
                    params=[_id("graduate_id")]),
    },
    "/school/graduates/{graduate_id}": {
        "delete": _op("学校删除本校毕业生的基本信息（GRAD-5）：档案、户口信息失效，待审核的档案/户口申请变为审核不通过；"
                      "记录不物理删除", params=[_id("graduate_id")]),
    },
}
