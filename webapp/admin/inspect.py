"""What the admin's instance page shows of a loaded workflow, in words: task states, timers, data, history.

Only real BPMN elements are listed (task specs with a bpmn_id); the parser's helper tasks (BoundaryEventSplit,
the root Start, End) are not."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.models import AuditEvent
from webapp.filters import mask_id

# SpiffWorkflow 3.2.0 TaskState names, in Chinese. READY on a user task is work waiting for a person.
STATE_NAMES = {
    "MAYBE": "未到达（可能）", "LIKELY": "未到达（预计）", "FUTURE": "未到达", "WAITING": "等待中",
    "READY": "进行中", "STARTED": "进行中", "COMPLETED": "已完成", "ERROR": "出错", "CANCELLED": "已取消",
}
STATE_CSS = {"COMPLETED": "done", "READY": "open", "STARTED": "open", "WAITING": "wait", "ERROR": "bad",
             "CANCELLED": "off"}
ELEMENT_TYPES = {
    "StartEvent": "开始事件", "EndEvent": "结束事件", "UserTask": "用户任务", "ManualTask": "人工任务",
    "ServiceTask": "服务任务", "ScriptTask": "脚本任务", "ExclusiveGateway": "排他网关",
    "ParallelGateway": "并行网关", "InclusiveGateway": "包容网关", "EventBasedGateway": "事件网关",
    "CallActivity": "调用子流程", "SubWorkflowTask": "子流程", "TransactionSubprocess": "事务子流程",
    "BoundaryEvent": "边界事件", "IntermediateCatchEvent": "中间捕获事件", "IntermediateThrowEvent": "中间抛出事件",
    "SendTask": "发送任务", "ReceiveTask": "接收任务", "BusinessRuleTask": "业务规则任务", "NoneTask": "任务",
}
ACTION_NAMES = {
    "start": "发起", "complete": "办理", "submit": "提交", "withdraw": "撤回", "timer": "定时触发",
    "edit": "审核修改", "void": "作废", "draft": "保存草稿", "assist_upload": "协助上传",
    "suspend": "暂停流程", "resume": "恢复流程", "terminate": "终止流程", "retry": "重试失败步骤",
    "reassign": "改派待办", "migrate": "迁移到新版本",
}
DECISION_NAMES = {"approve": "通过", "reject": "不通过", "return": "退回修改", "accept": "接受", "refuse": "拒绝",
                  "void": "作废"}
INSTANCE_STATUS = {"running": "运行中", "suspended": "已暂停", "completed": "已结束", "terminated": "已终止"}


def state_name(task: Any) -> str:
    name = TaskState.get_name(task.state)
    if name == "READY" and getattr(task.task_spec, "manual", False):
        return "待办理"
    return STATE_NAMES.get(name, name)


def _changed(task: Any) -> datetime | None:
    stamp = getattr(task, "last_state_change", None)
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None) if stamp else None


@dataclass
class TaskRow:
    name: str
    bpmn_id: str
    kind: str
    lane: str
    state: str
    css: str
    changed: datetime | None
    process: str  # the called process the element belongs to; empty in the instance's own process


def tasks(workflow: BpmnWorkflow) -> list[TaskRow]:
    rows = []
    for task in workflow.get_tasks():
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        if not bpmn_id:
            continue  # a parser helper, not an element of the diagram
        kind = type(spec).__name__
        rows.append(TaskRow(
            name=spec.bpmn_name or bpmn_id, bpmn_id=bpmn_id, kind=ELEMENT_TYPES.get(kind, kind),
            lane=getattr(spec, "lane", None) or "", state=state_name(task),
            css=STATE_CSS.get(TaskState.get_name(task.state), "future"), changed=_changed(task),
            process="" if task.workflow is workflow else (task.workflow.spec.description or task.workflow.spec.name),
        ))
    return rows


@dataclass
class TimerRow:
    name: str
    bpmn_id: str
    due: datetime | None


def timers(workflow: BpmnWorkflow) -> list[TimerRow]:
    rows = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            continue
        value = task._get_internal_data("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        due = None
        if value is not None:
            try:
                due = TimerEventDefinition.get_datetime(value)
                if due.tzinfo is not None:
                    due = due.astimezone(UTC).replace(tzinfo=None)
            except Exception:  # noqa: BLE001 - shown without a due time
                due = None
        spec = task.task_spec
        rows.append(TimerRow(name=spec.bpmn_name or spec.bpmn_id or spec.name, bpmn_id=spec.bpmn_id or "", due=due))
    return rows


def current_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data the instance carries now: of its open tasks, else of the task that changed last."""
    open_tasks = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
                  if getattr(t.task_spec, "bpmn_id", None)]
    if not open_tasks:
        done = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.data]
        open_tasks = sorted(done, key=lambda t: t.last_state_change)[-1:]
    merged: dict[str, Any] = dict(workflow.data or {})
    for task in open_tasks:
        merged.update(task.data)
    return merged


def is_id_key(key: str) -> bool:
    k = str(key).lower()
    return "id_number" in k or k in {"id_no", "idcard", "id_card", "身份证号"} or k.endswith("_id_number")


@dataclass
class Change:
    key: str
    before: str
    after: str


def _flat(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if isinstance(value, dict) and (value or not prefix):
        for k, v in value.items():
            _flat(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value
    return out


def show(value: Any, key: str = "") -> str:
    """A stored value in words: the value itself (data), or empty / yes / no in the page's language."""
    if value is None or value == "" or value == {}:
        return _("（空）")
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, list):
        return "、".join(show(v) for v in value) if value else _("（空）")
    text = str(value)
    if is_id_key(key.split(".")[-1]):
        text = mask_id(text)
    return text if len(text) <= 300 else text[:300] + "…"


def changes(event: AuditEvent) -> list[Change]:
    before = _flat(event.data_before or {})
    after = _flat(event.data_after or {})
    rows = []
    for key in [*after, *(k for k in before if k not in after)]:
        b, a = before.get(key), after.get(key)
        if key in before and b == a:
            continue
        rows.append(Change(key=key, before=show(b, key) if key in before else "—", after=show(a, key)))
    return rows


def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action)


def decision_name(decision: str | None) -> str:
    return DECISION_NAMES.get(decision or "", decision or "")
