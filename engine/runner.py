"""One step = one transaction.

Every public function here runs inside the caller's session transaction and
leaves it uncommitted: load the instance, check the actor, change the workflow,
run engine steps (service handlers write domain rows), save the instance with
its optimistic version, update the inbox projection, write the audit event.
The caller commits; a concurrent second writer fails the version check and gets
a Conflict, never a silent overwrite.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import TaskState
from sqlalchemy import Table, bindparam, event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from core.db import transaction_memo, utcnow
from core.errors import Conflict, EngineError, Forbidden, NotFound
from engine import services
from engine.models import AuditEvent, ProcessInstance, WorkItem
from engine.sandbox import RestrictedEnvironment, current_service_call
from engine.serialization import WorkflowCache, dump_workflow, load_workflow
from engine.specs import SpecRegistry

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What a step stores on its task: the data, or a function building it from the loaded task.
StepData = dict[str, Any] | Callable[[Any], dict[str, Any]]

OPEN_ITEMS = "open_work_items"  # transaction_memo key: an instance's open items after its last sync
_ITEM_WITH_INSTANCE = (select(WorkItem, ProcessInstance)
                       .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
                       .where(WorkItem.id == bindparam("item_id")))
_INSTANCE_WITH_OPEN_ITEMS = (select(ProcessInstance, WorkItem)
                             .outerjoin(WorkItem, (WorkItem.instance_id == ProcessInstance.id)
                                        & (WorkItem.state == "open"))
                             .where(ProcessInstance.id == bindparam("instance_id")).order_by(WorkItem.id))
# transaction_memo key: the audit events of an instance this transaction started, all of which it added itself
NEW_HISTORY = "new_instance_history"


@event.listens_for(Session, "transient_to_pending")
def _note_new_history(session: Session, obj: object) -> None:
    if isinstance(obj, AuditEvent):
        known = transaction_memo(session).get((NEW_HISTORY, obj.instance_id))
        if known is not None:
            known.append(obj)


@contextmanager
def conflicts_as_409() -> Iterator[None]:
    """A lost race shows up as StaleDataError (version check) or, on SQLite, a lock error."""
    try:
        yield
    except StaleDataError as exc:
        raise Conflict("该事项刚被其他人处理，请刷新后查看最新状态") from exc
    except OperationalError as exc:
        if "locked" in str(exc).lower():
            raise Conflict("该事项刚被其他人处理，请刷新后查看最新状态") from exc
        raise


# SpiffWorkflow ships no type information, so its base class is Any to mypy.
class ScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """PythonScriptEngine.call_service wraps errors with an undefined name in 3.2.0;
    let our handlers' errors through unchanged so the user sees their message."""

    def call_service(self, task: Any, **kwargs: Any) -> str:
        result: str = self.environment.call_service(task.data, **kwargs)
        return result


def props(task_spec: Any) -> dict[str, str]:
    properties: dict[str, str] = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    return properties


def render_label(template: str, data: dict[str, Any]) -> str:
    # Only {name} lookups of plain data: str.format would allow attribute access.
    return _PLACEHOLDER.sub(lambda m: str(data.get(m.group(1)) or ""), template)


def _unwrap(exc: BaseException) -> BaseException:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, EngineError):
            return exc
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


# Why a stopped instance takes no step (ADMIN: suspend / terminate); other non-running states just end.
STOPPED = {"suspended": "该流程已被管理员暂停", "terminated": "该流程已被管理员终止"}


