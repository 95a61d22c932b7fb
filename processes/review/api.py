"""The shared review through /api/v1: decide a review task (with REV-5 edits), withdraw (REV-6)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify

from core.errors import Forbidden, ValidationFailed
from domain.access import REVIEWER_ROLES
from engine.models import ProcessInstance, WorkItem
from webapp.api.base import api_blueprint, body, step_response
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, run_step

from . import bulk, services
from .forms import MAX_BULK, BulkApproveForm, ReviewForm

bp = api_blueprint("review_api", __name__)


def _edits(item: WorkItem, raw: Any) -> dict[str, Any] | None:
    """REV-5: edits are validated by the form of the process under review, or refused."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValidationFailed("edits 必须是对象", details={"edits": ["edits 必须是对象"]})
    instance = g.db.get(ProcessInstance, item.instance_id)
    module = g.runtime.modules.for_process(instance.process_id)
    part = module.record if module is not None else None
    form = part.edit_form(instance, "edit", raw) if part is not None and part.edit_form is not None else None
    if form is None or part is None or part.apply_edit is None:
        raise ValidationFailed("该流程的审核不能修改登记信息", details={"edits": ["该流程的审核不能修改登记信息"]})
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    application = g.runtime.runner.task_data(g.db, item).get("application") or {}
    return part.apply_edit(g.db, instance, application, form)


def complete(item: WorkItem, body: dict[str, Any]) -> ProcessInstance:
    form = ReviewForm.from_json(body)
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    edits = _edits(item, body.get("edits"))
    instance = g.db.get(ProcessInstance, item.instance_id)
    module = g.runtime.modules.for_process(instance.process_id)
    labels = module.record.field_labels if module is not None and module.record is not None else {}
    actor = current_actor()
    return run_step(lambda db: services.review(db, g.runtime.runner, actor, item.id, form.decision.data,
                                               form.reason.data or "", edits, labels))


def item_data(data: dict[str, Any]) -> dict[str, Any]:
    return {"allow_return": bool(data.get("allow_return"))}


def fields() -> list[dict[str, Any]]:
    return [{"name": "decision", "label": "审核结果", "type": "choice", "required": True,
             "choices": [{"value": "approve", "label": "通过"}, {"value": "return", "label": "退回修改"},
                         {"value": "reject", "label": "不通过"}]},
            {"name": "reason", "label": "原因", "type": "string", "required": False, "max_length": 200},
            {"name": "edits", "label": "修改后的登记信息（同被审核流程的表单字段）", "type": "object", "required": False}]


@bp.route("/instances/<int:instance_id>/withdraw", methods=["POST"])
def withdraw(instance_id: int):
    from webapp.api.routes import scoped_instance

    scoped_instance(instance_id)
    actor = current_actor()
    return step_response(run_step(lambda db: services.withdraw(db, g.runtime.runner, actor, instance_id)))


COMPLETION = {"decision": {"type": "string", "enum": list(services.DECISIONS)},
              "reason": {"type": "string", "maxLength": 200},
              "edits": {"type": "object", "description": "修改后的登记信息，按被审核流程的表单校验（REV-5）"}}
PATHS = {"/instances/{instance_id}/withdraw": {"post": _op("审核前撤回（REV-6）", params=[_id("instance_id")])}}


@bp.route("/work-items/bulk-complete", methods=["POST"])
def bulk_complete():
    """Approve several review tasks, each its own step; 200 with one result per id (an id outside the caller's
    scope gets the same answer as a missing one, ROLE-1)."""
    if current_actor().role not in REVIEWER_ROLES:
        raise Forbidden("无权办理该事项")  # refused before the body is read, like every other role-bound operation
    data = body()
    if data.get("decision", "approve") != "approve":
        raise ValidationFailed("批量办理只能通过（approve）", details={"decision": ["批量办理只能通过"]})
    form = BulkApproveForm.from_json({"item_ids": data.get("item_ids")})
    if not isinstance(data.get("item_ids"), list) or not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    results = bulk.approve_many(current_actor(), form.item_ids.data)
    return jsonify(results=[{"id": r.item_id, "ok": True, "status_label": r.status_label} if r.ok
                            else {"id": r.item_id, "ok": False, "reason": r.reason} for r in results],
                   approved=sum(r.ok for r in results))


BULK_SCHEMA = {"type": "object", "required": ["item_ids"], "properties": {
    "item_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": MAX_BULK},
    "decision": {"type": "string", "enum": ["approve"]}}}
PATHS["/work-items/bulk-complete"] = {"post": _op("批量通过审核待办：每条单独办理、单独记录，逐条返回结果",
                                                  body="BulkComplete")}
SCHEMAS = {"BulkComplete": BULK_SCHEMA}
