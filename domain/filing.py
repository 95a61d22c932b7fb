"""Other-destination filing (DST) and the shared review actions (REV), as domain services.

Views parse input with forms/ and call these; each function runs inside the
caller's transaction and leaves the commit to the caller.
"""
from __future__ import annotations

import copy

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import dicts
from domain.handlers import apply_application, destination_record
from domain.models import Attachment, EffectiveDestination, Graduate, School
from domain.notify import notify_graduate
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import AuditEvent, ProcessInstance, WorkItem
from engine.runner import Runner, props
from engine.services import Actor, StepContext

PROCESS_ID = "destination_filing"
DIRECTED_TYPE = "directed"
MODULE = "destination"


def module_closed_reason(graduate: Graduate) -> str | None:
    """MOD-2/MOD-4: the province enables the module and the school completes its settings."""
    school: School = graduate.school
    if MODULE not in (school.province.enabled_modules or []):
        return "省级主管部门尚未开通“毕业去向登记与网签”模块，暂不能使用。"
    if MODULE not in (school.open_modules or []):
        return "学校尚未完成该模块的设置，暂不能使用，请留意学校通知。"
    return None


def build_application(graduate: Graduate, clean: dict) -> dict:
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
        fields["unit_name"] = graduate.directed_unit or ""  # uploaded by the school, not editable
    return {
        "category": dest_type["category"],
        "dest_type": dest_type["code"],
        "type_name": dest_type["name"],
        "fields": fields,
        "attachment_ids": list(clean.get("attachment_ids") or []),
    }


def check_attachments(session: Session, graduate: Graduate, ids: list[int]) -> None:
    if not ids:
        return
    owned = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(ids),
                                                            Attachment.graduate_id == graduate.id)))
    if owned != set(ids):
        raise ValidationFailed("图片不存在或不属于你", details={"attachment_ids": ["图片不存在或不属于你"]})


def _open_filing(session: Session, graduate_id: int) -> ProcessInstance | None:
    return session.scalar(
        select(ProcessInstance).where(
            ProcessInstance.graduate_id == graduate_id,
            ProcessInstance.process_id == PROCESS_ID,
            ProcessInstance.status == "running",
        ).limit(1)
    )


def start_filing(session: Session, runner: Runner, actor: Actor, graduate: Graduate, clean: dict) -> ProcessInstance:
    """DST-1: pick a type, fill its fields, upload proof, submit — one step."""
    if actor.graduate_id != graduate.id:
        raise Forbidden("无权为其他毕业生登记去向")
    reason = module_closed_reason(graduate)
    if reason:
        raise Conflict(reason)
    if graduate.confirmed_at is None:
        raise Conflict("请先核对基本信息并点击“信息确认无误，进入系统”")
    if session.get(EffectiveDestination, graduate.id) is not None:
        raise Conflict("你已有生效的毕业去向（已签协议或已登记去向），如需重新登记请先作废或解约")  # DST-4
    if _open_filing(session, graduate.id) is not None:
        raise Conflict("你已有一条去向登记正在办理中，请在登记记录中查看")
    application = build_application(graduate, clean)
    check_attachments(session, graduate, application["attachment_ids"])
    instance = runner.start(
        session, PROCESS_ID, actor,
        scope={"graduate_id": graduate.id, "school_id": graduate.school_id, "department_id": graduate.department_id},
        data={"review_levels": graduate.school.review_levels, "graduate_id": graduate.id},
        title="其他毕业去向登记", category=application["type_name"],
        subject_name=graduate.name, subject_no=graduate.student_no,
    )
    first = session.scalar(select(WorkItem).where(WorkItem.instance_id == instance.id, WorkItem.state == "open",
                                                  WorkItem.form_key == "destination"))
    runner.complete(session, first.id, actor, {"application": application}, audit_action="submit")
    return instance


def resubmit(session: Session, runner: Runner, actor: Actor, graduate: Graduate, work_item_id: int,
             clean: dict) -> ProcessInstance:
    """REV-3 / REV-6: edit after a return or a withdrawal and submit again."""
    item = runner.open_work_item(session, work_item_id, actor)
    if item.form_key != "destination":
        raise Conflict("该事项不是去向信息填写")
    application = build_application(graduate, clean)
    check_attachments(session, graduate, application["attachment_ids"])
    return runner.complete(session, item.id, actor, {"application": application}, audit_action="submit")


