"""Restricted BPMN scripts: imports, dunder access and open are refused; runaway scripts stop."""
from __future__ import annotations

import pytest

from core.errors import EngineError, ScriptRefused
from engine.sandbox import RestrictedEnvironment
from engine.services import SYSTEM
from engine.specs import SpecRegistry

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="evil_{n}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script" />
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
EVIL = {
    "import": "x = __import__('os').getcwd()",
    "import_statement": "import os",
    "dunder": "x = ().__class__.__base__.__subclasses__()",
    "open": "x = open('/etc/passwd').read()",
    "getattr": "x = getattr(1, 'real')",
}


@pytest.mark.parametrize("name", sorted(EVIL))
def test_a_bpmn_script_that_escapes_is_refused(runtime, tmp_path, name):
    # rule ROLE-1
    (tmp_path / f"evil_{name}.bpmn").write_text(PROCESS.format(n=name, script=EVIL[name]), encoding="utf-8")
    registry = SpecRegistry([tmp_path])
    with runtime.Session() as s:
        registry.deploy(s)
        s.commit()
    from engine.runner import Runner

    runner = Runner(registry, runtime.extensions, runtime.runner.policy, script_time_limit=1)
    with runtime.Session() as s:
        with pytest.raises(EngineError) as info:
            runner.start(s, f"evil_{name}", SYSTEM, scope={})
        s.rollback()
    assert "流程脚本" in info.value.message


def test_environment_refuses_and_stops_directly():
    # rule ROLE-1
    env = RestrictedEnvironment(time_limit=0.3)
    for source in EVIL.values():
        with pytest.raises(ScriptRefused):
            env.execute(source, {})
    with pytest.raises(ScriptRefused, match="While"):
        env.execute("n = 0\nwhile True:\n    n += 1", {})
    # the time limit stays as a second fence: script code that runs too long is stopped
    from engine.sandbox import SCRIPT_FILENAME, _run_limited

    endless = compile("n = 0\nwhile True:\n    n += 1", SCRIPT_FILENAME, "exec")
    with pytest.raises(ScriptRefused, match="超时"):
        _run_limited(lambda: exec(endless, {}), 0.3)  # noqa: S102
    data = {"a": 2}
    env.execute("b = a * 3\nitems = [a, b] + [1]", data)
    assert data == {"a": 2, "b": 6, "items": [2, 6, 1]}


@pytest.mark.parametrize("source", [
    "try:\n    x = 1\nexcept Exception:\n    pass",  # would catch its own timeout and run on
    "n = 0\nwhile True:\n    n += 1",
    "x = 7 ** 30000000",  # seconds of C, no trace event to stop it
    "x = 'a' * 2000000000",  # 2 GB
    "x = [i for i in range(10)]",
    "x = 'a'.ljust(2000000000)",
    "s = a + a\n" + "s = s + s\n" * 12,  # doubling, 2^13 times the data
    "f = lambda: 1",
])
def test_code_that_could_run_unbounded_is_refused_before_it_runs(source):
    # rule ROLE-1 (the sandbox), issue 12: bounded shape, refused at compile time, not stopped half-way
    env = RestrictedEnvironment(time_limit=5)
    data = {"a": "x"}
    with pytest.raises(ScriptRefused, match="已拒绝执行"):
        env.execute(source, data)
    assert data == {"a": "x"}
    assert env.evaluate("decision == 'approve'", {"decision": "approve"}) is True


def test_a_script_is_checked_and_compiled_once_per_process_and_a_refusal_every_time():
    # issue 11 (and the restricted BPMN scripts of the brief): every step builds a new script engine; the checked
    # code is shared by all of them, so a gateway condition is not compiled again on each step
    from engine import sandbox

    source = "review_levels == 'department_school' and 1 + 2 == 3"
    before = sandbox._compile.cache_info()
    for _ in range(3):
        assert RestrictedEnvironment().evaluate(source, {"review_levels": "department_school"}) is True
    after = sandbox._compile.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 2
    for _ in range(2):  # refused each time: an exception is not a cached result
        with pytest.raises(ScriptRefused):
            RestrictedEnvironment().evaluate("__import__('os')", {})
