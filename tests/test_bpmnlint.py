"""bpmnlint (issue 10, item 9): the recommended rules plus gradflow's own plugin pass on the shipped processes,
and a broken file fails naming the element of each problem, by itself and through `gradflow processes validate`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain import notify
from domain.modules import ModuleRegistry
from engine.specs import SpecRegistry
from engine.validate import check_files, errors, lint_files, upload_problem
from gradflow.runtime import load_modules

pytestmark = pytest.mark.one_backend  # no database: files and node only

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ModuleRegistry(load_modules())


def shipped() -> dict[str, str]:
    return SpecRegistry(REGISTRY.bpmn_dirs()).read_files()


def handlers() -> set[str]:
    return set(REGISTRY.extensions().handlers) | set(notify.SENDERS)


def broken_online_signing(*, drop_handler: bool = True) -> str:
    """Each of our rules broken once, on elements we know (SpiffWorkflow refuses the whole process when a
    service task has no operator, so without drop_handler the task-level Python checks run too)."""
    text = shipped()["online_signing.bpmn"]
    edits = [
        ("<bpmn:flowNodeRef>answer_invitation</bpmn:flowNodeRef>", ""),  # answer_invitation: in no lane
        ('serviceTaskOperator id="agreement.invite"', 'serviceTaskOperator id="agreement.nowhere"'),  # unknown
        ("<bpmn:timeDate>answer_deadline</bpmn:timeDate>", "<bpmn:timeDate>'P1X'</bpmn:timeDate>"),  # bad timer
        ('<spiffworkflow:property name="formKey" value="invitation_answer" />', ""),  # no form key
    ]
    if drop_handler:  # expire: no handler at all
        edits.append(('<spiffworkflow:serviceTaskOperator id="agreement.expire" resultVariable="service_result">\n'
                      "          <spiffworkflow:parameters />\n        </spiffworkflow:serviceTaskOperator>", ""))
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_the_shipped_processes_pass_bpmnlint_and_our_rules():
    problems = check_files(shipped(), handlers())
    assert errors(problems) == [], "\n".join(map(str, problems))
    # the one rule we turned down to a warning still shows, with its element (.bpmnlintrc, plugin README)
    assert [(p.file, p.element_id, p.rule) for p in problems] == [
        ("online_termination.bpmn", "answer_gateway", "bpmnlint:no-gateway-join-fork")]


def test_our_bpmnlint_rules_name_the_element_of_each_problem():
    found = {(p.rule, p.element_id) for p in lint_files({"online_signing.bpmn": broken_online_signing()})}
    assert ("bpmnlint:gradflow/user-task-lane", "answer_invitation") in found
    assert ("bpmnlint:gradflow/user-task-form-key", "answer_invitation") in found
    assert ("bpmnlint:gradflow/service-task-handler", "expire") in found
    assert ("bpmnlint:gradflow/timer-iso8601", "answer_deadline_timer") in found
    assert not any(e == "invite" for _, e in found)  # named, so bpmnlint is content; Python checks it is registered


TIMERS = [  # (element, text, parses): one node run for all of them
    ("timeDate", "answer_deadline", True), ("timeDate", "'P3D'", True), ("timeDuration", '"PT12H"', True),
    ("timeDate", "'2026-07-01T08:00:00'", True), ("timeCycle", "'R3/PT1H'", True),
    ("timeCycle", "'R/2026-07-01T08:00:00/P1D'", True), ("timeDate", "'P1X'", False), ("timeDate", "P3D", False),
    ("timeDate", "'2026-13-01'", False), ("timeDate", "''", False), ("timeCycle", "'R3/PT1H/PT1H'", False),
    ("timeCycle", "'P1D'", False),
]


def test_the_timer_rule_accepts_iso_8601_literals_and_expressions():
    base = shipped()["online_signing.bpmn"]
    files = {f"t{i}.bpmn": base.replace("<bpmn:timeDate>answer_deadline</bpmn:timeDate>",
                                        f"<bpmn:{kind}>{text}</bpmn:{kind}>")
             for i, (kind, text, _) in enumerate(TIMERS)}
    refused = {p.file for p in lint_files(files) if p.rule == "bpmnlint:gradflow/timer-iso8601"}
    assert [f"t{i}.bpmn" in refused for i in range(len(TIMERS))] == [not ok for _, _, ok in TIMERS]


def test_validate_lists_each_problem_once_with_its_element():
    files = shipped()
    files["online_signing.bpmn"] = broken_online_signing(drop_handler=False)
    problems = errors(check_files(files, handlers()))
    by_element = {}
    for p in problems:
        assert p.file == "online_signing.bpmn"
        by_element.setdefault(p.element_id, []).append(p.message)
    assert any("agreement.nowhere 没有注册" in m for m in by_element["invite"])
    assert any("ISO 8601" in m for m in by_element["answer_deadline_timer"])
    assert any("泳道" in m for m in by_element["answer_invitation"])
    assert any("formKey" in m for m in by_element["answer_invitation"])
    # Python and bpmnlint both see the missing lane, form key and bad timer: each listed once
    assert sum("泳道" in m for m in by_element["answer_invitation"]) == 1
    assert sum("formKey" in m for m in by_element["answer_invitation"]) == 1
    assert len(by_element["answer_deadline_timer"]) == 1


def test_the_cli_fails_on_a_broken_copy_and_names_file_and_elements(tmp_path):
    (tmp_path / "online_signing.bpmn").write_text(broken_online_signing(drop_handler=False), encoding="utf-8")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "gradflow.cli", "processes", "validate", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for element in ("invite", "answer_deadline_timer", "answer_invitation"):
        assert any(line.startswith(f"online_signing.bpmn [{element}]") for line in lines), (element, done.stdout)
    assert "校验未通过" in done.stderr


def test_uploaded_text_with_entities_or_too_big_is_refused_before_parsing():
    xxe = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>')
    problem = upload_problem("x.bpmn", xxe)
    assert problem is not None and "DOCTYPE" in problem.message
    assert "过大" in upload_problem("x.bpmn", "<a/>" + " " * 1_000_001).message
    assert "不是 BPMN" in upload_problem("x.bpmn", "<a/>").message
    assert upload_problem("online_signing.bpmn", shipped()["online_signing.bpmn"]) is None
    assert check_files({"x.bpmn": xxe}, handlers())[0].message.startswith("BPMN 文件不允许包含 DOCTYPE")


def test_a_missing_node_is_one_clear_problem(monkeypatch):
    import engine.validate as validate

    monkeypatch.setattr(validate.shutil, "which", lambda name: None)
    [problem] = lint_files({"a.bpmn": "<x/>"})
    assert "未找到 node" in problem.message and not problem.warning
