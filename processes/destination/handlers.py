"""Service-task handlers of destination filing: where its BPMN steps touch the destination record."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.db import by_key, remember, utcnow
from domain import notify
from domain.effective import claim_effective, release_effective
from domain.models import DestinationRecord
from engine.models import ProcessInstance
from engine.runner import props
from engine.services import Handler, StepContext

from .services import PROCESS_ID

Data = dict[str, Any]


def destination_record(session: Session, instance_id: int) -> DestinationRecord | None:
    return by_key(session, DestinationRecord, "instance_id", instance_id)  # once per step (issue 11)


def _record(ctx: StepContext) -> DestinationRecord:
    record = destination_record(ctx.session, ctx.instance.id)
    if record is None:
        raise LookupError(f"instance {ctx.instance.id} has no destination record")
    return record


def apply_application(record: DestinationRecord, instance: ProcessInstance, app: Data) -> None:
    """The record mirrors the application as last submitted or edited by a reviewer (REV-5)."""
    record.category = app.get("category", "")
    record.dest_type = app.get("dest_type", "")
    record.fields = dict(app.get("fields") or {})
    record.attachment_ids = list(app.get("attachment_ids") or [])
    instance.category = app.get("type_name", "")


def submit(ctx: StepContext, data: Data, params: Data) -> Data:
    record = None if ctx.started else destination_record(ctx.session, ctx.instance.id)  # a resubmission has one
    if record is None:
        record = DestinationRecord(graduate_id=ctx.instance.graduate_id, instance_id=ctx.instance.id)
        ctx.session.add(record)
        remember(ctx.session, record, "instance_id")
    apply_application(record, ctx.instance, data.get("application") or {})
    record.status = "pending"
    ctx.session.flush()
    return {"record_id": record.id}


def activate(ctx: StepContext, data: Data, params: Data) -> Data:
    record = _record(ctx)
    apply_application(record, ctx.instance, data.get("application") or {})
    claim_effective(ctx.session, record.graduate_id, "destination", record.id)  # DST-4; the instance's graduate
    record.status = "effective"
    record.approved_at = utcnow()
    return {"record_id": record.id}


def reject(ctx: StepContext, data: Data, params: Data) -> None:
    record = destination_record(ctx.session, ctx.instance.id)
    if record is not None:
        record.status = "rejected"


def void(ctx: StepContext, data: Data, params: Data) -> None:
    record = _record(ctx)
    release_effective(ctx.session, record.graduate_id, "destination", record.id)
    record.status = "voided"
    record.voided_at = utcnow()
    notify.notify_graduate(ctx, f"{ctx.instance.title}：已作废", "你已作废该毕业去向登记，可重新登记去向或签约。",
                           channels=())


def mirror_reviewer_edit(ctx: StepContext, task_spec: Any, data: Data) -> None:
    """REV-5: a reviewer's edit shows on the record at once, before the last approval."""
    if ctx.instance.process_id != PROCESS_ID or props(task_spec).get("formKey") != "review":
        return
    record = destination_record(ctx.session, ctx.instance.id)
    if record is not None and data.get("application"):
        apply_application(record, ctx.instance, data["application"])


HANDLERS: dict[str, Handler] = {"destination.submit": submit, "destination.activate": activate,
                                "destination.reject": reject, "destination.void": void}
