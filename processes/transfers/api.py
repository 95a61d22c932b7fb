"""One kind through /api/v1 (blueprint <code>_api): the graduate's 信息栏, start a registration or a change,
resubmit after a withdrawal; the school's direct registration (ARC-7; HUK-1 as ARC-7). Bodies are validated by
the page forms. Hukou only for graduates whose 户口是否转入学校 is 是 (MOD-5): others get 409 with the reason."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request
from flask_babel import gettext as _

from core.errors import Forbidden, ValidationFailed
from core.timefmt import iso
from domain import transfers
from domain.access import POLICY, SCHOOL
from domain.graduate_info import current_info
from domain.models import Graduate, RegisteredInfo
from engine.models import ProcessInstance, WorkItem
from forms.describe import describe
from webapp.api.base import api_blueprint, body, step_response
from webapp.api.openapi import _id, _op
from webapp.session import check_area, current_actor, log_refusal, run_step

from . import services
from .forms import TransferFieldsForm
from .pages import origin_json
from .spec import TransferSpec


def string_schema(max_length: int | None = None, **kw: Any) -> dict[str, Any]:
    """A string property of a kind's OpenAPI body (maxLength when given)."""
    out: dict[str, Any] = {"type": "string", **kw}
    if max_length:
        out["maxLength"] = max_length
    return out


def info_json(info: RegisteredInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {"id": info.id, "fields": info.fields, "source": info.source,
            "source_name": transfers.SOURCE_NAMES.get(info.source, info.source),
            "registered_at": iso(info.created_at)}


def school_graduate(graduate_id: int) -> Graduate:
    """A graduate of the actor's own school (ROLE-1); 404 otherwise, and the refusal is logged."""
    try:
        return transfers.school_graduate(g.db, current_actor(), graduate_id)
    except Forbidden:
        log_refusal(f"api school graduate {graduate_id} out of scope")
        raise


class TransferApi:
    """/api/v1/<code> and /api/v1/school/graduates/<id>/<code>, the starts and the completion the registry
    declares, and the kind's OpenAPI paths and schemas (<schema_name>, <schema_name>BySchool)."""

    def __init__(self, spec: TransferSpec) -> None:
        self.spec = spec
        self.kind = spec.kind
        self.start_registration = self._starter(transfers.REGISTRATION)
        self.start_change = self._starter(transfers.CHANGE)
        self.bp = api_blueprint(f"{spec.code}_api", spec.package)
        self.bp.add_url_rule(f"/{spec.code}", "summary", self.summary)
        self.bp.add_url_rule(f"/school/graduates/<int:graduate_id>/{spec.code}", f"school_{spec.code}",
                             self.school_record, methods=["GET", "POST"])
        self.schema: dict[str, Any] = {
            "type": "object", "required": spec.api_required, "description": spec.schema_description,
            "properties": {**spec.api_properties,
                           "attachment_ids": {"type": "array", "items": {"type": "integer"},
                                              "maxItems": transfers.MAX_IMAGES}},
        }
        school_schema: dict[str, Any] = {"type": "object", "required": spec.api_required,
                                         "properties": spec.api_properties,
                                         "description": spec.school_schema_description}
        self.schemas = {spec.schema_name: self.schema, f"{spec.schema_name}BySchool": school_schema}
        self.paths = {
            f"/{spec.code}": {"get": _op(spec.summary_doc)},
            f"/school/graduates/{{graduate_id}}/{spec.code}": {
                "get": _op(spec.school_get_doc, params=[_id("graduate_id")]),
                "post": _op(spec.school_post_doc, body=f"{spec.schema_name}BySchool", ok="201",
                            params=[_id("graduate_id")]),
            },
        }

    def _valid(self, data: dict[str, Any], form_cls: type[TransferFieldsForm] | None = None) -> TransferFieldsForm:
        form = (form_cls or self.spec.form).from_json(data)
        if not form.validate():
            raise ValidationFailed(form.first_error(), details=form.error_details())
        return form

    def _graduate_actor(self):
        actor = current_actor()
        if not POLICY.is_graduate(actor):
            raise Forbidden(_("只有毕业生本人可以办理%(registration_title)s", registration_title=_(self.kind.registration_title)))
        return actor

    def _starter(self, action: str) -> Callable[[dict[str, Any]], Any]:
        def api_start(data: dict[str, Any]):
            clean = self._valid(data).clean()
            actor = self._graduate_actor()
            inst = run_step(lambda db: services.start(self.spec, db, g.runtime.runner, actor,
                                                      db.get(Graduate, actor.graduate_id), action, clean))
            return step_response(inst, 201)

        return api_start

    def complete(self, item: WorkItem, data: dict[str, Any]):
        clean = self._valid(data).clean()
        actor = self._graduate_actor()
        return run_step(lambda db: services.resubmit(self.spec, db, g.runtime.runner, actor,
                                                     db.get(Graduate, actor.graduate_id), item.id, clean))

    def fields(self) -> list[dict[str, Any]]:
        return describe(self.spec.form)

    def summary(self):
        """信息栏: the valid record (any source), the open application, and what may be started now."""
        actor = self._graduate_actor()
        graduate = g.db.get(Graduate, actor.graduate_id)
        opened = transfers.open_application(g.db, graduate.id, self.kind)
        instance = g.db.get(ProcessInstance, opened.instance_id) if opened else None
        origin = origin_json(graduate)
        return jsonify(
            closed_reason=transfers.closed_reason(graduate, self.kind),
            info=info_json(current_info(g.db, graduate.id, self.kind.code)),
            open_application={"instance_id": instance.id, "title": instance.title,
                              "status_label": instance.status_label} if instance else None,
            offered={"registration": self.spec.registration_id, "change": self.spec.change_id}.get(
                transfers.offered_action(g.db, graduate, self.kind) or ""),
            origin={k: origin[k] for k in ("code", "codes", "name", "province")} if origin else None,  # ARC-3
            types=list(transfers.TRANSFER_TYPES), proofs=transfers.PROOFS,
        )

    def school_record(self, graduate_id: int):
        """ARC-7: the school reads or registers a graduate's record directly (valid at once, no review)."""
        if current_actor().role == SCHOOL:
            check_area(self.kind.code, write=request.method == "POST")  # ROLE-2, before the graduate is looked up
        graduate = school_graduate(graduate_id)
        if request.method == "GET":
            current = current_info(g.db, graduate.id, self.kind.code)
            return jsonify(graduate_id=graduate.id, info=info_json(current))
        clean = self._valid(body(), self.spec.fields_form).clean()
        actor = current_actor()
        info = run_step(lambda db: transfers.register_by_school(db, actor, graduate_id, self.kind, clean))
        return jsonify(graduate_id=graduate_id, info=info_json(info)), 201
