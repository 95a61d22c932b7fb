"""One kind's ProcessModule, from its `TransferSpec`: the same shape for archive and hukou (issue 8)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain import transfers
from domain.modules import FormSpec, ModuleEntry, ProcessModule, RecordPart, StartSpec

from .api import TransferApi
from .handlers import handlers, mirror_reviewer_edit
from .pages import TransferPages
from .school import TransferSchool
from .spec import TransferSpec


class TransferWeb:
    """The blueprints and parts of one kind. A module may add routes to `school.bp` and `api.bp` before
    building its ProcessModule (archive: the deletion of basic info, GRAD-5)."""

    def __init__(self, spec: TransferSpec, *,
                 school_list_context: Callable[[], dict[str, Any]] | None = None) -> None:
        self.spec = spec
        self.pages = TransferPages(spec)
        self.school = TransferSchool(spec, list_context=school_list_context)
        self.api = TransferApi(spec)

    def module(self, *, bpmn_dir: Path, openapi_paths: dict[str, Any] | None = None) -> ProcessModule:
        spec, kind, pages, api = self.spec, self.spec.kind, self.pages, self.api
        return ProcessModule(
            name=spec.code,
            title=kind.registration_title,
            bpmn_dir=bpmn_dir,
            process_ids=spec.process_ids,
            area=spec.code,  # ROLE-2: 档案信息 / 户口信息
            starts=(StartSpec(spec.registration_id, kind.registration_title, spec.form_key, api.start_registration,
                              schema=spec.schema_name),
                    StartSpec(spec.change_id, kind.change_title, spec.form_key, api.start_change,
                              schema=spec.schema_name)),
            forms=(FormSpec(spec.form_key, api_complete=api.complete, fields=api.fields,
                            graduate_page=pages.resubmit_page, completion_schema=api.schema["properties"],
                            description=f"同 {spec.schema_name}（撤回后修改并重新提交）"),),
            handlers=handlers(spec),
            hooks=(mirror_reviewer_edit(spec),),
            record=RecordPart(context=pages.record_context, template="transfers/_record.html",
                              actions_template="transfers/_actions.html", review_template="transfers/_review.html",
                              review_context=pages.review_context, edit_form=pages.edit_form,
                              apply_edit=pages.apply_edit, edit_template="transfers/_edit.html",
                              field_labels=pages.edit_labels, api_json=pages.api_json),
            withdrawable=spec.process_ids,
            blueprints=(pages.bp, self.school.bp),
            api_blueprints=(api.bp,),
            openapi_paths={**api.paths, **(openapi_paths or {})},
            openapi_schemas=api.schemas,
            entry=ModuleEntry(title=kind.registration_title, endpoint=spec.endpoint("home"),
                              description=spec.entry_description,
                              closed_reason=lambda db, graduate: transfers.closed_reason(graduate, kind),
                              element_id=f"module-{spec.code}"),
        )