def refuse_if_stopped(instance: ProcessInstance) -> None:
    """A suspended or terminated instance takes no step and fires no timer; a completed one has none left."""
    if instance.status in STOPPED:
        raise Conflict(STOPPED[instance.status])
    if instance.status != "running":
        raise Conflict("当前状态不能执行此操作")


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _write_instances(session: Session, instances: list[ProcessInstance]) -> None:
    """The changed columns of a batch's instance rows in one executemany UPDATE per set of columns, each row
    checked against the version it was read at and moved to the next one, as the ORM's optimistic check does
    (which, though, sends one UPDATE per row: a round trip each). The ORM then takes the values as written."""
    columns = {attr.key for attr in sa_inspect(ProcessInstance).column_attrs} - {"id", "version"}
    groups: dict[tuple[str, ...], list[tuple[ProcessInstance, dict[str, Any]]]] = {}
    for instance in instances:
        state = sa_inspect(instance)
        if state.pending or state.deleted:
            continue  # left to the flush
        changed = {key: state.attrs[key].value for key in columns if state.attrs[key].history.has_changes()}
        if changed:
            groups.setdefault(tuple(sorted(changed)), []).append((instance, changed))
    table = cast(Table, ProcessInstance.__table__)
    for keys, rows in groups.items():
        stmt = (update(table).where(table.c.id == bindparam("_id"), table.c.version == bindparam("_read"))
                .values({**{key: bindparam(key) for key in keys}, "version": bindparam("_next")}))
        params = [{**changed, "_id": inst.id, "_read": inst.version, "_next": inst.version + 1}
                  for inst, changed in rows]
        with conflicts_as_409():
            if session.connection().execute(stmt, params).rowcount != len(rows):
                raise StaleDataError("a timer batch's instance changed after it was claimed")
        for inst, changed in rows:
            for key, value in changed.items():
                set_committed_value(inst, key, value)
            set_committed_value(inst, "version", inst.version + 1)