def instance_for(session: Session, actor: Actor, instance_id: int) -> ProcessInstance:
    """ROLE-1: an instance outside the actor's scope looks exactly like a missing one."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not may_see_instance(actor, instance):
        raise Forbidden("记录不存在或无权访问")
    return instance


def may_see_instance(actor: Actor, instance: ProcessInstance) -> bool:
    if actor.role == "Admin":
        return True
    if actor.role == "Graduate":
        return actor.graduate_id is not None and instance.graduate_id == actor.graduate_id
    if actor.role == "Department":
        return actor.department_id is not None and instance.department_id == actor.department_id
    if actor.role == "School":
        return actor.school_id is not None and instance.school_id == actor.school_id
    if actor.role == "Employer":
        return actor.employer_id is not None and instance.employer_id == actor.employer_id
    return False


def withdraw(session: Session, runner: Runner, actor: Actor, instance_id: int) -> ProcessInstance:
    """REV-6: only before any reviewer has acted on this submission."""
    instance = instance_for(session, actor, instance_id)
    if actor.role != "Graduate":
        raise Forbidden("只有毕业生本人可以撤回")
    items = list(session.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id)
                                 .order_by(WorkItem.id)))
    open_reviews = [i for i in items if i.state == "open" and i.form_key == "review"]
    if not open_reviews:
        raise Conflict("当前状态不能撤回")
    last_submit = max((i.id for i in items if i.role == "Graduate" and i.state == "completed"), default=0)
    acted = [i for i in items if i.form_key == "review" and i.state == "completed" and i.id > last_submit]
    if acted:
        raise Conflict("审核人员已开始审核，不能撤回")
    return runner.send_message(session, instance, "withdraw", actor)


def void(session: Session, runner: Runner, actor: Actor, instance_id: int) -> ProcessInstance:
    """DST-3: void an approved destination without review."""
    instance = instance_for(session, actor, instance_id)
    item = session.scalar(select(WorkItem).where(WorkItem.instance_id == instance.id, WorkItem.state == "open",
                                                 WorkItem.form_key == "destination_void"))
    if item is None:
        raise Conflict("只有审核通过的去向才能作废")
    return runner.complete(session, item.id, actor, {"voided": True}, decision="void", audit_action="void")


def review(session: Session, runner: Runner, actor: Actor, work_item_id: int, decision: str, reason: str,
           edits: dict | None = None) -> ProcessInstance:
    """REV-1..5: approve, return (where allowed) or reject, optionally editing the data first."""
    item = runner.open_work_item(session, work_item_id, actor)
    if item.form_key != "review":
        raise Conflict("该事项不是审核任务")
    if decision not in {"approve", "return", "reject"}:
        raise ValidationFailed("请选择审核结果", details={"decision": ["请选择审核结果"]})
    if decision in {"return", "reject"} and not (reason or "").strip():
        raise ValidationFailed("退回或不通过时必须填写原因", details={"reason": ["请填写原因"]})
    edit_log: dict = {}

    def build(task) -> dict:
        if decision == "return" and not task.data.get("allow_return"):
            raise ValidationFailed("该流程不允许退回修改，只能通过或不通过", details={"decision": ["不允许退回"]})
        p = props(task.task_spec)
        data = {"decision": decision, "reason": (reason or "").strip(), "decided_level": p.get("level"),
                "decided_level_label": p.get("levelLabel", "")}
        current = copy.deepcopy(task.data.get("application") or {})
        data["reviewed_application"] = current  # the review's declared output
        if edits:
            new = copy.deepcopy(current)
            new.update(edits)
            if new != current:
                data["application"] = new
                data["reviewed_application"] = new
                edit_log.update(before=current, after=new)
        return data

    instance = runner.complete(session, item.id, actor, build, decision=decision, reason=reason)
    if edit_log:
        record_reviewer_edit(session, instance, actor, edit_log["before"], edit_log["after"])
    return instance


def record_reviewer_edit(session: Session, instance: ProcessInstance, actor: Actor, before: dict, after: dict) -> None:
    """REV-5: the edit is audited (who, when, before/after) and the graduate is told (NOTE-1)."""
    session.add(AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="edit",
                           data_before=before, data_after=after, status_label=instance.status_label))
    ctx = StepContext(session=session, instance=instance, actor=actor)
    notify_graduate(ctx, f"{instance.title}：审核人员修改了你的登记信息", "请在登记记录中查看修改后的信息。")
    if instance.process_id == PROCESS_ID:
        record = destination_record(session, instance.id)
        if record is not None:
            apply_application(record, instance, after)
