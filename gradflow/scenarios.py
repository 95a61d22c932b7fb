"""Scenario tests for process designers (`gradflow processes test`).

A scenario file sits beside the BPMN it exercises, named ``<anything>.scenarios.toml``::

    process = "destination_filing"

    [[scenario]]
    name = "院系、学校审核通过"
    start = { review_levels = "department_school" }      # start data (graduate_id is added)
    [[scenario.step]]
    as = "Graduate"                                       # the lane that acts: Graduate, Department, School, Employer
    task = "fill_destination"                             # the user task's BPMN id
    data = { application = { dest_type = "..." } }        # the form data the step completes it with
    label = "等待院系审核"                                  # the instance's status label afterwards
    next = ["department_review"]                          # the open user tasks afterwards (ids, any order)
    [[scenario.step]]
    advance = "P1DT1M"                                    # move the clock, then fire due timers
    label = "签约邀请逾期未回应 签约失败"

A scenario may begin with ``[[scenario.setup]]`` entries (each a ``process``, its ``start`` and its ``step``
list, in the same form): instances of the same graduate run first, to their end, so that e.g. a termination
has a signed agreement to end; ``"@agreement_id"`` is then the graduate's newest agreement, and an instance
started by the graduate carries that agreement's employer in its scope (the employer answers a termination).

A step may instead send a message (``message = "withdraw"``) or expect a refusal (``error = "part of the
message"``: the step must fail with an error containing it and change nothing). Strings of the form
``"@now+P1D"`` in data become the scenario clock's time plus that ISO 8601 duration; ``"@graduate_id"`` the
scenario's graduate id; ``"@task.application"`` a copy of that value of the task's data (what a review form
passes on as its output).

Each scenario runs against the real engine and the real service-task handlers on a scratch SQLite database
(a province, a school with two departments, a fresh graduate and an employer), with a movable clock
(time-machine). Nothing here is used by the running platform.
"""
from __future__ import annotations

import copy
import re
import tempfile
import tomllib
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select

from core.config import Settings
from core.db import Base
from core.errors import EngineError
from domain import seed
from domain.models import Agreement, Department, Employer, Graduate, School
from engine.models import ProcessInstance, WorkItem
from engine.services import Actor
from engine.timers import fire_due_timers

ALL_AREAS = {"basic": "rw", "archive": "rw", "hukou": "rw"}
_NOW_TOKEN = re.compile(r"^@now(?:\+(P[0-9A-Z.]+))?$")
SCENARIO_START = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)  # a weekday in the signing season


class ScenarioError(Exception):
    pass


@dataclass
class Outcome:
    file: str
    name: str
    passed: bool
    steps: int
    message: str = ""


@dataclass
class Scenario:
    file: Path
    process: str
    name: str
    start: dict[str, Any]
    steps: list[dict[str, Any]]
    graduate: dict[str, Any] = field(default_factory=dict)
    setup: list[dict[str, Any]] = field(default_factory=list)  # earlier instances of the same graduate


def find_files(directories: Iterable[Path]) -> list[Path]:
    return sorted(p for d in directories for p in Path(d).rglob("*.scenarios.toml"))


def load(path: Path) -> list[Scenario]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: TOML 无法解析：{exc}") from exc
    process = doc.get("process")
    if not isinstance(process, str) or not process:
        raise ScenarioError(f"{path.name}: 缺少 process（要测试的流程 id）")
    found = []
    for i, raw in enumerate(doc.get("scenario") or [], start=1):
        if not isinstance(raw, dict) or not raw.get("steps" if "steps" in raw else "step"):
            raise ScenarioError(f"{path.name}: 第 {i} 个场景没有步骤")
        found.append(Scenario(file=path, process=raw.get("process", process), name=raw.get("name", f"场景 {i}"),
                              start=dict(raw.get("start") or {}), steps=list(raw.get("step") or raw.get("steps") or []),
                              graduate=dict(raw.get("graduate") or {}), setup=list(raw.get("setup") or [])))
    if not found:
        raise ScenarioError(f"{path.name}: 没有场景（[[scenario]]）")
    return found


