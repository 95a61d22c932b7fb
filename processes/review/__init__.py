"""The shared two-level review (REV): a call activity every process uses, its decision form,
the reviewer's page of a review task, REV-5 edits and REV-6 withdraw."""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, pages, services

    return ProcessModule(
        name="review",
        title="审核",
        bpmn_dir=HERE,
        process_ids=("review",),
        forms=(FormSpec(services.REVIEW_FORM_KEY, api_complete=api.complete, fields=api.fields,
                        item_data=api.item_data, reviewer_page=pages.reviewer_page,
                        completion_schema=api.COMPLETION,
                        description="decision/reason，可带 edits（按被审核流程的表单校验）"),),
        hooks=(services.notify_review_result,),
        blueprints=(pages.bp,),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        record_extras=pages.record_extras,
        record_extras_template="review/_withdraw.html",
    )