class Runner:
    def __init__(self, registry: SpecRegistry, extensions: services.Extensions, policy: services.Policy,
                 script_time_limit: float = 2.0, cache_size: int = 256):
        self.registry = registry
        self.extensions = extensions
        self.policy = policy
        self.script_time_limit = script_time_limit
        self.cache = WorkflowCache(cache_size)  # 0: every step deserializes its workflow

    # -- loading and saving -------------------------------------------------
    def script_engine(self) -> ScriptEngine:
        return ScriptEngine(environment=RestrictedEnvironment(self.script_time_limit))

    def load(self, session: Session, instance: ProcessInstance) -> BpmnWorkflow:
        workflow = self.cache.take(instance)  # the workflow this process saved at the instance's current version
        if workflow is None:
            loaded = self.registry.load(session, instance.version_id)
            workflow = load_workflow(instance.serialized, loaded.spec, loaded.subprocess_specs)
        # The script engine is not serialized: without this the instance would run plain eval.
        workflow.script_engine = self.script_engine()
        return workflow

    def _save(self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
        instance.next_timer_at = self._next_timer(workflow)
        if workflow.is_completed():
            instance.status = "completed"  # before the state: a finished instance's state is stored compacted
            instance.next_timer_at = None
        instance.serialized = dump_workflow(workflow)
        instance.status_label = self._status_label(workflow)
        instance.updated_at = utcnow()
        self.cache.saved(session, instance, workflow)

    @staticmethod
    def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
        due = []
        for task in workflow.get_tasks(state=TaskState.WAITING):
            event_def = getattr(task.task_spec, "event_definition", None)
            if not isinstance(event_def, TimerEventDefinition):
                continue
            value = task._get_internal_data("event_value")
            if value is None:
                continue
            if isinstance(value, dict):  # cycle timers keep {"next": iso, ...}
                value = value.get("next")
            try:
                due.append(_naive_utc(TimerEventDefinition.get_datetime(value)))
            except Exception:  # noqa: BLE001 - a malformed value just has no due time
                continue
        return min(due) if due else None

    @staticmethod
    def _status_label(workflow: BpmnWorkflow) -> str:
        if workflow.is_completed():
            ends = [
                t for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
                if isinstance(t.task_spec, EndEvent) and props(t.task_spec).get("statusLabel")
            ]
            if ends:
                end = max(ends, key=lambda t: t.last_state_change)
                return render_label(props(end.task_spec)["statusLabel"], end.data)
            return "已完成"
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        ready.sort(key=lambda t: props(t.task_spec).get("optional") == "true")
        for task in ready:
            label = props(task.task_spec).get("statusLabel")
            if label:
                return render_label(label, task.data)
        waiting = workflow.get_tasks(state=TaskState.WAITING)
        for task in waiting:
            label = props(task.task_spec).get("statusLabel")
            if label:
                return render_label(label, task.data)
        return "处理中"

    # -- engine steps with the service dispatcher bound -----------------------
    def _run_engine(self, ctx: services.StepContext, workflow: BpmnWorkflow,
                    action: Callable[[], object] | None = None) -> None:
        def dispatch(data: dict[str, Any], name: str, params: dict[str, Any]) -> Any:
            return self.extensions.handler(name)(ctx, data, params)

        token = current_service_call.set(dispatch)
        try:
            if action is not None:
                action()
            workflow.do_engine_steps()
        except Exception as exc:  # noqa: BLE001 - turned into a clean error below
            cause = _unwrap(exc)
            if isinstance(cause, EngineError):
                raise cause from exc
            if isinstance(cause, (OperationalError, StaleDataError)):
                # SQLite: another step holds or changed the instance; never half-written.
                raise Conflict("该事项刚被其他人处理，请刷新后查看最新状态") from exc
            raise EngineError(f"流程执行出错：{cause}") from exc
        finally:
            current_service_call.reset(token)

    # -- projection -----------------------------------------------------------
    @staticmethod
    def _new_item(instance: ProcessInstance, task: Any, now: datetime) -> WorkItem:
        p = props(task.task_spec)
        return WorkItem(
            instance_id=instance.id,
            task_id=str(task.id),
            task_name=task.task_spec.bpmn_id or task.task_spec.name,
            title=task.task_spec.bpmn_name or task.task_spec.name,
            role=task.task_spec.lane or "",
            form_key=p.get("formKey", ""),
            status_label=render_label(p.get("statusLabel", ""), task.data),
            optional=p.get("optional") == "true",
            graduate_id=instance.graduate_id,
            employer_id=instance.employer_id,
            school_id=instance.school_id,
            department_id=instance.department_id,
            cohort=instance.cohort,
            subject_name=instance.subject_name,
            subject_no=instance.subject_no,
            category=instance.category,
            process_id=instance.process_id,
            created_at=now,
            # named even when empty or the default: an item added completed (a first form) and the next open one
            # then name the same columns, and one flush writes them in one INSERT (issue 11)
            state="open", completed_at=None, completed_by=None, decision=None,
        )

    def _sync_work_items(self, session: Session, instance: ProcessInstance, workflow: BpmnWorkflow,
                         actor: services.Actor | None, decision: str | None = None, *,
                         existing: list[WorkItem] | None = None) -> list[WorkItem]:
        """Open, close and cancel the instance's work items to match its ready user tasks. `existing`: its open
        items when the caller has already read them (a batch of timers)."""
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        if existing is None:
            existing = list(session.scalars(
                select(WorkItem).where(WorkItem.instance_id == instance.id, WorkItem.state == "open")
            ))
        open_items = {wi.task_id: wi for wi in existing}
        now = utcnow()
        for task_id, item in open_items.items():
            if task_id in ready:
                continue
            task = workflow.get_task_from_id(UUID(task_id))
            item.state = "completed" if task is not None and task.has_state(TaskState.COMPLETED) else "cancelled"
            item.completed_at = now
            if item.state == "completed" and actor is not None:
                item.completed_by = actor.id
                item.decision = decision
        created = []
        for task_id, task in ready.items():
            if task_id in open_items:
                continue
            item = self._new_item(instance, task, now)
            session.add(item)
            created.append(item)
        # for the step's answer (open_items): only this method opens or closes items
        transaction_memo(session)[(OPEN_ITEMS, instance.id)] = [
            wi for task_id, wi in open_items.items() if task_id in ready] + created
        return created

    @staticmethod
    def open_items(session: Session, instance_id: int) -> list[WorkItem]:
        """The instance's open work items: as the last step of this transaction left them, else read."""
        known: list[WorkItem] | None = transaction_memo(session).get((OPEN_ITEMS, instance_id))
        if known is not None and all(i.state == "open" and not sa_inspect(i).deleted for i in known):
            return list(known)
        return list(session.scalars(select(WorkItem).where(WorkItem.instance_id == instance_id,
                                                           WorkItem.state == "open")))

    # -- public steps ---------------------------------------------------------
    def start(self, session: Session, process_id: str, actor: services.Actor, *, scope: dict[str, Any],
              data: dict[str, Any] | None = None, title: str = "", category: str = "", subject_name: str = "",
              subject_no: str = "", business_key: str | None = None,
              submit: tuple[str, dict[str, Any]] | None = None) -> ProcessInstance:
        """A new instance of the latest version. `submit` = (form key, data): the starter's first form is
        completed in the same step, as `complete` would (audited as "submit"), but the instance is saved once and
        the form's work item written once, already completed (issue 11: a submission is one step)."""
        version_id = self.registry.latest_version_id(session, process_id)
        loaded = self.registry.load(session, version_id)
        workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine())
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(data or {}))
        instance = ProcessInstance(
            process_id=process_id,
            version_id=version_id,
            business_key=business_key,
            title=title or loaded.name,
            category=category,
            subject_name=subject_name,
            subject_no=subject_no,
            state=None,  # written by _save below; known absent, so saving reads nothing first
            **{k: scope.get(k) for k in ("graduate_id", "employer_id", "school_id", "department_id", "cohort")},
        )
        session.add(instance)
        session.flush()  # handlers need the instance id
        transaction_memo(session)[(NEW_HISTORY, instance.id)] = []  # its history: what this transaction adds
        ctx = services.StepContext(session=session, instance=instance, actor=actor, started=True)
        self._run_engine(ctx, workflow)
        started = AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="start",
                             data_after=data or {}, status_label=self._status_label(workflow))
        session.add(started)
        if submit is not None:
            self._submit_first(ctx, workflow, *submit)
        self._save(session, instance, workflow)
        self._sync_work_items(session, instance, workflow, actor, existing=[])  # a new instance has no items yet
        self._after_step(ctx)
        return instance

    def _submit_first(self, ctx: services.StepContext, workflow: BpmnWorkflow, form_key: str,
                      data: dict[str, Any]) -> None:
        """Complete the new instance's ready form `form_key` as its starter; its work item is added completed."""
        session, instance, actor = ctx.session, ctx.instance, ctx.actor
        task = next((t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                     if props(t.task_spec).get("formKey") == form_key), None)
        if task is None:
            raise EngineError(f"流程 {instance.process_id} 开始时没有待填写的表单 {form_key}")
        now = utcnow()
        item = self._new_item(instance, task, now)
        if not self.policy.may_complete(actor, item):
            raise Forbidden("无权办理该事项")
        before = self._run_task(ctx, workflow, task, data)
        item.state, item.completed_at, item.completed_by = "completed", now, actor.id
        session.add(item)
        session.add(AuditEvent(
            instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="submit",
            task_name=item.task_name, task_title=item.title, data_before=before, data_after=copy.deepcopy(data),
            status_label=self._status_label(workflow),
        ))

    def _run_task(self, ctx: services.StepContext, workflow: BpmnWorkflow, task: Any, data: dict[str, Any],
                  audit_before: dict[str, Any] | None = None) -> dict[str, Any]:
        """Complete a ready user task with `data` and run the engine on, then the completion hooks; returns what
        the audit records as before (the task's values of the keys written, unless the caller says)."""
        before = audit_before if audit_before is not None else {k: copy.deepcopy(task.data.get(k)) for k in data}
        task.data.update(copy.deepcopy(data))
        self._run_engine(ctx, workflow, action=task.run)
        for hook in self.extensions.hooks:
            hook(ctx, task.task_spec, task.data)
        return before

    def open_work_item(self, session: Session, work_item_id: int, actor: services.Actor) -> WorkItem:
        item = session.identity_map.get(identity_key(WorkItem, (work_item_id,)))
        if item is None:
            # issue 11: the item and its instance in one statement (every use of an item reads its instance
            # next); the caller keeps the item, and the request's session keeps what it loaded referenced
            found = session.execute(_ITEM_WITH_INSTANCE, {"item_id": work_item_id}).first()
            item = found[0] if found is not None else None
        if item is None or not self.policy.may_see_item(actor, item):
            raise Forbidden("待办事项不存在或无权访问")
        return item

    @staticmethod
    def instance_with_open_items(session: Session, instance_id: int) -> ProcessInstance | None:
        """An instance and its open work items in one statement (issue 11: a page read shows both); later
        open_items calls of this transaction answer from what it read."""
        rows = session.execute(_INSTANCE_WITH_OPEN_ITEMS, {"instance_id": instance_id}).all()
        if not rows:
            return None
        transaction_memo(session)[(OPEN_ITEMS, instance_id)] = [item for _, item in rows if item is not None]
        instance: ProcessInstance = rows[0][0]
        return instance

    def task_for(self, session: Session, item: WorkItem) -> tuple[ProcessInstance, BpmnWorkflow, Any]:
        instance = session.get(ProcessInstance, item.instance_id)
        if instance is None:
            raise NotFound("流程实例不存在")
        workflow = self.load(session, instance)
        task = workflow.get_task_from_id(UUID(item.task_id))
        return instance, workflow, task

    def complete(self, session: Session, work_item_id: int, actor: services.Actor, data: StepData, *,
                 decision: str | None = None, reason: str | None = None,
                 audit_before: dict[str, Any] | None = None,
                 audit_action: str = "complete") -> ProcessInstance:
        with conflicts_as_409():
            return self._complete(session, work_item_id, actor, data, decision=decision, reason=reason,
                                  audit_before=audit_before, audit_action=audit_action)

    def _complete(self, session: Session, work_item_id: int, actor: services.Actor, data: StepData, *,
                  decision: str | None, reason: str | None, audit_before: dict[str, Any] | None,
                  audit_action: str) -> ProcessInstance:
        item = self.open_work_item(session, work_item_id, actor)
        if not self.policy.may_complete(actor, item):
            raise Forbidden("无权办理该事项")
        if item.state != "open":
            raise Conflict("该事项已被处理，请刷新后查看最新状态")
        instance, workflow, task = self.task_for(session, item)
        refuse_if_stopped(instance)
        if task is None or not task.has_state(TaskState.READY):
            raise Conflict("该事项已被处理，请刷新后查看最新状态")
        if callable(data):  # lets the caller build the data from the task in the same load
            data = data(task)
        # Work items mirror the ready user tasks (only _sync_work_items opens or closes them): when this item's task
        # is the only one, this item is the instance's only open item, and the sync need not select them.
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        only_this = [item] if len(ready) == 1 and str(ready[0].id) == item.task_id else None
        ctx = services.StepContext(session=session, instance=instance, actor=actor)
        before = self._run_task(ctx, workflow, task, data, audit_before)
        self._save(session, instance, workflow)
        # The instance row is written (and locked) now, before the step's other rows: a timer claiming due
        # instances FOR UPDATE SKIP LOCKED skips it from here on instead of waiting behind this step.
        self._flush(session)
        self._sync_work_items(session, instance, workflow, actor, decision, existing=only_this)
        session.add(AuditEvent(
            instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action=audit_action,
            task_name=item.task_name, task_title=item.title, decision=decision, reason=reason,
            data_before=before, data_after=copy.deepcopy(data), status_label=instance.status_label,
        ))
        self._after_step(ctx)
        return instance

    def save_draft(self, session: Session, work_item_id: int, actor: services.Actor,
                   data: dict[str, Any]) -> ProcessInstance:
        """Keep data on an open task without completing it (a draft); versioned like any step."""
        with conflicts_as_409():
            item = self.open_work_item(session, work_item_id, actor)
            if item.state != "open":
                raise Conflict("该事项已被处理，请刷新后查看最新状态")
            instance, workflow, task = self.task_for(session, item)
            refuse_if_stopped(instance)
            if task is None or not task.has_state(TaskState.READY):
                raise Conflict("该事项已被处理，请刷新后查看最新状态")
            task.data.update(copy.deepcopy(data))
            self._save(session, instance, workflow)
            session.add(AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="draft",
                                   task_name=item.task_name, task_title=item.title, data_after=copy.deepcopy(data),
                                   status_label=instance.status_label))
            self._flush(session)
            return instance

    def send_message(self, session: Session, instance: ProcessInstance, name: str, actor: services.Actor,
                     payload: dict[str, Any] | None = None) -> ProcessInstance:
        with conflicts_as_409():
            return self._send_message(session, instance, name, actor, payload)

    def _send_message(self, session: Session, instance: ProcessInstance, name: str, actor: services.Actor,
                      payload: dict[str, Any] | None) -> ProcessInstance:
        refuse_if_stopped(instance)
        workflow = self.load(session, instance)
        event = BpmnEvent(MessageEventDefinition(name), payload=payload or {})
        ctx = services.StepContext(session=session, instance=instance, actor=actor)

        def deliver() -> None:
            if workflow.event_manager.catch(event, internal=False) == 0:
                raise Conflict("当前状态不能执行此操作")

        self._run_engine(ctx, workflow, action=deliver)
        self._save(session, instance, workflow)
        self._sync_work_items(session, instance, workflow, actor)
        session.add(AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name,
                               action=name, status_label=instance.status_label))
        self._after_step(ctx)
        return instance

    def fire_timers(self, session: Session, instance: ProcessInstance) -> ProcessInstance:
        self._after_step(self._fire(session, instance))
        return instance

    def fire_timer_batch(self, session: Session, instances: list[ProcessInstance]) -> None:
        """Fire the due timers of several instances in the caller's transaction, with a few queries per batch
        instead of per instance: their open work items in one query, the rows their handlers read through the
        batch loaders (ctx.cached), and one flush for all of their writes (inserts and updates go out as
        executemany). There is no savepoint per instance: when one fails, the caller rolls back the whole
        batch and fires its instances one by one (engine.timers)."""
        preloaded: dict[tuple[str, Any], Any] = {}
        open_items: dict[int, list[WorkItem]] = {instance.id: [] for instance in instances}
        for item in session.scalars(select(WorkItem).where(WorkItem.instance_id.in_(list(open_items)),
                                                           WorkItem.state == "open")):
            open_items[item.instance_id].append(item)
        for loader in self.extensions.batch_loaders:
            loader(session, instances, preloaded)
        # A handler's own query still autoflushes the batch's earlier writes first, so it sees them.
        contexts = [self._fire(session, instance, preloaded=preloaded, open_items=open_items[instance.id])
                    for instance in instances]
        _write_instances(session, instances)
        self._flush(session)
        for ctx in contexts:
            for hook in self.extensions.step_hooks:
                hook(ctx)
        self._flush(session)

    def _fire(self, session: Session, instance: ProcessInstance, *,
              preloaded: dict[tuple[str, Any], Any] | None = None,
              open_items: list[WorkItem] | None = None) -> services.StepContext:
        refuse_if_stopped(instance)
        workflow = self.load(session, instance)
        ctx = services.StepContext(session=session, instance=instance, actor=services.SYSTEM,
                                   preloaded=preloaded if preloaded is not None else {})
        self._run_engine(ctx, workflow, action=workflow.refresh_timers)
        label_before = instance.status_label
        self._save(session, instance, workflow)
        self._sync_work_items(session, instance, workflow, services.SYSTEM, existing=open_items)
        if instance.status_label != label_before or instance.status == "completed":
            session.add(AuditEvent(instance_id=instance.id, actor_name="系统", action="timer",
                                   status_label=instance.status_label))
        return ctx

    def _after_step(self, ctx: services.StepContext) -> None:
        """Flush the step's rows, then let the step hooks update what depends on them (same transaction)."""
        self._flush(ctx.session)
        for hook in self.extensions.step_hooks:
            hook(ctx)
        self._flush(ctx.session)

    @staticmethod
    def _flush(session: Session) -> None:
        with conflicts_as_409():
            session.flush()

    # -- admin actions: each one transaction, audited with the admin's reason ---------
    def _admin_audit(self, session: Session, instance: ProcessInstance, actor: services.Actor, action: str,
                     reason: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        session.add(AuditEvent(instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action=action,
                               reason=reason, data_before=before, data_after=after,
                               status_label=instance.status_label))
        self._flush(session)

    def _move_status(self, session: Session, instance: ProcessInstance, actor: services.Actor, action: str,
                     reason: str, source: str, target: str, refusal: str) -> ProcessInstance:
        if instance.status != source:
            raise Conflict(refusal)
        instance.status = target
        instance.updated_at = utcnow()
        self._admin_audit(session, instance, actor, action, reason, {"status": source}, {"status": target})
        return instance

    def suspend(self, session: Session, instance: ProcessInstance, actor: services.Actor,
                reason: str) -> ProcessInstance:
        """No user step, message or timer runs until resumed; the timer stays due and fires on resume."""
        return self._move_status(session, instance, actor, "suspend", reason, "running", "suspended",
                                 "只有运行中的流程可以暂停")

    def resume(self, session: Session, instance: ProcessInstance, actor: services.Actor,
               reason: str) -> ProcessInstance:
        return self._move_status(session, instance, actor, "resume", reason, "suspended", "running",
                                 "只有已暂停的流程可以恢复")

    def terminate(self, session: Session, instance: ProcessInstance, actor: services.Actor,
                  reason: str) -> ProcessInstance:
        """Cancel the workflow and its open work items; the instance takes no further step."""
        if instance.status not in ("running", "suspended"):
            raise Conflict("该流程已结束，不能终止")
        before = {"status": instance.status, "status_label": instance.status_label}
        workflow = self.load(session, instance)
        workflow.cancel()
        instance.status = "terminated"
        instance.serialized = dump_workflow(workflow)  # after the status: stored compacted
        instance.status_label = "已终止"
        instance.next_timer_at = None
        instance.updated_at = utcnow()
        now = utcnow()
        for item in session.scalars(
            select(WorkItem).where(WorkItem.instance_id == instance.id, WorkItem.state == "open")
        ):
            item.state = "cancelled"
            item.completed_at = now
        self._admin_audit(session, instance, actor, "terminate", reason, before,
                          {"status": "terminated", "status_label": instance.status_label})
        return instance

    def retry_timer(self, session: Session, instance: ProcessInstance, actor: services.Actor,
                    reason: str) -> ProcessInstance:
        """Retry a timer step whose handler failed: recompute the timer from the workflow and fire it now.

        On success last_error is cleared; on failure the caller rolls back and records the new incident."""
        refuse_if_stopped(instance)
        workflow = self.load(session, instance)
        due = self._next_timer(workflow)
        if due is None:
            raise Conflict("该流程没有等待中的定时事件，无需重试")
        before = {"last_error": (instance.last_error or "").splitlines()[0] if instance.last_error else None,
                  "next_timer_at": due.isoformat(sep=" ", timespec="seconds")}
        instance.next_timer_at = due
        if due <= utcnow():
            self.fire_timers(session, instance)
        instance.last_error = None
        after = {"status_label": instance.status_label,
                 "next_timer_at": instance.next_timer_at.isoformat(sep=" ", timespec="seconds")
                 if instance.next_timer_at else None}
        self._admin_audit(session, instance, actor, "retry", reason, before, after)
        return instance

    def reassign(self, session: Session, item: WorkItem, target: services.Actor, actor: services.Actor,
                 reason: str, labels: tuple[str, str] = ("", "")) -> WorkItem:
        """Give an open work item to one account of its scope (only it sees and works the item while open).

        The target must be one the access policy lets complete the item (its lane, its scope, write permission on
        the item's area); otherwise Forbidden, and nothing changes."""
        if item.state != "open":
            raise Conflict("该事项已被处理，不能改派")
        instance = session.get(ProcessInstance, item.instance_id)
        if instance is None:
            raise NotFound("流程实例不存在")
        if instance.status not in ("running", "suspended"):
            raise Conflict("该流程已结束，不能改派")
        if target.id is None:
            raise Forbidden("目标账号不在该事项的办理范围内")
        previous = item.assignee_id
        item.assignee_id = target.id
        if not self.policy.may_complete(target, item):
            item.assignee_id = previous
            raise Forbidden("目标账号不在该事项的办理范围内")
        session.add(AuditEvent(
            instance_id=instance.id, actor_id=actor.id, actor_name=actor.name, action="reassign",
            task_name=item.task_name, task_title=item.title, reason=reason,
            data_before={"assignee": labels[0], "assignee_id": previous},
            data_after={"assignee": labels[1], "assignee_id": target.id},
            status_label=instance.status_label))
        self._flush(session)
        return item

    # -- reading ----------------------------------------------------------------
    def task_data(self, session: Session, item: WorkItem) -> dict[str, Any]:
        _, _, task = self.task_for(session, item)
        return dict(task.data) if task is not None else {}

    def history(self, session: Session, instance_id: int) -> list[AuditEvent]:
        """The instance's audit events in order. For an instance this transaction started, the ones it added
        (issue 11: a new instance's answer reads no history); a savepoint's rollback forgets them."""
        known: list[AuditEvent] | None = transaction_memo(session).get((NEW_HISTORY, instance_id))
        if known is not None:
            if any(e.id is None for e in known):
                session.flush()
            return sorted(known, key=lambda e: e.id)
        return list(session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)
        ))
