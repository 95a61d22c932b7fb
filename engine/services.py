"""Service-task handlers and step hooks, registered by domain code.

A BPMN service task names an operator (spiff serviceTaskOperator id); the
handler registered under that name runs inside the step's transaction with a
StepContext, writes domain rows and may add outbox rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.models import OutboxMessage, ProcessInstance


@dataclass
class Actor:
    """Who acts in a step, with the scope their account belongs to."""

    id: int | None
    name: str
    role: str  # Graduate | Department | School | Employer | Admin | System
    school_id: int | None = None
    department_id: int | None = None
    graduate_id: int | None = None
    employer_id: int | None = None
    province_id: int | None = None


SYSTEM = Actor(id=None, name="系统", role="System")


@dataclass
class StepContext:
    session: Session
    instance: ProcessInstance
    actor: Actor
    outbox: list[OutboxMessage] = field(default_factory=list)

    def emit(self, kind: str, payload: dict) -> None:
        row = OutboxMessage(kind=kind, payload=payload, instance_id=self.instance.id)
        self.session.add(row)
        self.outbox.append(row)


Handler = Callable[[StepContext, dict, dict], Any]
_HANDLERS: dict[str, Handler] = {}
# Called after a user task completes: (ctx, task_spec, task_data).
_COMPLETION_HOOKS: list[Callable[[StepContext, Any, dict], None]] = []


def service(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn

    return register


def on_task_completed(fn):
    _COMPLETION_HOOKS.append(fn)
    return fn


def handler(name: str) -> Handler:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise EngineError(f"服务任务 {name} 没有注册处理程序") from None


def completion_hooks():
    return list(_COMPLETION_HOOKS)
