"""What every record page (graduate, reviewer, employer) shows of one instance: its work items,
its history, and the part its process module draws."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import g
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.changes import changes
from engine.models import AuditEvent, ProcessInstance, WorkItem


def record_context(db: Session, instance: ProcessInstance) -> dict[str, Any]:
    items = list(db.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id).order_by(WorkItem.id)))
    module = g.runtime.modules.for_process(instance.process_id)
    part = module.record if module is not None else None
    ctx: dict[str, Any] = dict(instance=instance, items=items, open_items=[i for i in items if i.state == "open"],
                               history=g.runtime.runner.history(db, instance.id), part=part,
                               part_template=part.template if part is not None else "")
    if part is not None:
        ctx.update(part.context(db, instance))
    ctx["edit_changes"] = edit_changes_for(instance)
    return ctx


def edit_changes_for(instance: ProcessInstance) -> Callable[[AuditEvent], list[dict[str, Any]]]:
    """REV-5: the before/after of a reviewer's edit, named with the labels of the process's own form."""
    module = g.runtime.modules.for_process(instance.process_id)
    labels = module.record.field_labels if module is not None and module.record is not None else {}
    return lambda event: changes(event.data_before or {}, event.data_after or {}, labels)
