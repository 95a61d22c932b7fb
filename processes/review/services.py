"""The shared review's actions (REV): decide, edit while reviewing, withdraw before review.

Each runs inside the caller's transaction and leaves the commit to the caller.
"""
from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, ValidationFailed
from domain.access import POLICY
from domain.changes import changes
from domain.notify import notify_graduate
from engine.models import AuditEvent, ProcessInstance, WorkItem
from engine.runner import Runner, props
from engine.services import Actor, StepContext

REVIEW_FORM_KEY = "review"
DECISIONS = ("approve", "return", "reject")
DECISION_TEXT = {"approve": "审核通过", "return": "退回修改", "reject": "审核不通过"}


def may_withdraw(items: list[WorkItem]) -> bool:
    """REV-6: a review is open and no reviewer has acted since the graduate last submitted."""
    if not any(i.state == "open" and i.form_key == REVIEW_FORM_KEY for i in items):
        return False
    last_submit = max((i.id for i in items if i.role == "Graduate" and i.state == "completed"), default=0)
    return not any(i.form_key == REVIEW_FORM_KEY and i.state == "completed" and i.id > last_submit for i in items)


def withdraw(session: Session, runner: Runner, actor: Actor, instance_id: int) -> ProcessInstance:
    """REV-6: only before any reviewer has acted on this submission."""
    instance = POLICY.instance(session, actor, instance_id)
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生本人可以撤回")
    items = list(session.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id)
                                 .order_by(WorkItem.id)))
    if not any(i.state == "open" and i.form_key == REVIEW_FORM_KEY for i in items):
        raise Conflict("当前状态不能撤回")
    if not may_withdraw(items):
        raise Conflict("审核人员已开始审核，不能撤回")
    return runner.send_message(session, instance, "withdraw", actor)


def review(session: Session, runner: Runner, actor: Actor, work_item_id: int, decision: str, reason: str,
           edits: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> ProcessInstance:
    """REV-1..5: approve, return (where allowed) or reject, optionally editing the data first."""
    item = runner.open_work_item(session, work_item_id, actor)
    if item.form_key != REVIEW_FORM_KEY:
        raise Conflict("该事项不是审核任务")
    if decision not in DECISIONS:
        raise ValidationFailed("请选择审核结果", details={"decision": ["请选择审核结果"]})
    if decision in {"return", "reject"} and not (reason or "").strip():
        raise ValidationFailed("退回或不通过时必须填写原因", details={"reason": ["请填写原因"]})
    edit_log: dict[str, Any] = {}

    def build(task: Any) -> dict[str, Any]:
        if decision == "return" and not task.data.get("allow_return"):
            raise ValidationFailed("该流程不允许退回修改，只能通过或不通过", details={"decision": ["不允许退回"]})
        p = props(task.task_spec)
        data: dict[str, Any] = {"decision": decision, "reason": (reason or "").strip(),
                                "decided_level": p.get("level"), "decided_level_label": p.get("levelLabel", "")}
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
        record_reviewer_edit(session, instance, actor, edit_log["before"], edit_log["after"], labels or {})
    return instance


def record_reviewer_edit(session: Session, instance: ProcessInstance, actor: Actor, before: dict[str, Any],
                         after: dict[str, Any], labels: dict[str, str]) -> None:
    """REV-5 / NOTE-3: the edit is audited (who, when, before/after) and the graduate is told what changed."""
    diff = changes(before, after, labels)
    session.add(AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="edit",
                           data_before=before, data_after=after, status_label=instance.status_label))
    ctx = StepContext(session=session, instance=instance, actor=actor)
    lines = "\n".join(f"{c['label']}：{c['before'] or '（空）'} → {c['after'] or '（空）'}" for c in diff)
    notify_graduate(ctx, f"{instance.title}：审核人员修改了你的登记信息",
                    f"{actor.name}修改了以下内容：\n{lines}" if lines else "请在登记记录中查看修改后的信息。")


def notify_review_result(ctx: StepContext, task_spec: Any, data: dict[str, Any]) -> None:
    """NOTE-1: every review result reaches the graduate."""
    p = props(task_spec)
    if p.get("formKey") != REVIEW_FORM_KEY:
        return
    decision = data.get("decision")
    text = DECISION_TEXT.get(decision or "", decision or "")
    title = f"{ctx.instance.title}：{p.get('levelLabel', '')}{text}"
    body = f"原因：{data.get('reason')}" if data.get("reason") else ""
    notify_graduate(ctx, title, body)
