"""Other-destination filing (DST) as services: start, resubmit after a return, void.

Views parse input with the module's forms and call these; each function runs inside
the caller's transaction and leaves the commit to the caller.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, ValidationFailed
from domain import dicts
from domain.access import POLICY
from domain.attachments import check_attachments
from domain.models import EffectiveDestination, Graduate
from domain.schools import module_closed_reason
from engine.models import ProcessInstance, WorkItem
from engine.runner import Runner
from engine.services import Actor

PROCESS_ID = "destination_filing"
FORM_KEY = "destination"
VOID_FORM_KEY = "destination_void"
DIRECTED_TYPE = "directed"


def build_application(graduate: Graduate, clean: dict[str, Any]) -> dict[str, Any]:
    """The application data kept in the process: type, its fields, attachments."""
    dest_type = dicts.destination_type(clean["dest_type"])
    if dest_type is None:
        raise ValidationFailed("未知的毕业去向类型", details={"dest_type": ["未知的毕业去向类型"]})
    if graduate.directed and dest_type["code"] != DIRECTED_TYPE:
        # GRAD-6 / DST-5
        raise ValidationFailed("定向/委培毕业生只能登记“定向/委培毕业去向补充登记”",
                               details={"dest_type": ["定向/委培毕业生只能选择定向/委培毕业去向补充登记"]})
    if dest_type["code"] == DIRECTED_TYPE and not graduate.directed:
        raise ValidationFailed("只有定向/委培毕业生可以选择定向/委培毕业去向补充登记",
                               details={"dest_type": ["只有定向/委培毕业生可以选择此类型"]})
    wanted = set(dest_type.get("fields", [])) | set(dest_type.get("optional_fields", [])) | {"note"}
    fields = {k: v for k, v in (clean.get("fields") or {}).items() if k in wanted and v not in (None, "")}
    if dest_type["code"] == DIRECTED_TYPE:
        # GRAD-6: the unit is the school's record, whatever was posted
        fields["unit_name"] = graduate.directed_unit or ""
        fields["unit_address"] = graduate.directed_unit_address or ""
    return {
        "category": dest_type["category"],
        "dest_type": dest_type["code"],
        "type_name": dest_type["name"],
        "fields": fields,
        "attachment_ids": list(clean.get("attachment_ids") or []),
    }


def check_proof(application: dict[str, Any]) -> None:
    """DST-1: a type whose proof is required is not accepted without an image."""
    dest_type = dicts.destination_type(application["dest_type"]) or {}
    if dest_type.get("proof_required") and not application.get("attachment_ids"):
        message = f"“{dest_type['name']}”需要上传证明材料图片"
        raise ValidationFailed(message, details={"images": [message]})


def _open_filing_of(graduate_id: int) -> tuple[Any, ...]:
    return (ProcessInstance.graduate_id == graduate_id, ProcessInstance.process_id == PROCESS_ID,
            ProcessInstance.status == "running")


def open_filing(session: Session, graduate_id: int) -> ProcessInstance | None:
    return session.scalar(select(ProcessInstance).where(*_open_filing_of(graduate_id)).limit(1))


def start_filing(session: Session, runner: Runner, actor: Actor, graduate: Graduate,
                 clean: dict[str, Any]) -> ProcessInstance:
    """DST-1: pick a type, fill its fields, upload proof, submit — one step."""
    if actor.graduate_id != graduate.id:
        raise Forbidden("无权为其他毕业生登记去向")
    reason = module_closed_reason(graduate)
    if reason:
        raise Conflict(reason)
    if graduate.confirmed_at is None:
        raise Conflict("请先核对基本信息并点击“信息确认无误，进入系统”")
    effective, running = session.execute(select(  # both questions in one statement (issue 11)
        exists().where(EffectiveDestination.graduate_id == graduate.id),
        exists().where(*_open_filing_of(graduate.id)))).one()
    if effective:
        raise Conflict("你已有生效的毕业去向（已签协议或已登记去向），如需重新登记请先作废或解约")  # DST-4
    if running:
        raise Conflict("你已有一条去向登记正在办理中，请在登记记录中查看")
    application = build_application(graduate, clean)
    check_proof(application)
    check_attachments(session, graduate.id, application["attachment_ids"])
    instance = runner.start(
        session, PROCESS_ID, actor,
        scope={"graduate_id": graduate.id, "school_id": graduate.school_id, "department_id": graduate.department_id,
               "cohort": graduate.cohort},
        data={"review_levels": graduate.school.review_levels, "graduate_id": graduate.id},
        title="其他毕业去向登记", category=application["type_name"],
        subject_name=graduate.name, subject_no=graduate.student_no,
        submit=(FORM_KEY, {"application": application}),
    )
    return instance


def resubmit(session: Session, runner: Runner, actor: Actor, graduate: Graduate, work_item_id: int,
             clean: dict[str, Any]) -> ProcessInstance:
    """REV-3 / REV-6: edit after a return or a withdrawal and submit again."""
    item = runner.open_work_item(session, work_item_id, actor)
    if item.form_key != FORM_KEY:
        raise Conflict("该事项不是去向信息填写")
    application = build_application(graduate, clean)
    check_proof(application)
    check_attachments(session, graduate.id, application["attachment_ids"])
    return runner.complete(session, item.id, actor, {"application": application}, audit_action="submit")


def void(session: Session, runner: Runner, actor: Actor, instance_id: int) -> ProcessInstance:
    """DST-3: void an approved destination without review."""
    instance = POLICY.instance(session, actor, instance_id)
    item = session.scalar(select(WorkItem).where(WorkItem.instance_id == instance.id, WorkItem.state == "open",
                                                 WorkItem.form_key == VOID_FORM_KEY))
    if item is None:
        raise Conflict("只有审核通过的去向才能作废")
    return runner.complete(session, item.id, actor, {"voided": True}, decision="void", audit_action="void")
