"""What a step may call out to: service-task handlers, completion hooks and outbox senders.

They live in one `Extensions` object that the runtime builds from the process
modules and hands to the runner and the outbox deliverer; nothing is registered
by importing a module. A BPMN service task names an operator (spiff
serviceTaskOperator id); the handler registered under that name runs inside the
step's transaction with a StepContext, writes domain rows and may add outbox rows.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from core.errors import EngineError
from engine.models import OutboxMessage, ProcessInstance, WorkItem


@dataclass
class Actor:
    """Who acts in a step, with the scope their account belongs to. The role is opaque here:
    only the access policy the runner is given interprets it."""

    id: int | None
    name: str
    role: str
    school_id: int | None = None
    department_id: int | None = None
    graduate_id: int | None = None
    employer_id: int | None = None
    province_id: int | None = None
    # Per-area permissions of the account (opaque here, read by the access policy); None: not restricted.
    permissions: dict[str, str] | None = None
    school_ids: tuple[int, ...] = ()  # the schools a wider scope (a province) covers
    system: bool = False


SYSTEM = Actor(id=None, name="系统", role="System", system=True)


@dataclass
class StepContext:
    session: Session
    instance: ProcessInstance
    actor: Actor
    outbox: list[OutboxMessage] = field(default_factory=list)
    # Rows a batch loader read for a batch of steps (timers), keyed by (kind, id); see `cached`.
    preloaded: dict[tuple[str, Any], Any] = field(default_factory=dict)
    # The instance was created by this step: no row of a handler hangs off it yet (a look-up can be skipped).
    started: bool = False

    def cached(self, key: tuple[str, Any], load: Callable[[], Any]) -> Any:
        """What a batch loader read under `key` for this batch, else `load()` (one step on its own)."""
        if key in self.preloaded:
            return self.preloaded[key]
        return load()

    def emit(self, kind: str, payload: dict[str, Any]) -> None:
        row = OutboxMessage(kind=kind, payload=payload, instance_id=self.instance.id)
        self.session.add(row)
        self.outbox.append(row)


class Policy(Protocol):
    """The access questions the engine asks; the answers (roles, scopes) belong to the caller."""

    def may_see_item(self, actor: Actor, item: WorkItem) -> bool: ...

    def may_complete(self, actor: Actor, item: WorkItem) -> bool: ...

    def item_filter(self, actor: Actor) -> ColumnElement[bool]: ...


Handler = Callable[[StepContext, dict[str, Any], dict[str, Any]], Any]
# Called after a user task completes: (ctx, task_spec, task_data).
CompletionHook = Callable[[StepContext, Any, dict[str, Any]], None]
# Called at the end of every step that moves an instance (start, complete, message, timer), inside its
# transaction, after the work items are in place: projections that must be right at commit (PRV-2) live here.
StepHook = Callable[[StepContext], None]
# Called once before a batch of timer steps, in their transaction: reads what the batch's handlers will ask for
# in a query per kind, into the dict every StepContext of the batch gets as `preloaded` (ctx.cached).
BatchLoader = Callable[[Session, Sequence[ProcessInstance], dict[tuple[str, Any], Any]], None]
# A sender gets the row and the deliverer's session: what it writes commits together with
# the row's delivered mark, so a sender that writes to the database takes effect exactly once.
Sender = Callable[[OutboxMessage, Session], None]


class Offloaded:
    """A sender whose work is a background task of its own (an e-agreement render, ~130 ms of CPU).

    Unbound (embedded default, eager tasks) it runs `inline`, in the deliverer's transaction. Bound to a task
    queue (production: `build_runtime` binds it when tasks are not eager) the deliverer only hands the task to
    the broker, so the notifications of the batch behind it are not held up and the render runs on its own
    queue. The task is idempotent (a render is cached per content key): a row delivered twice renders once."""

    def __init__(self, task: str, args: Callable[[OutboxMessage], tuple[Any, ...]], inline: Sender,
                 enqueue: Callable[..., None] | None = None, *, on_demand: bool = False,
                 deferred: bool = False) -> None:
        self.task, self.args, self.inline, self.enqueue = task, args, inline, enqueue
        # on_demand: the result is also made when first asked for (an e-agreement on its first download), so a
        # deployment may defer it (`deferred`: delivering the row does nothing) to keep its CPU for steps.
        self.on_demand, self.deferred = on_demand, deferred

    def _with(self, **changes: Any) -> Offloaded:
        copied = copy.copy(self)
        copied.__dict__.update(changes)
        return copied

    def bound(self, enqueue: Callable[..., None]) -> Offloaded:
        return self._with(enqueue=enqueue)

    def deferring(self) -> Offloaded:
        return self._with(deferred=True)

    def __call__(self, row: OutboxMessage, session: Session) -> None:
        if self.deferred:
            return  # made on first demand instead
        if self.enqueue is None:
            self.inline(row, session)
        else:
            self.enqueue(self.task, *self.args(row))  # raises when the broker is down: the row is retried


class Extensions:
    """Handlers, hooks and senders of one runtime, registered explicitly by the process modules."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.hooks: list[CompletionHook] = []
        self.senders: dict[str, Sender] = {}
        self.step_hooks: list[StepHook] = []
        self.batch_loaders: list[BatchLoader] = []

    def add_handlers(self, handlers: dict[str, Handler]) -> None:
        self._add(self.handlers, handlers, "服务任务处理程序")

    def add_senders(self, senders: dict[str, Sender]) -> None:
        self._add(self.senders, senders, "发件箱发送程序")

    def add_hooks(self, hooks: Iterable[CompletionHook]) -> None:
        self.hooks.extend(hooks)

    def add_step_hooks(self, hooks: Iterable[StepHook]) -> None:
        self.step_hooks.extend(hooks)

    def add_batch_loaders(self, loaders: Iterable[BatchLoader]) -> None:
        self.batch_loaders.extend(loaders)

    @staticmethod
    def _add(target: dict[str, Any], new: dict[str, Any], what: str) -> None:
        for name, fn in new.items():
            if name in target and target[name] is not fn:
                raise EngineError(f"{what} {name} 重复注册")
            target[name] = fn

    def handler(self, name: str) -> Handler:
        try:
            return self.handlers[name]
        except KeyError:
            raise EngineError(f"服务任务 {name} 没有注册处理程序") from None
