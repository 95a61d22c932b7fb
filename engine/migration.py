"""Move running instances to a newer version of their process (issue 10, item 6), when SpiffWorkflow's diff says
it is safe.

The diff is SpiffWorkflow 3.2.0's own (SpiffWorkflow.bpmn.util.diff): a SpecDiff aligns the task specs of the two
versions by BPMN id (and by structure when an id is gone) and lists added, removed and changed specs; a WorkflowDiff
applies it to one instance's task tree. The rule applied here, element by element of the instance:

- an element the instance has not reached yet (a predicted task) may be removed or changed: it is predicted again;
- an element the instance stands in (ready, waiting, started) may gain or lose connections (a task added before or
  after it), nothing else: it is reset in place, keeping its data, its timer and its task id (so its work item);
- an element the instance has passed (completed, cancelled) must be unchanged: when it is removed or changed, or
  its connections changed, the instance is past the change and stays on its version.

Each check runs the whole move in memory, down to a save-and-load round trip: a dry run reports exactly what a real
move would do. A real move is one transaction per instance (the caller commits), audited with the admin and reason.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, EngineError, NotFound
from engine.models import AuditEvent, ProcessInstance, ProcessVersion, WorkItem
from engine.runner import Runner, props, render_label
from engine.serialization import SERIALIZER, dump_workflow, load_workflow
from engine.services import Actor
from engine.specs import LoadedSpec

STRUCTURAL = {"inputs", "outputs"}  # connections: what a task added before or after an element changes
ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
NOT_REACHED = TaskState.PREDICTED_MASK | TaskState.FUTURE
MOVABLE_STATUSES = ("running", "suspended")


@dataclass
class VersionDiff:
    """The spec diff of two versions of one process, computed once for a whole batch."""

    source: LoadedSpec
    target: LoadedSpec
    top: SpecDiff
    called: dict[str, SpecDiff | None]  # called process name -> its diff (None: gone from the new version)
    added: list[str]  # names of the elements the new version adds
    hashes: tuple[str, str] = ("", "")  # content hashes (first 12) of the two versions, for the audit


@dataclass
class Verdict:
    instance_id: int
    movable: bool = False
    reasons: list[str] = field(default_factory=list)  # why it stays (empty when it moves)
    keeps: list[str] = field(default_factory=list)  # the elements it stands in, kept in the new version
    moved: bool = False  # a real move happened
    label: str = ""  # the instance's status label
    serialized: str = field(default="", repr=False)  # the moved workflow, checked to load again


def _name(spec: Any) -> str:
    bpmn_id = getattr(spec, "bpmn_id", None)
    name = getattr(spec, "bpmn_name", None)
    if bpmn_id:
        return f"{name}（{bpmn_id}）" if name else str(bpmn_id)
    return str(spec.name)  # a parser helper (e.g. a boundary event split)


def _diff_specs(source: Any, target: Any) -> SpecDiff:
    return SpecDiff(SERIALIZER.registry, source, target)


def version_diff(runner: Runner, session: Session, source_id: int, target_id: int) -> VersionDiff:
    source = runner.registry.load(session, source_id)
    target = runner.registry.load(session, target_id)
    if source.process_id != target.process_id:
        raise Conflict("目标版本属于另一个流程，不能迁移")
    top = _diff_specs(source.spec, target.spec)
    called: dict[str, SpecDiff | None] = {}
    for name, spec in source.subprocess_specs.items():
        new = target.subprocess_specs.get(name)
        called[name] = _diff_specs(spec, new) if new is not None else None
    added = [_name(s) for s in top.added if getattr(s, "bpmn_id", None)]
    for diff in called.values():
        if diff is not None:
            added.extend(_name(s) for s in diff.added if getattr(s, "bpmn_id", None))
    hashes = tuple(session.scalar(select(ProcessVersion.content_hash).where(ProcessVersion.id == i)) or ""
                   for i in (source_id, target_id))
    return VersionDiff(source=source, target=target, top=top, called=called, added=added,
                       hashes=(hashes[0][:12], hashes[1][:12]))


def _judge(spec_diff: SpecDiff, tasks: Iterable[Any], reasons: list[str]) -> None:
    changed = spec_diff.changed
    removed = set(spec_diff.removed)
    for task in tasks:
        spec = task.task_spec
        if task.has_state(NOT_REACHED):
            continue  # not reached yet: predicted again from the new version
        keys = set(changed.get(spec, ()))
        active = task.has_state(ACTIVE)
        if spec in removed:
            reasons.append(f"{'停在' if active else '已越过'}新版本删除的步骤：{_name(spec)}")
        elif keys - STRUCTURAL:
            what = "、".join(sorted(keys - STRUCTURAL))
            reasons.append(f"{'停在' if active else '已越过'}新版本修改的步骤：{_name(spec)}（改动：{what}）")
        elif keys and not active:
            reasons.append(f"已越过新版本改动连线的步骤：{_name(spec)}（其前后新增或删除的步骤不会执行）")


def _repredict_started(workflow: Any, spec_diff: SpecDiff) -> None:
    """A started task (a call activity) whose connections changed: predict its children again."""
    changed = spec_diff.changed
    for task in workflow.get_tasks(state=TaskState.STARTED, skip_subprocesses=True):
        original = next((o for o, n in spec_diff.alignment.items() if n is task.task_spec), None)
        if original is None or not changed.get(original):
            continue
        for child in list(task.children):  # FUTURE children are definite to the library: drop them here
            if child.has_state(NOT_REACHED):
                workflow._remove_task(child.id)
        task._sync_children(task.task_spec.outputs, TaskState.FUTURE)
        for child in task.children:
            child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)


def _move(workflow: BpmnWorkflow, diffs: list[tuple[Any, WorkflowDiff, SpecDiff, Any]]) -> None:
    kept = {}
    for wf, _, _, _ in diffs:
        for task in wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True):
            kept[task.id] = (task.data, task.internal_data)
    for wf, wf_diff, spec_diff, new_spec in diffs:
        migrate_workflow(wf_diff, wf, new_spec)
        _repredict_started(wf, spec_diff)
    for wf, _, _, _ in diffs:
        for task in wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True):
            if task.id in kept:  # the reset keeps the task id; give back its data (drafts) and its timer
                task.data, task.internal_data = kept[task.id]


def _diffs(workflow: BpmnWorkflow, diff: VersionDiff,
           reasons: list[str]) -> list[tuple[Any, WorkflowDiff, SpecDiff, Any]]:
    top = WorkflowDiff(workflow, diff.top)
    _judge(diff.top, workflow.get_tasks(skip_subprocesses=True), reasons)
    diffs: list[tuple[Any, WorkflowDiff, SpecDiff, Any]] = [(workflow, top, diff.top, diff.target.spec)]
    for sub in workflow.subprocesses.values():
        sub_diff = diff.called.get(sub.spec.name)
        if sub_diff is None:
            reasons.append(f"新版本不再调用子流程：{sub.spec.description or sub.spec.name}")
            continue
        _judge(sub_diff, sub.get_tasks(skip_subprocesses=True), reasons)
        diffs.append((sub, WorkflowDiff(sub, sub_diff), sub_diff, diff.target.subprocess_specs[sub.spec.name]))
    return diffs


def check(runner: Runner, session: Session, instance: ProcessInstance,
          diff: VersionDiff) -> tuple[Verdict, BpmnWorkflow | None]:
    """What moving this instance would do; the moved workflow (in memory only) when it can move."""
    verdict = Verdict(instance_id=instance.id, label=instance.status_label)
    reasons = verdict.reasons
    if instance.process_id != diff.target.process_id:
        reasons.append("目标版本属于另一个流程")
    elif instance.version_id == diff.target.version_id:
        reasons.append("已是目标版本")
    elif instance.version_id != diff.source.version_id:
        reasons.append(f"实例版本为 #{instance.version_id}，不是 #{diff.source.version_id}")
    elif diff.target.version_id < instance.version_id:
        reasons.append("目标版本不比当前版本新")
    if instance.status not in MOVABLE_STATUSES:
        reasons.append("流程已结束，无需迁移")
    if instance.last_error:
        reasons.append("有未处理的故障，请先重试失败步骤")
    if reasons:
        return verdict, None
    workflow = runner.load(session, instance)
    try:
        diffs = _diffs(workflow, diff, reasons)
    except Exception as exc:  # noqa: BLE001 - a tree the library cannot align is not safe to move
        reasons.append(f"无法比较实例与新版本：{exc}")
    if reasons:
        return verdict, None
    verdict.keeps = [_name(t.task_spec) for t in workflow.get_tasks(state=ACTIVE)
                     if getattr(t.task_spec, "bpmn_id", None)]
    try:
        _move(workflow, diffs)
        workflow.subprocess_specs = diff.target.subprocess_specs
        verdict.serialized = _verify(workflow, diff.target)
    except Exception as exc:  # noqa: BLE001 - any failure of the library's move means: not safe
        reasons.append(f"无法对齐到新版本：{exc}")
        return verdict, None
    verdict.movable = True
    return verdict, workflow


def _verify(workflow: BpmnWorkflow, target: LoadedSpec) -> str:
    """Every task now uses a spec of the new version, and the result saves and loads again."""
    specs = [(workflow, target.spec)] + [(s, target.subprocess_specs.get(s.spec.name))
                                         for s in workflow.subprocesses.values()]
    for wf, spec in specs:
        for task in wf.get_tasks(skip_subprocesses=True):
            if spec is None or spec.task_specs.get(task.task_spec.name) is not task.task_spec:
                raise EngineError(f"步骤 {_name(task.task_spec)} 在新版本中没有对应")
    text = dump_workflow(workflow)
    load_workflow(text, target.spec, target.subprocess_specs)
    return text


def migrate_instance(runner: Runner, session: Session, instance: ProcessInstance, diff: VersionDiff,
                     actor: Actor, reason: str, *, dry_run: bool = False) -> Verdict:
    """Check one instance and, unless a dry run, move it (in the caller's transaction, left uncommitted)."""
    verdict, workflow = check(runner, session, instance, diff)
    if dry_run or workflow is None:
        return verdict
    before = {"version_id": instance.version_id, "content_hash": diff.hashes[0],
              "status_label": instance.status_label}
    instance.version_id = diff.target.version_id
    instance.serialized = verdict.serialized
    instance.next_timer_at = runner._next_timer(workflow)
    instance.status_label = runner._status_label(workflow)
    instance.updated_at = utcnow()
    _refresh_items(runner, session, instance, workflow, actor)
    session.add(AuditEvent(
        instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="migrate", reason=reason,
        data_before=before,
        data_after={"version_id": instance.version_id, "content_hash": diff.hashes[1],
                    "status_label": instance.status_label},
        status_label=instance.status_label))
    runner._flush(session)
    verdict.moved = True
    verdict.label = instance.status_label
    return verdict


def _refresh_items(runner: Runner, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow,
                   actor: Actor) -> None:
    """The open work items keep their rows (same task ids); their form key and labels come from the new spec."""
    runner._sync_work_items(session, instance, workflow, actor)
    for item in session.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id,
                                                       WorkItem.state == "open")):
        task = workflow.get_task_from_id(UUID(item.task_id))
        if task is None:
            continue
        p = props(task.task_spec)
        fresh = {"form_key": p.get("formKey", item.form_key), "title": task.task_spec.bpmn_name or item.title,
                 "status_label": render_label(p.get("statusLabel", ""), task.data)}
        for key, value in fresh.items():
            if getattr(item, key) != value:  # an unchanged row stays clean (the statistics refresh skips it)
                setattr(item, key, value)