def duration(text: str, start: datetime = SCENARIO_START) -> timedelta:
    """An ISO 8601 duration (P1D, PT2H, P1M ...) from `start`, as SpiffWorkflow's timers read it."""
    try:
        if not text.startswith("P"):
            raise ValueError(text)
        delta: timedelta = TimerEventDefinition.get_timedelta_from_start(
            TimerEventDefinition.parse_iso_duration(text), start)
        return delta
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises assorted errors
        raise ScenarioError(f"不是有效的 ISO 8601 时长：{text!r}") from exc


class _World:
    """The scratch organisations every scenario of one run shares; each scenario gets its own graduate."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        with runtime.Session() as s:
            province = seed.make_province(s, enabled_modules=["destination", "archive", "hukou"])
            school = seed.make_school(s, province, open_modules=["destination", "archive", "hukou"])
            self.school_id = school.id
            self.departments = {name: seed.make_department(s, school, name).id for name in ("信息学院", "经济学院")}
            employer = seed.make_employer(s, "厦门星海科技有限公司", username="scenario_employer")
            self.employer_id = employer.id
            s.commit()

    def graduate(self, overrides: dict[str, Any]) -> int:
        with self.runtime.Session() as s:
            school = s.get(School, self.school_id)
            department = s.get(Department, self.departments[overrides.pop("department", "信息学院")])
            grad = seed.make_graduate(s, school, department, username=f"g{uuid.uuid4().hex[:10]}", **overrides)
            s.commit()
            return grad.id

    def actor(self, session: Any, role: str, graduate: Graduate) -> Actor:
        if role == "Graduate":
            return Actor(id=None, name=graduate.name, role=role, school_id=graduate.school_id,
                         department_id=graduate.department_id, graduate_id=graduate.id)
        if role == "Department":
            return Actor(id=None, name="院系审核员", role=role, school_id=graduate.school_id,
                         department_id=graduate.department_id, permissions=ALL_AREAS)
        if role == "School":
            return Actor(id=None, name="学校审核员", role=role, school_id=graduate.school_id, permissions=ALL_AREAS)
        if role == "Employer":
            employer = session.get(Employer, self.employer_id)
            return Actor(id=None, name=employer.name, role=role, employer_id=employer.id)
        raise ScenarioError(f"未知的角色 {role!r}（Graduate、Department、School、Employer）")


class _Clock:
    def __init__(self) -> None:
        self.now = SCENARIO_START
        self.agreement_id: int | None = None  # the graduate's newest agreement when the scenario started

    @contextmanager
    def frozen(self) -> Iterator[None]:
        with time_machine.travel(self.now, tick=False):
            yield


def _resolve(value: Any, clock: _Clock, graduate_id: int, agreement_id: int | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, clock, graduate_id, agreement_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, clock, graduate_id, agreement_id) for v in value]
    if value == "@graduate_id":
        return graduate_id
    if value == "@agreement_id":
        if agreement_id is None:
            raise ScenarioError("@agreement_id：该毕业生还没有协议（先在 setup 中签约）")
        return agreement_id
    if isinstance(value, str):
        match = _NOW_TOKEN.match(value)
        if match:
            return (clock.now + (duration(match.group(1), clock.now) if match.group(1) else timedelta(0))).isoformat()
    return value


def _from_task(value: Any, task_data: dict[str, Any]) -> Any:
    """"@task.<name>" becomes a copy of that value of the task's data (e.g. the application a review passes on)."""
    if isinstance(value, dict):
        return {k: _from_task(v, task_data) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_task(v, task_data) for v in value]
    if isinstance(value, str) and value.startswith("@task."):
        return copy.deepcopy(task_data.get(value[len("@task."):]))
    return value


def _open_tasks(session: Any, instance_id: int) -> list[WorkItem]:
    return list(session.scalars(select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
                                .order_by(WorkItem.id)))


