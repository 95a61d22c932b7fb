"""Service-task handlers and step hooks: where BPMN steps touch domain rows.

Imported once by gradflow.runtime so that every process (web, worker, CLI)
has the same handlers registered.
"""
from __future__ import annotations

from sqlalchemy import select

from domain import agreements as rules
from domain import notify
from domain.models import DestinationRecord
from engine.runner import props
from engine.services import StepContext, on_task_completed, service
from gradflow.db import utcnow

DECISION_TEXT = {"approve": "审核通过", "return": "退回修改", "reject": "审核不通过"}


def destination_record(session, instance_id: int) -> DestinationRecord | None:
    return session.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == instance_id))


def _record(ctx: StepContext) -> DestinationRecord | None:
    return destination_record(ctx.session, ctx.instance.id)


def apply_application(record: DestinationRecord, instance, app: dict) -> None:
    """The record mirrors the application as last submitted or edited by a reviewer (REV-5)."""
    record.category = app.get("category", "")
    record.dest_type = app.get("dest_type", "")
    record.fields = dict(app.get("fields") or {})
    record.attachment_ids = list(app.get("attachment_ids") or [])
    instance.category = app.get("type_name", "")


@service("destination.submit")
def destination_submit(ctx: StepContext, data: dict, params: dict):
    record = _record(ctx)
    if record is None:
        record = DestinationRecord(graduate_id=ctx.instance.graduate_id, instance_id=ctx.instance.id)
        ctx.session.add(record)
    apply_application(record, ctx.instance, data.get("application") or {})
    record.status = "pending"
    ctx.session.flush()
    return {"record_id": record.id}


@service("destination.activate")
def destination_activate(ctx: StepContext, data: dict, params: dict):
    record = _record(ctx)
    apply_application(record, ctx.instance, data.get("application") or {})
    rules.claim_effective(ctx.session, ctx.instance.graduate_id, "destination", record.id)  # DST-4
    record.status = "effective"
    record.approved_at = utcnow()
    return {"record_id": record.id}


@service("destination.reject")
def destination_reject(ctx: StepContext, data: dict, params: dict):
    record = _record(ctx)
    if record is not None:
        record.status = "rejected"
    return None


@service("destination.void")
def destination_void(ctx: StepContext, data: dict, params: dict):
    record = _record(ctx)
    rules.release_effective(ctx.session, ctx.instance.graduate_id, "destination", record.id)
    record.status = "voided"
    record.voided_at = utcnow()
    notify.notify_graduate(ctx, f"{ctx.instance.title}：已作废", "你已作废该毕业去向登记，可重新登记去向或签约。",
                           channels=())
    return None


@service("test.outbox")
def test_outbox(ctx: StepContext, data: dict, params: dict):
    """Used by tests/data/timer_outbox.bpmn: a timer-driven side effect."""
    ctx.emit("test.ping", {"instance_id": ctx.instance.id, "due_at": data.get("due_at")})
    return None


@on_task_completed
def notify_review_result(ctx: StepContext, task_spec, data: dict) -> None:
    """NOTE-1: every review result reaches the graduate."""
    p = props(task_spec)
    if p.get("formKey") != "review":
        return
    decision = data.get("decision")
    text = DECISION_TEXT.get(decision, decision or "")
    title = f"{ctx.instance.title}：{p.get('levelLabel', '')}{text}"
    body = f"原因：{data.get('reason')}" if data.get("reason") else ""
    notify.notify_graduate(ctx, title, body)


@notify.outbox.sender("test.ping")
def deliver_test_ping(row, _sessions) -> None:
    notify._spool("ping", row)


from domain import agreement_pdf, signing_handlers  # noqa: E402,F401 - registers agreement handlers and senders