def candidates(session: Session, version_id: int) -> list[int]:
    """The instances of a version a batch looks at: every one not ended, oldest first."""
    return list(session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.version_id == version_id, ProcessInstance.status.in_(MOVABLE_STATUSES))
        .order_by(ProcessInstance.id)))


def migrate_batch(runner: Runner, session_factory: Callable[[], Session], source_id: int, target_id: int,
                  actor: Actor, reason: str, *, dry_run: bool = False,
                  instance_ids: list[int] | None = None) -> list[Verdict]:
    """Every instance of a version (or the ones given), each in its own transaction; one failure stops nothing."""
    with session_factory() as session:
        ids = instance_ids if instance_ids is not None else candidates(session, source_id)
        try:
            diff = version_diff(runner, session, source_id, target_id)  # spec objects only: shared by every step
        except EngineError as exc:
            return [Verdict(instance_id=i, reasons=[exc.message]) for i in ids]
    results = []
    for instance_id in ids:
        with session_factory() as session:
            if not dry_run:
                session.connection(execution_options={"sqlite_immediate": True})
            try:
                instance = session.get(ProcessInstance, instance_id)
                if instance is None:
                    raise NotFound("流程实例不存在")
                verdict = migrate_instance(runner, session, instance, diff, actor, reason, dry_run=dry_run)
                if verdict.moved:
                    session.commit()
                else:
                    session.rollback()
            except EngineError as exc:
                session.rollback()
                verdict = Verdict(instance_id=instance_id, reasons=[exc.message])
        results.append(verdict)
    return results


def newer_versions(session: Session, version_id: int) -> list[ProcessVersion]:
    row = session.get(ProcessVersion, version_id)
    if row is None:
        return []
    return list(session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_id == row.process_id, ProcessVersion.id > version_id).order_by(ProcessVersion.id)))


def process_versions(session: Session, process_id: str) -> list[ProcessVersion]:
    """A process's versions, oldest first: number n (1, 2, …) is the n-th deployed."""
    return list(session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                .order_by(ProcessVersion.id)))


def migrate_process(runner: Runner, session_factory: Callable[[], Session], process_id: str, number: int,
                    actor: Actor, reason: str, *, dry_run: bool = False) -> list[Verdict]:
    """Every live instance of the older versions of a process, to its version number `number` (1-based)."""
    with session_factory() as session:
        versions = process_versions(session, process_id)
    if not 1 <= number <= len(versions):
        raise NotFound(f"流程 {process_id} 没有第 {number} 版（共 {len(versions)} 版）")
    target = versions[number - 1]
    results: list[Verdict] = []
    for source in versions[:number - 1]:
        results.extend(migrate_batch(runner, session_factory, source.id, target.id, actor, reason, dry_run=dry_run))
    return results