def run_scenario(runtime: Any, world: _World, scenario: Scenario, graduate_id: int | None = None) -> Outcome:
    clock = _Clock()
    where = f"{scenario.file.name}"
    if graduate_id is None:
        graduate_id = world.graduate(dict(scenario.graduate))
    for number, setup in enumerate(scenario.setup, start=1):
        earlier = Scenario(file=scenario.file, process=str(setup.get("process") or ""), name=f"setup {number}",
                           start=dict(setup.get("start") or {}), steps=list(setup.get("step") or []))
        outcome = run_scenario(runtime, world, earlier, graduate_id)
        if not outcome.passed:
            return Outcome(where, scenario.name, False, 0, f"准备步骤 {number}（{earlier.process}）：{outcome.message}")
    done = 0
    try:
        agreement_id, agreement_employer = _newest_agreement(runtime, graduate_id)
        clock.agreement_id = agreement_id
        with clock.frozen(), runtime.Session() as s:
            grad = s.get(Graduate, graduate_id)
            role = "Employer" if scenario.process in ("online_signing",) else "Graduate"
            start = dict(scenario.start)
            actor = world.actor(s, start.pop("as", role), grad)
            employer_id = world.employer_id if actor.role == "Employer" else agreement_employer
            scope = {"graduate_id": grad.id, "school_id": grad.school_id, "department_id": grad.department_id,
                     "cohort": grad.cohort, "employer_id": employer_id}
            data = _resolve({"graduate_id": grad.id, "review_levels": "department_school", **start},
                            clock, grad.id, agreement_id)
            instance = runner_start(runtime, s, scenario.process, actor, scope, data, grad)
            s.commit()
            instance_id = instance.id
        for number, step in enumerate(scenario.steps, start=1):
            _run_step(runtime, world, clock, scenario, instance_id, graduate_id, number, dict(step))
            done = number
    except ScenarioError as exc:
        return Outcome(where, scenario.name, False, done, str(exc))
    except EngineError as exc:
        return Outcome(where, scenario.name, False, done, f"第 {done + 1} 步出错：{exc.message}")
    except Exception as exc:  # noqa: BLE001 - a broken scenario or process is a failed row, not a crash
        return Outcome(where, scenario.name, False, done, f"第 {done + 1} 步异常：{type(exc).__name__}: {exc}")
    return Outcome(where, scenario.name, True, done)


def runner_start(runtime: Any, session: Any, process_id: str, actor: Actor, scope: dict[str, Any],
                 data: dict[str, Any], grad: Graduate) -> ProcessInstance:
    instance: ProcessInstance = runtime.runner.start(session, process_id, actor, scope=scope, data=data,
                                                     subject_name=grad.name, subject_no=grad.student_no)
    return instance


def _newest_agreement(runtime: Any, graduate_id: int) -> tuple[int | None, int | None]:
    with runtime.Session() as s:
        row = s.execute(select(Agreement.id, Agreement.employer_id).where(Agreement.graduate_id == graduate_id)
                        .order_by(Agreement.id.desc()).limit(1)).first()
        return (row[0], row[1]) if row else (None, None)


