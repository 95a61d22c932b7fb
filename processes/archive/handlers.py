"""Service-task handlers of archive registration and change: where the BPMN steps touch the records."""
from __future__ import annotations

from typing import Any

from domain import transfers
from domain.transfers import ARCHIVE_KIND as KIND
from engine.services import Handler, StepContext

from .services import PROCESS_IDS

Data = dict[str, Any]


def submit(ctx: StepContext, data: Data, params: Data) -> Data:
    return transfers.submitted(ctx, data, KIND)


def approve(ctx: StepContext, data: Data, params: Data) -> Data:
    return transfers.approved(ctx, data, KIND)


def reject(ctx: StepContext, data: Data, params: Data) -> None:
    transfers.rejected(ctx, data, KIND)


def deleted(ctx: StepContext, data: Data, params: Data) -> None:
    transfers.ended_by_deletion(ctx, data, KIND)


def mirror_reviewer_edit(ctx: StepContext, task_spec: Any, data: Data) -> None:
    transfers.mirror_reviewer_edit(ctx, task_spec, data, KIND, PROCESS_IDS)


HANDLERS: dict[str, Handler] = {"archive.submit": submit, "archive.approve": approve, "archive.reject": reject,
                                "archive.deleted": deleted}
