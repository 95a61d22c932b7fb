"""What the BPMN diagram of an instance or a version shows: the marks on its elements, and the XML it is drawn from.

An instance's marks come from its loaded workflow (one instance, one load); a version's marks (the process
dashboard) come from SQL aggregates over work_item rows, never from deserializing instances. Both have one shape,
which webapp/static/diagram.js reads:

    {"elements": {bpmn_id: {"state": "active", "completed": 2, "active": 1, "waiting": 0, ...}},
     "links": {bpmn_id: url}}   # e.g. a call activity -> the called process's diagram
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.models import ProcessInstance, ProcessVersion, WorkItem
from engine.specs import LoadedSpec

COUNTS = ("completed", "active", "waiting", "cancelled", "error")
# the one state an element is drawn in, when its tasks are in several: what needs attention first
PRIORITY = ("error", "active", "waiting", "completed", "cancelled")
STATE_KEY = {"COMPLETED": "completed", "READY": "active", "STARTED": "active", "WAITING": "waiting",
             "CANCELLED": "cancelled", "ERROR": "error"}
MARK_NAMES = {"completed": "已完成", "active": "进行中 / 待办理", "waiting": "等待中（定时器、消息）",
              "cancelled": "已取消", "error": "出错"}


def _finish(elements: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    done = {}
    for bpmn_id, counts in elements.items():
        state = next((k for k in PRIORITY if counts.get(k)), None)
        if state is not None:
            done[bpmn_id] = {**{k: counts.get(k, 0) for k in COUNTS}, "state": state}
    return done


def instance_marks(workflow: BpmnWorkflow) -> dict[str, dict[str, dict[str, Any]]]:
    """process id -> bpmn id -> counts per state. The called processes (the shared review) are keyed by their own
    process id: their diagram is a second one on the page."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for task in workflow.get_tasks():
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        key = STATE_KEY.get(TaskState.get_name(task.state))
        if not bpmn_id or key is None:
            continue  # a parser helper, or a predicted task (not reached)
        counts = found.setdefault(task.workflow.spec.name, {}).setdefault(bpmn_id, {})
        counts[key] = counts.get(key, 0) + 1
    return {process: _finish(elements) for process, elements in found.items()}


def called_elements(workflow: BpmnWorkflow) -> dict[str, str]:
    """bpmn id of a call activity (in whichever process) -> the process it called, for the instance's runs."""
    calls: dict[str, str] = {}
    for task in workflow.get_tasks():
        if task.id in workflow.subprocesses and getattr(task.task_spec, "bpmn_id", None):
            calls[task.task_spec.bpmn_id] = workflow.subprocesses[task.id].spec.name
    return calls


_PROCESS = re.compile(r'<(?:\w+:)?process\b[^>]*\bid="([^"]+)"')


def process_file(version: ProcessVersion, process_id: str) -> str | None:
    """The BPMN text (with its diagram interchange) of the file that defines a process, in a version's files."""
    for name in sorted(version.files):
        text = version.files[name]
        if process_id in _PROCESS.findall(text):
            return text
    return None


def processes_in(version: ProcessVersion) -> list[str]:
    """The process ids a version's files define: its own first, then the ones it calls."""
    ids: list[str] = []
    for name in sorted(version.files):
        ids.extend(_PROCESS.findall(version.files[name]))
    ids.sort(key=lambda p: p != version.process_id)
    return ids


def element_process(loaded: LoadedSpec) -> dict[str, str]:
    """bpmn id -> the process (own or called) it is an element of."""
    owner: dict[str, str] = {}
    for name, spec in [(loaded.process_id, loaded.spec), *loaded.subprocess_specs.items()]:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                owner.setdefault(bpmn_id, name)
    return owner


def element_names(loaded: LoadedSpec) -> dict[str, str]:
    names: dict[str, str] = {}
    for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                names.setdefault(bpmn_id, getattr(task_spec, "bpmn_name", None) or bpmn_id)
    return names


# -- the process dashboard: SQL aggregates per version -------------------------------------------------------
LIVE = ("running", "suspended")


def status_counts(session: Session) -> dict[tuple[str, int], dict[str, int]]:
    """(process id, version id) -> instance status -> count (failed: running with an incident)."""
    failed = func.sum(case((ProcessInstance.last_error.isnot(None), 1), else_=0))
    rows = session.execute(
        select(ProcessInstance.process_id, ProcessInstance.version_id, ProcessInstance.status, func.count(), failed)
        .group_by(ProcessInstance.process_id, ProcessInstance.version_id, ProcessInstance.status)).all()
    out: dict[tuple[str, int], dict[str, int]] = {}
    for process_id, version_id, status, count, errors in rows:
        entry = out.setdefault((process_id, version_id), {})
        entry[status] = count
        if status == "running" and errors:
            entry["failed"] = int(errors)
    return out


