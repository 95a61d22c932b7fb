"""Designer tools (issue 10): `gradflow processes validate` names the element of each problem, and the
scenario files beside the BPMN run against the real engine with a movable clock."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from domain import notify
from domain.modules import ModuleRegistry
from engine.specs import SpecRegistry
from engine.validate import validate_files
from gradflow import scenarios
from gradflow.runtime import load_modules

pytestmark = pytest.mark.one_backend  # the scenarios run on their own scratch SQLite runtime

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ModuleRegistry(load_modules())
SCENARIO_FILES = scenarios.find_files(REGISTRY.bpmn_dirs())


def shipped_files() -> dict[str, str]:
    return SpecRegistry(REGISTRY.bpmn_dirs()).read_files()


def handlers() -> set[str]:
    return set(REGISTRY.extensions().handlers) | set(notify.SENDERS)


def test_the_shipped_processes_pass_our_rules():
    assert validate_files(shipped_files(), handlers()) == []


def test_a_broken_file_fails_with_the_element_id_of_each_problem():
    files = shipped_files()
    text = files["online_signing.bpmn"]
    text = text.replace("<bpmn:timeDate>answer_deadline</bpmn:timeDate>", "<bpmn:timeDate>'P1X'</bpmn:timeDate>")
    text = text.replace('serviceTaskOperator id="agreement.invite"', 'serviceTaskOperator id="agreement.nowhere"')
    text = text.replace('<spiffworkflow:property name="statusLabel" value="单位发起邀请 等待应约" />', "")
    text = text.replace("<bpmn:flowNodeRef>answer_invitation</bpmn:flowNodeRef>", "")  # out of every lane
    files["online_signing.bpmn"] = text
    problems = {(p.element_id, p.message.split("：")[0].split("（")[0]) for p in validate_files(files, handlers())}
    assert ("invite", "服务任务的处理程序 agreement.nowhere 没有注册") in problems
    assert ("answer_deadline_timer", "定时器时间不是有效的 ISO 8601 日期、时长或周期") in problems
    assert ("answer_invitation", "用户任务缺少 statusLabel 属性") in problems
    assert ("answer_invitation", "用户任务不在任何泳道中") in problems
    assert all(p.file == "online_signing.bpmn" for p in validate_files(files, handlers()))


def test_a_script_that_could_not_stop_is_refused_at_validation_with_its_element():
    files = shipped_files()
    text = files["destination_filing.bpmn"]
    assert "<bpmn:script>allow_return = True</bpmn:script>" in text
    files["destination_filing.bpmn"] = text.replace(
        "<bpmn:script>allow_return = True</bpmn:script>",
        "<bpmn:script>try:\n    x = 7 ** 300000\nexcept Exception:\n    pass</bpmn:script>", 1)
    problems = validate_files(files, handlers())
    assert len(problems) == 1 and problems[0].file == "destination_filing.bpmn"
    assert problems[0].element_id and "Try" in problems[0].message


def test_a_file_that_is_not_bpmn_is_a_problem_not_a_crash():
    problems = validate_files({"broken.bpmn": "<bpmn:definitions"}, handlers())
    assert len(problems) == 1 and problems[0].file == "broken.bpmn" and "XML" in problems[0].message


def test_every_process_ships_scenarios():
    covered = set()
    for path in SCENARIO_FILES:
        covered.update(sc.process for sc in scenarios.load(path))
    callers = {pid for m in REGISTRY.modules for pid in m.process_ids} - {"review"}
    assert callers - covered == set(), "processes without a scenario file"


@pytest.fixture(scope="module")
def outcomes():
    return scenarios.run_files(SCENARIO_FILES)


def test_every_shipped_scenario_passes(outcomes):
    # rules ONL-2 (invitation expiry with the clock moved), REV-1..6, MOD-6: the scenario files name them
    failed = [f"{o.file} / {o.name}: {o.message}" for o in outcomes if not o.passed]
    assert outcomes and not failed, "\n".join(failed)


def test_a_wrong_expectation_fails_and_says_what_it_saw(tmp_path):
    # rule ONL-2: the answer window is still open after 23 hours, so expecting expiry fails
    path = tmp_path / "wrong.scenarios.toml"
    path.write_text('''process = "online_signing"
[[scenario]]
name = "expiry expected too early"
start = { as = "Employer", invitation = { position = "x" }, answer_deadline = "@now+P1D", employer_name = "x" }
[[scenario.step]]
advance = "PT23H"
label = "签约邀请逾期未回应 签约失败"
''', encoding="utf-8")
    [outcome] = scenarios.run_files([path])
    assert not outcome.passed and "单位发起邀请 等待应约" in outcome.message


def test_an_expected_refusal_must_happen(tmp_path):
    # rule ONL-2: after the deadline has passed (and before the timer job), accepting is refused
    path = tmp_path / "refusal.scenarios.toml"
    path.write_text('''process = "online_signing"
[[scenario]]
name = "too late"
start = { as = "Employer", invitation = { position = "x" }, answer_deadline = "@now+P1D", employer_name = "x" }
[[scenario.step]]
as = "Graduate"
task = "answer_invitation"
data = { answer = "accept" }
error = "应约截止时间"
''', encoding="utf-8")
    [outcome] = scenarios.run_files([path])
    assert not outcome.passed and "却成功了" in outcome.message


def test_the_cli_prints_the_table_and_fails_on_a_failure():
    done = subprocess.run([sys.executable, "-m", "gradflow.cli", "processes", "test", "online_signing"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "通过" in done.stdout and "online_signing.scenarios.toml" in done.stdout
    # `processes validate` from the command line: tests/test_bpmnlint.py (a broken copy fails, the shipped pass)
