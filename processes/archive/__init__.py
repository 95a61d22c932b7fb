"""Archive information (ARC): 档案信息登记 and 档案信息修改 on the shared review (approve or reject only),
the 档案信息栏, the school's direct registration (ARC-7) and deletion of basic info (GRAD-5).

The rules it shares with processes/hukou are in domain.transfers; it imports nothing of hukou.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, ModuleEntry, ProcessModule, RecordPart, StartSpec

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from domain import transfers

    from . import api, handlers, pages, school
    from .services import CHANGE_ID, FORM_KEY, PROCESS_IDS, REGISTRATION_ID

    kind = transfers.ARCHIVE_KIND
    return ProcessModule(
        name="archive",
        title="档案信息登记",
        bpmn_dir=HERE,
        process_ids=PROCESS_IDS,
        starts=(StartSpec(REGISTRATION_ID, "档案信息登记", FORM_KEY, api.start_registration, schema="ArchiveInfo"),
                StartSpec(CHANGE_ID, "档案信息修改", FORM_KEY, api.start_change, schema="ArchiveInfo")),
        forms=(FormSpec(FORM_KEY, api_complete=api.complete, fields=api.fields, graduate_page=pages.resubmit_page,
                        completion_schema=api.ARCHIVE_SCHEMA["properties"],
                        description="同 ArchiveInfo（撤回后修改并重新提交）"),),
        handlers=handlers.HANDLERS,
        hooks=(handlers.mirror_reviewer_edit,),
        record=RecordPart(context=pages.record_context, template="archive/_record.html",
                          actions_template="archive/_actions.html", review_template="archive/_review.html",
                          review_context=pages.review_context, edit_form=pages.edit_form,
                          apply_edit=pages.apply_edit, edit_template="archive/_edit.html",
                          field_labels=pages.EDIT_LABELS, api_json=pages.api_json),
        withdrawable=PROCESS_IDS,
        blueprints=(pages.bp, school.bp),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        entry=ModuleEntry(title="档案信息登记", endpoint="archive.home", description="用于登记档案转递信息。",
                          closed_reason=lambda db, graduate: transfers.closed_reason(graduate, kind),
                          element_id="module-archive"),
    )
