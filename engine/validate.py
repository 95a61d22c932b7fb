"""Checks a process designer runs before a deploy (`gradflow processes validate`): SpiffWorkflow's own
parsing and schema validation, then the platform's rules, each problem naming its file and element id.

Our rules: every user task sits in a lane and carries a form key and a status label (the inbox and the
graduate's record show it); every service task names a handler the runtime registered; every timer's
expression parses (a literal ISO 8601 date, duration or cycle, or a plain expression over task data);
every script, condition and timer expression has the bounded shape the sandbox runs (engine.sandbox.check_shape:
no loop, no try, no function, bounded growth), so a script that could not stop is refused at deploy.
"""
from __future__ import annotations

import ast
import io
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from core.errors import ScriptRefused
from engine.sandbox import check_shape

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class Problem:
    file: str
    element_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} [{self.element_id or '-'}] {self.message}"


def _timer_problem(expression: str) -> str | None:
    """None when the timer expression parses; a literal is parsed as ISO 8601 by SpiffWorkflow."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        return f"定时器表达式无法解析：{expression!r}（{exc.msg}）"
    node = tree.body
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            TimerEventDefinition.parse_time_or_duration(node.value)
        except Exception:  # noqa: BLE001 - SpiffWorkflow raises assorted errors for bad ISO text
            try:
                TimerEventDefinition.parse_iso_recurring_interval(node.value)
            except Exception:  # noqa: BLE001
                return f"定时器时间不是有效的 ISO 8601 日期、时长或周期：{node.value!r}"
    return None


def _code_problems(file: str, doc: etree._ElementTree) -> list[Problem]:
    """Scripts (exec), conditions and timer expressions (eval) outside the sandbox's bounded shape."""
    found = []
    ns = {"bpmn": BPMN_NS}
    checks = [("//bpmn:scriptTask/bpmn:script", "exec", "脚本"),
              ("//bpmn:sequenceFlow/bpmn:conditionExpression", "eval", "条件"),
              ("//bpmn:timerEventDefinition/*", "eval", "定时器表达式")]
    for xpath, mode, what in checks:
        for node in doc.xpath(xpath, namespaces=ns):
            owner = node.getparent()  # the script task or the sequence flow
            if what == "定时器表达式":
                owner = owner.getparent()  # the timer event, not its event definition
            try:
                check_shape((node.text or "").strip() or "None", mode)
            except ScriptRefused as exc:
                found.append(Problem(file, owner.get("id", "") if owner is not None else "", f"{what}：{exc.message}"))
    return found


def _kind(task_spec: object) -> str:
    return type(task_spec).__name__


def validate_files(files: dict[str, str], handlers: Iterable[str]) -> list[Problem]:
    """Every problem of a set of BPMN files (name -> XML text); an empty list means they may be deployed."""
    known = set(handlers)
    problems: list[Problem] = []
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name in sorted(files):
        try:
            doc = etree.parse(io.BytesIO(files[name].encode("utf-8")))
            parser.add_bpmn_xml(doc, filename=name)
        except ValidationException as exc:
            problems.append(Problem(name, getattr(exc, "id", "") or "", f"BPMN 校验失败：{exc}"))
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(name, "", f"XML 无法解析：{exc}"))
            continue
        problems.extend(_code_problems(name, doc))
    if problems:
        return problems
    for process_id in sorted(parser.get_process_ids()):
        file = parser.process_parsers[process_id].filename
        try:
            spec = parser.get_spec(process_id)
        except ValidationException as exc:
            problems.append(Problem(file, getattr(exc, "id", "") or process_id, f"流程无法解析：{exc}"))
            continue
        for task_spec in spec.task_specs.values():
            problems.extend(_task_problems(file, task_spec, known))
    return problems


def _task_problems(file: str, task_spec: object, handlers: set[str]) -> list[Problem]:
    element: str = str(getattr(task_spec, "bpmn_id", None) or "")
    if not element:
        return []  # the parser's own helper tasks (start, end, splits)
    found: list[Problem] = []
    kind = _kind(task_spec)
    props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    if kind == "UserTask":
        if not getattr(task_spec, "lane", None):
            found.append(Problem(file, element, "用户任务不在任何泳道中（泳道决定谁来办理）"))
        if not props.get("formKey"):
            found.append(Problem(file, element, "用户任务缺少 formKey 属性"))
        if not props.get("statusLabel"):
            found.append(Problem(file, element, "用户任务缺少 statusLabel 属性（状态文字）"))
    if kind == "ServiceTask":
        operator = getattr(task_spec, "operation_name", None)
        if not operator:
            found.append(Problem(file, element, "服务任务没有指定处理程序（serviceTaskOperator）"))
        elif operator not in handlers:
            found.append(Problem(file, element, f"服务任务的处理程序 {operator} 没有注册"))
    event = getattr(task_spec, "event_definition", None)
    if isinstance(event, TimerEventDefinition):
        message = _timer_problem(event.expression or "")
        if message:
            found.append(Problem(file, element, message))
    return found
