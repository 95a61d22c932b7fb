"""Service-task handlers of one kind's registration and change (<code>.submit, .approve, .reject, .deleted):
where the BPMN steps touch the records; and the hook that mirrors a reviewer's edit (REV-5)."""
from __future__ import annotations

from typing import Any

from domain import transfers
from engine.services import CompletionHook, Handler, StepContext

from .spec import TransferSpec

Data = dict[str, Any]


def handlers(spec: TransferSpec) -> dict[str, Handler]:
    kind = spec.kind

    def submit(ctx: StepContext, data: Data, params: Data) -> Data:
        return transfers.submitted(ctx, data, kind)

    def approve(ctx: StepContext, data: Data, params: Data) -> Data:
        return transfers.approved(ctx, data, kind)

    def reject(ctx: StepContext, data: Data, params: Data) -> None:
        transfers.rejected(ctx, data, kind)

    def deleted(ctx: StepContext, data: Data, params: Data) -> None:  # GRAD-5
        transfers.ended_by_deletion(ctx, data, kind)

    return {f"{spec.code}.submit": submit, f"{spec.code}.approve": approve, f"{spec.code}.reject": reject,
            f"{spec.code}.deleted": deleted}


def mirror_reviewer_edit(spec: TransferSpec) -> CompletionHook:
    def mirror(ctx: StepContext, task_spec: Any, data: Data) -> None:
        transfers.mirror_reviewer_edit(ctx, task_spec, data, spec.kind, spec.process_ids)

    return mirror
