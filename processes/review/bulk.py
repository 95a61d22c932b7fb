"""Bulk approve (issue 10): each selected item is still its own step — its own transaction, scope check and
audit event — so one refusal (out of scope, already decided, read-only area) stops nobody else."""
from __future__ import annotations

from dataclasses import dataclass

from flask import g

from core.errors import EngineError, Forbidden
from domain.access import POLICY
from engine.models import WorkItem
from engine.services import Actor
from webapp.session import log_refusal, run_step

from . import services

NOT_FOUND = "待办事项不存在或无权访问"


@dataclass
class BulkResult:
    item_id: int
    ok: bool
    reason: str = ""
    # shown only for items in the actor's scope: an id outside it reveals nothing (ROLE-1)
    name: str = ""
    number: str = ""
    title: str = ""
    status_label: str = ""


def approve_many(actor: Actor, item_ids: list[int]) -> list[BulkResult]:
    runner = g.runtime.runner
    results: list[BulkResult] = []
    for item_id in dict.fromkeys(item_ids):  # each once, in the order given
        g.db.rollback()
        item = g.db.get(WorkItem, item_id)
        if item is None or not POLICY.may_see_item(actor, item):
            log_refusal(f"bulk approve: work item {item_id} out of scope")
            results.append(BulkResult(item_id, False, NOT_FOUND))
            continue
        seen = BulkResult(item_id, False, name=item.subject_name, number=item.subject_no, title=item.title)
        try:
            instance = run_step(lambda db, i=item_id: services.review(db, runner, actor, i, "approve", ""))
        except Forbidden as exc:
            log_refusal(f"bulk approve: work item {item_id}: {exc}")
            seen.reason = exc.message
        except EngineError as exc:
            seen.reason = exc.message
        else:
            seen.ok, seen.status_label = True, instance.status_label
        results.append(seen)
    return results
