"""Destination filing through /api/v1: start, resubmit, void; bodies validated by the page form."""
from __future__ import annotations

from typing import Any

from flask import g

from core.errors import Forbidden, ValidationFailed
from domain import dicts
from domain.access import POLICY
from domain.models import Graduate
from engine.models import WorkItem
from webapp.api.base import api_blueprint, step_response
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, run_step

from . import services
from .forms import FIELD_LABELS, DestinationForm

bp = api_blueprint("destination_api", __name__)


def _valid(body: dict[str, Any]) -> DestinationForm:
    form = DestinationForm.from_json(body)
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    return form


def _graduate_actor():
    actor = current_actor()
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生可以发起去向登记")
    return actor


def start(body: dict[str, Any]):
    clean = _valid(body).clean()
    actor = _graduate_actor()
    inst = run_step(lambda db: services.start_filing(db, g.runtime.runner, actor, db.get(Graduate, actor.graduate_id),
                                                     clean))
    return step_response(inst, 201)


def complete(item: WorkItem, body: dict[str, Any]):
    clean = _valid(body).clean()
    actor = _graduate_actor()
    return run_step(lambda db: services.resubmit(db, g.runtime.runner, actor, db.get(Graduate, actor.graduate_id),
                                                 item.id, clean))


def complete_void(item: WorkItem, body: dict[str, Any]):
    actor = current_actor()
    return run_step(lambda db: services.void(db, g.runtime.runner, actor, item.instance_id))


@bp.route("/instances/<int:instance_id>/void", methods=["POST"])
def void(instance_id: int):
    from webapp.api.routes import scoped_instance

    scoped_instance(instance_id)
    actor = current_actor()
    return step_response(run_step(lambda db: services.void(db, g.runtime.runner, actor, instance_id)))


def fields() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": "dest_type", "label": "毕业去向类型", "type": "choice", "required": True,
                                  "choices": [{"value": t["code"], "label": t["name"]}
                                              for t in dicts.destination_types()]}]
    out += [{"name": n, "label": lbl, "type": "string", "required": False} for n, lbl in FIELD_LABELS.items()]
    out.append({"name": "attachment_ids", "label": "证明材料图片编号", "type": "array[int]", "required": False})
    return out


DESTINATION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["dest_type"],
    "properties": {
        "dest_type": {"type": "string", "description": "去向类型代码（见 /processes 与表单字段）"},
        "unit_name": {"type": "string", "maxLength": 100}, "unit_address": {"type": "string", "maxLength": 200},
        "unit_contact": {"type": "string", "maxLength": 50}, "unit_phone": {"type": "string", "maxLength": 20},
        "school_name": {"type": "string", "maxLength": 100}, "major": {"type": "string", "maxLength": 100},
        "country": {"type": "string", "maxLength": 50}, "note": {"type": "string", "maxLength": 200},
        "attachment_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
    },
}
SCHEMAS = {"Destination": DESTINATION_SCHEMA}
PATHS = {"/instances/{instance_id}/void": {"post": _op("作废已通过的去向（DST-3）", params=[_id("instance_id")])}}
