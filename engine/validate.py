"""Checks a process designer runs before a deploy (`gradflow processes validate`): SpiffWorkflow's own
parsing and schema validation, then the platform's rules, each problem naming its file and element id.

Our rules: every user task sits in a lane and carries a form key and a status label (the inbox and the
graduate's record show it); every service task names a handler the runtime registered; every timer's
expression parses (a literal ISO 8601 date, duration or cycle, or a plain expression over task data);
every script, condition and timer expression has the bounded shape the sandbox runs (engine.sandbox.check_shape:
no loop, no try, no function, bounded growth), so a script that could not stop is refused at deploy.

`check_files` adds bpmnlint (node, tools/bpmnlint-plugin-gradflow/lint.js with the root .bpmnlintrc:
bpmnlint's recommended rules plus ours) and the checks text uploaded from the designer page needs first
(size, well-formed XML without a DOCTYPE, so no entity is ever expanded or fetched).
"""
from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from core.errors import ScriptRefused
from engine.sandbox import check_shape

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ROOT = Path(__file__).resolve().parents[1]
LINT_SCRIPT = ROOT / "tools" / "bpmnlint-plugin-gradflow" / "lint.js"
LINT_CONFIG = ROOT / ".bpmnlintrc"
MAX_FILE_BYTES = 1_000_000  # the largest shipped file is ~25 kB
LINT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Problem:
    file: str
    element_id: str
    message: str
    rule: str = ""  # the bpmnlint rule, when bpmnlint found it
    warning: bool = False  # a warning is shown but does not stop a deploy

    def __str__(self) -> str:
        kind = "警告 " if self.warning else ""
        return f"{self.file} [{self.element_id or '-'}] {kind}{self.message}"


def safe_parser() -> etree.XMLParser:
    """No entity is expanded, no DTD loaded, nothing fetched from the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True)


def upload_problem(name: str, text: str) -> Problem | None:
    """What refuses a file before any parser sees it: its size, a DOCTYPE (entities), malformed XML."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return Problem(name, "", f"文件过大（上限 {MAX_FILE_BYTES // 1000} kB）")
    try:
        doc = etree.parse(io.BytesIO(text.encode("utf-8")), safe_parser())
    except etree.XMLSyntaxError as exc:
        return Problem(name, "", f"XML 无法解析：{exc}")
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        return Problem(name, "", "BPMN 文件不允许包含 DOCTYPE（实体声明）")
    if doc.getroot().tag != f"{{{BPMN_NS}}}definitions":
        return Problem(name, "", "不是 BPMN 文件（根元素须为 bpmn:definitions）")
    return None


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
            doc = etree.parse(io.BytesIO(files[name].encode("utf-8")), safe_parser())
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


# Our bpmnlint rules in the words of the Python checks above; a problem both find is listed once.
_PLUGIN_RULES = {
    "gradflow/user-task-lane": "用户任务不在任何泳道中（泳道决定谁来办理）",
    "gradflow/user-task-form-key": "用户任务缺少 formKey 属性",
    "gradflow/user-task-status-label": "用户任务缺少 statusLabel 属性（状态文字）",
    "gradflow/service-task-handler": "服务任务没有指定处理程序（serviceTaskOperator）",
    "gradflow/timer-iso8601": "定时器",
}


def lint_files(files: dict[str, str]) -> list[Problem]:
    """bpmnlint over the files (name -> XML), run by node; a missing node or npm package is one clear problem."""
    node = shutil.which("node")
    missing = [p for p in (ROOT / "node_modules" / "bpmnlint", ROOT / "node_modules" / "bpmnlint-plugin-gradflow")
               if not p.exists()]
    if node is None:
        return [Problem("-", "", "无法运行 bpmnlint：未找到 node（请安装 Node.js 20 或更高版本，再运行 npm ci）",
                        rule="bpmnlint")]
    if missing:
        return [Problem("-", "", "无法运行 bpmnlint：缺少 npm 包 " + "、".join(p.name for p in missing)
                        + "（请在项目根目录运行 npm ci）", rule="bpmnlint")]
    payload = json.dumps({"config": str(LINT_CONFIG), "files": files})
    try:
        done = subprocess.run([node, str(LINT_SCRIPT)], input=payload, capture_output=True, text=True,
                              cwd=ROOT, timeout=LINT_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return [Problem("-", "", f"bpmnlint 超过 {LINT_TIMEOUT_SECONDS} 秒未完成", rule="bpmnlint")]
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[0]
        return [Problem("-", "", f"bpmnlint 运行失败：{tail}", rule="bpmnlint")]
    found = []
    for report in json.loads(done.stdout or "[]"):
        rule = str(report.get("rule", ""))
        message = _PLUGIN_RULES.get(rule)
        if message == "定时器":
            message = f"定时器无法解析：{report.get('message', '')}"
        text = message or f"bpmnlint {rule}：{report.get('message', '')}"
        found.append(Problem(str(report.get("file", "")), str(report.get("id", "")), text, rule=f"bpmnlint:{rule}",
                             warning=report.get("category") != "error"))
    return found


def check_files(files: dict[str, str], handlers: Iterable[str], *, lint: bool = True) -> list[Problem]:
    """Everything a deploy needs to pass, from the command line or the designer page: the upload checks,
    SpiffWorkflow's parsing and our rules, then bpmnlint. Problems are sorted by file; warnings last."""
    refused = {}
    for name, text in files.items():
        problem = upload_problem(name, text)
        if problem is not None:
            refused[name] = problem
    if refused:
        return sorted(refused.values(), key=lambda p: p.file)
    problems = validate_files(files, handlers)
    if lint:
        ours: dict[tuple[str, str], list[str]] = {}
        for p in problems:
            ours.setdefault((p.file, p.element_id), []).append(p.message)
        for found in lint_files(files):
            rule = found.rule.removeprefix("bpmnlint:")
            same = _PLUGIN_RULES.get(rule)
            if same and any(m.startswith(same) for m in ours.get((found.file, found.element_id), [])):
                continue  # our Python check said it already
            problems.append(found)
    return sorted(problems, key=lambda p: (p.warning, p.file, p.element_id))


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.warning]
