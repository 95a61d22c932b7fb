"""What one kind of transfer information (archive, hukou) brings to the shared web code: its domain `Kind`,
its processes, its forms and templates, and the words of its OpenAPI part. The rest is the same for both."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain import transfers
from domain.transfers import Kind

from .forms import ProofImages, TransferFieldsForm


@dataclass(frozen=True, eq=False)
class TransferSpec:
    kind: Kind  # code, titles, fields and labels (domain.transfers)
    package: str  # the module's package, e.g. processes.archive: its blueprints' root (templates/<code>/…)
    registration_id: str  # the BPMN process of 档案信息登记 / 户口信息登记
    change_id: str  # … of 档案信息修改 / 户口信息修改
    fields_form: type[TransferFieldsForm]  # the record's fields: the school's registration, a reviewer's edit
    form: type[ProofImages]  # the graduate's registration or change: the fields plus proof images
    entry_description: str  # the card on the graduate's module chooser (MOD-1)
    # OpenAPI: the body schema <schema_name> (and <schema_name>BySchool) and the summaries of its paths
    schema_name: str
    api_properties: dict[str, Any]  # the fields' JSON schemas, in form order
    api_required: list[str]
    schema_description: str
    school_schema_description: str
    summary_doc: str  # GET /<code>
    school_get_doc: str  # GET /school/graduates/{graduate_id}/<code>
    school_post_doc: str  # POST …

    @property
    def code(self) -> str:
        """archive | hukou: the module name, the form key, the blueprint names and the URLs' word."""
        return self.kind.code

    @property
    def form_key(self) -> str:
        return self.kind.code

    @property
    def process_ids(self) -> tuple[str, ...]:
        return (self.registration_id, self.change_id)

    def process_of(self, action: str) -> str:
        return self.change_id if action == transfers.CHANGE else self.registration_id

    def endpoint(self, view: str) -> str:
        """A graduate page or the picker's data: archive.home, hukou.divisions, …"""
        return f"{self.code}.{view}"

    def school_endpoint(self, view: str) -> str:
        """A school page: archive_school.graduates, hukou_school.register, …"""
        return f"{self.code}_school.{view}"

    @property
    def form_template(self) -> str:
        """The graduate's form: extends transfers/form.html with the kind's fields and hints."""
        return f"{self.code}/form.html"

    @property
    def fields_template(self) -> str:
        """Defines the macro fields(form, picker, origin, lock): the fields between the type and 情况说明."""
        return f"{self.code}/_fields.html"

    @property
    def school_list_template(self) -> str:
        """Extends transfers/school_list.html with what the list says of a record."""
        return f"{self.code}/school_list.html"
