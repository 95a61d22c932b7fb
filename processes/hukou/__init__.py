"""Hukou information (HUK): 户口信息登记 and 户口信息修改 on the shared review (approve or reject only), the
户口信息栏 and the school's direct registration — only for graduates whose 户口是否转入学校 is 是 (MOD-5).

The rules it shares with processes/archive are in domain.transfers; it imports nothing of archive.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import FormSpec, ModuleEntry, ProcessModule, RecordPart, StartSpec

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from domain import transfers

    from . import api, handlers, pages, school
    from .services import CHANGE_ID, FORM_KEY, PROCESS_IDS, REGISTRATION_ID

    kind = transfers.HUKOU_KIND
    return ProcessModule(
        name="hukou",
        title="户口信息登记",
        bpmn_dir=HERE,
        process_ids=PROCESS_IDS,
        starts=(StartSpec(REGISTRATION_ID, "户口信息登记", FORM_KEY, api.start_registration, schema="HukouInfo"),
                StartSpec(CHANGE_ID, "户口信息修改", FORM_KEY, api.start_change, schema="HukouInfo")),
        forms=(FormSpec(FORM_KEY, api_complete=api.complete, fields=api.fields, graduate_page=pages.resubmit_page,
                        completion_schema=api.HUKOU_SCHEMA["properties"],
                        description="同 HukouInfo（撤回后修改并重新提交）"),),
        handlers=handlers.HANDLERS,
        hooks=(handlers.mirror_reviewer_edit,),
        record=RecordPart(context=pages.record_context, template="hukou/_record.html",
                          actions_template="hukou/_actions.html", review_template="hukou/_review.html",
                          review_context=pages.review_context, edit_form=pages.edit_form,
                          apply_edit=pages.apply_edit, edit_template="hukou/_edit.html",
                          field_labels=pages.EDIT_LABELS, api_json=pages.api_json),
        withdrawable=PROCESS_IDS,
        blueprints=(pages.bp, school.bp),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        entry=ModuleEntry(title="户口信息登记", endpoint="hukou.home", description="用于登记户口迁移信息。",
                          closed_reason=lambda db, graduate: transfers.closed_reason(graduate, kind),
                          element_id="module-hukou"),
    )