def _run_step(runtime: Any, world: _World, clock: _Clock, scenario: Scenario, instance_id: int, graduate_id: int,
              number: int, step: dict[str, Any]) -> None:
    runner = runtime.runner
    expected_error = step.pop("error", None)
    try:
        if "advance" in step:
            clock.now += duration(str(step["advance"]), clock.now)
            with clock.frozen():
                fire_due_timers(runtime.Session, runner, now=clock.now.replace(tzinfo=None))
        else:
            with clock.frozen(), runtime.Session() as s:
                s.connection(execution_options={"sqlite_immediate": True})
                grad = s.get(Graduate, graduate_id)
                actor = world.actor(s, step.get("as", "Graduate"), grad)
                instance = s.get(ProcessInstance, instance_id)
                if "message" in step:
                    runner.send_message(s, instance, step["message"], actor)
                else:
                    task = step.get("task")
                    items = _open_tasks(s, instance_id)
                    item = next((i for i in items if i.task_name == task), None)
                    if item is None:
                        raise ScenarioError(f"第 {number} 步：任务 {task!r} 没有打开（打开的任务："
                                            f"{', '.join(i.task_name for i in items) or '无'}）")
                    data = _resolve(copy.deepcopy(step.get("data") or {}), clock, graduate_id, clock.agreement_id)

                    def build(task: Any, data: dict[str, Any] = data) -> dict[str, Any]:
                        return _from_task(data, task.data)

                    runner.complete(s, item.id, actor, build, decision=data.get("decision"))
                s.commit()
    except EngineError as exc:
        if expected_error and expected_error in exc.message:
            return
        if expected_error:
            raise ScenarioError(f"第 {number} 步：应报错“{expected_error}”，实际报错“{exc.message}”") from exc
        raise ScenarioError(f"第 {number} 步出错：{exc.message}") from exc
    if expected_error:
        raise ScenarioError(f"第 {number} 步：应报错“{expected_error}”，却成功了")
    _check(runtime, instance_id, number, step)


def _check(runtime: Any, instance_id: int, number: int, step: dict[str, Any]) -> None:
    with runtime.Session() as s:
        instance = s.get(ProcessInstance, instance_id)
        if "label" in step and instance.status_label != step["label"]:
            raise ScenarioError(f"第 {number} 步：状态应为“{step['label']}”，实际为“{instance.status_label}”")
        if "status" in step and instance.status != step["status"]:
            raise ScenarioError(f"第 {number} 步：实例状态应为 {step['status']}，实际为 {instance.status}")
        if "next" in step:
            open_now = sorted(i.task_name for i in _open_tasks(s, instance_id))
            if open_now != sorted(step["next"]):
                raise ScenarioError(f"第 {number} 步：打开的任务应为 {sorted(step['next'])}，实际为 {open_now}")


@contextmanager
def scratch_runtime(modules: list[Any] | None = None) -> Iterator[Any]:
    """A runtime on a throw-away SQLite file with every process deployed."""
    from gradflow.runtime import build_runtime

    with tempfile.TemporaryDirectory(prefix="gradflow-scenarios-") as tmp:
        settings = Settings(mode="embedded", database_url=f"sqlite:///{tmp}/scenarios.sqlite3",
                            secret_key=uuid.uuid4().hex, var_dir=Path(tmp) / "var")
        runtime = build_runtime(settings, modules=modules, enqueue=lambda *_a: None)
        Base.metadata.create_all(runtime.db)
        runtime.deploy()
        try:
            yield runtime
        finally:
            runtime.db.dispose()


def run_files(paths: Iterable[Path], modules: list[Any] | None = None) -> list[Outcome]:
    scenarios: list[Scenario] = []
    outcomes: list[Outcome] = []
    for path in paths:
        try:
            scenarios.extend(load(path))
        except ScenarioError as exc:
            outcomes.append(Outcome(path.name, "(文件)", False, 0, str(exc)))
    with scratch_runtime(modules) as runtime:
        world = _World(runtime)
        outcomes.extend(run_scenario(runtime, world, sc) for sc in scenarios)
    return outcomes


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def table(outcomes: list[Outcome]) -> str:
    """The pass/fail table `gradflow processes test` prints (aligned for CJK text in a terminal)."""
    rows = [("结果", "文件", "场景", "步骤", "说明")]
    rows += [("通过" if o.passed else "失败", o.file, o.name, str(o.steps), o.message) for o in outcomes]
    widths = [max(_width(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(_pad(r[i], widths[i]) for i in range(4)) + ("  " + r[4] if r[4] else "") for r in rows]
    passed = sum(o.passed for o in outcomes)
    lines.append(f"{passed}/{len(outcomes)} 通过")
    return "\n".join(lines)