def waiting_steps(session: Session, version_id: int) -> dict[str, int]:
    """task name -> open work items of the version's live instances (where the instances wait for people)."""
    rows = session.execute(
        select(WorkItem.task_name, func.count(func.distinct(WorkItem.instance_id)))
        .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
        .where(ProcessInstance.version_id == version_id, ProcessInstance.status.in_(LIVE),
               WorkItem.state == "open", WorkItem.optional.is_(False))
        .group_by(WorkItem.task_name)).all()
    return {name: count for name, count in rows}


def completed_steps(session: Session, version_id: int) -> dict[str, int]:
    rows = session.execute(
        select(WorkItem.task_name, func.count())
        .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
        .where(ProcessInstance.version_id == version_id, WorkItem.state == "completed")
        .group_by(WorkItem.task_name)).all()
    return {name: count for name, count in rows}


def waiting_labels(session: Session, version_id: int) -> list[tuple[str, str, int]]:
    """(status, status label, count) of the version's live instances."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(ProcessInstance.status, ProcessInstance.status_label, func.count())
        .where(ProcessInstance.version_id == version_id, ProcessInstance.status.in_(LIVE))
        .group_by(ProcessInstance.status, ProcessInstance.status_label)
        .order_by(func.count().desc())).all()]


def timers_waiting(session: Session, version_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.version_id == version_id, ProcessInstance.status.in_(LIVE),
        ProcessInstance.next_timer_at.isnot(None))) or 0


def version_marks(waiting: dict[str, int], completed: dict[str, int], owner: dict[str, str],
                  process_id: str) -> dict[str, dict[str, Any]]:
    elements: dict[str, dict[str, Any]] = {}
    for name, count in completed.items():
        if owner.get(name) == process_id:
            elements.setdefault(name, {})["completed"] = count
    for name, count in waiting.items():
        if owner.get(name) == process_id:
            elements.setdefault(name, {})["active"] = count
    return _finish(elements)


@dataclass
class StepTime:
    task_name: str
    count: int
    median: float  # seconds
    p90: float
    longest: float


def _seconds(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", WorkItem.completed_at - WorkItem.created_at)
    return (func.julianday(WorkItem.completed_at) - func.julianday(WorkItem.created_at)) * 86400.0


def step_times(session: Session, version_id: int) -> list[StepTime]:
    """Median and p90 of created → completed per user task of a version (nearest rank), in one SQL query:
    ranked by a window function on both databases, only the two ranks per task come back."""
    seconds = _seconds(session).label("seconds")
    ranked = (
        select(WorkItem.task_name.label("task_name"), seconds,
               func.row_number().over(partition_by=WorkItem.task_name, order_by=seconds).label("rank"),
               func.count().over(partition_by=WorkItem.task_name).label("n"))
        .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
        .where(ProcessInstance.version_id == version_id, WorkItem.state == "completed",
               WorkItem.completed_at.isnot(None))
        .subquery())
    # nearest rank: the ceil(q * n)-th value; ceil(x) = -floor(-x) in integer arithmetic
    median_rank = (ranked.c.n + 1) // 2
    p90_rank = (ranked.c.n * 9 + 9) // 10
    rows = session.execute(
        select(ranked.c.task_name, ranked.c.n, ranked.c.rank, ranked.c.seconds, median_rank, p90_rank)
        .where((ranked.c.rank == median_rank) | (ranked.c.rank == p90_rank) | (ranked.c.rank == ranked.c.n))
    ).all()
    found: dict[str, StepTime] = {}
    for task_name, n, rank, secs, med, p90 in rows:
        entry = found.setdefault(task_name, StepTime(task_name, n, 0.0, 0.0, 0.0))
        value = float(secs or 0)
        if rank == med:
            entry.median = value
        if rank == p90:
            entry.p90 = value
        if rank == n:
            entry.longest = value
    return sorted(found.values(), key=lambda s: -s.count)


def duration(seconds: float) -> str:
    """A duration in words: 3天4小时, 2小时5分, 40秒 (in the page's language)."""
    s = int(round(seconds))
    if s < 60:
        return str(_("%(s)s秒", s=s))
    minutes, _rest = divmod(s, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return str(_("%(d)s天%(h)s小时", d=days, h=hours) if hours else _("%(d)s天", d=days))
    if hours:
        return str(_("%(h)s小时%(m)s分", h=hours, m=minutes) if minutes else _("%(h)s小时", h=hours))
    return str(_("%(m)s分", m=minutes))


def legend(states: Iterable[str] = PRIORITY) -> list[tuple[str, str]]:
    return [(s, MARK_NAMES[s]) for s in states]
