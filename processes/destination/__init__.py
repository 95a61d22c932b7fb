"""Other-destination filing (DST): one process on the shared review, its form, pages and API."""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, ProcessModule, RecordPart, StartSpec

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, handlers, pages
    from .services import FORM_KEY, PROCESS_ID, VOID_FORM_KEY

    return ProcessModule(
        name="destination",
        title="其他毕业去向登记",
        bpmn_dir=HERE,
        process_ids=(PROCESS_ID,),
        starts=(StartSpec(PROCESS_ID, "其他毕业去向登记", FORM_KEY, api.start, schema="Destination"),),
        forms=(
            FormSpec(FORM_KEY, api_complete=api.complete, fields=api.fields, graduate_page=pages.resubmit_page,
                     completion_schema=api.DESTINATION_SCHEMA["properties"], description="同 Destination"),
            FormSpec(VOID_FORM_KEY, api_complete=api.complete_void, description="空对象（作废，DST-3）"),
        ),
        handlers=handlers.HANDLERS,
        hooks=(handlers.mirror_reviewer_edit,),
        record=RecordPart(context=pages.record_context, template="destination/_record.html",
                          actions_template="destination/_actions.html", review_template="destination/_review.html",
                          review_context=pages.review_context, edit_form=pages.edit_form,
                          apply_edit=pages.apply_edit, edit_template="destination/_edit.html",
                          field_labels=pages.EDIT_LABELS, api_json=pages.api_json),
        withdrawable=(PROCESS_ID,),
        blueprints=(pages.bp,),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        home_template="destination/_home.html",
        home_context=pages.home_context,
    )
