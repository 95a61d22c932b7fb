"""Destination filing pages (DST): the type list on 去向填报, the form (new and after a return), void,
and what its records and reviews show."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.db import by_key
from core.errors import Conflict, ValidationFailed
from domain import dicts
from domain.attachments import store_images
from domain.models import Attachment, DestinationRecord, EffectiveDestination, Graduate
from engine.models import ProcessInstance, WorkItem
from webapp.graduate.routes import me, record_action
from webapp.session import current_actor, role_required, run_step

from . import services
from .forms import FIELD_LABELS, DestinationForm

bp = Blueprint("destination", __name__, template_folder="templates")
EDIT_LABELS = {"dest_type": _l("毕业去向类型"), **FIELD_LABELS}  # REV-5: how an edit's before/after is named


def attachments_of(db, ids) -> list[Attachment]:
    ids = [i for i in (ids or []) if isinstance(i, int)]
    return list(db.scalars(select(Attachment).where(Attachment.id.in_(ids)))) if ids else []


def _uploads(form: DestinationForm) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(form.images.name) if f and f.filename]


def _save(graduate: Graduate, form: DestinationForm, work_item_id: int | None = None) -> ProcessInstance:
    actor = current_actor()
    files = _uploads(form)
    clean = form.clean()

    def do(db):
        grad = db.get(Graduate, graduate.id)
        stored = store_images(db, grad.id, actor.id, files, existing=len(clean["attachment_ids"]))
        clean["attachment_ids"] = clean["attachment_ids"] + [a.id for a in stored]
        if work_item_id is None:
            return services.start_filing(db, g.runtime.runner, actor, grad, clean)
        return services.resubmit(db, g.runtime.runner, actor, grad, work_item_id, clean)

    return run_step(do)


def _render_form(graduate: Graduate, form: DestinationForm, error: str | None, **extra: Any):
    return render_template("destination/form.html", form=form, graduate=graduate, error=error,
                           dest_type=dicts.destination_type(form.dest_type.data or ""),
                           **extra), (422 if error else 200)


@bp.route("/graduate/destination/new", methods=["GET", "POST"])
@role_required("graduate")
def destination_new():
    graduate = me()
    form = DestinationForm()
    if request.method == "GET":
        form.dest_type.data = request.args.get("type")
        if graduate.directed:
            form.dest_type.data = services.DIRECTED_TYPE
    error = None
    if form.validate_on_submit():
        try:
            instance = _save(graduate, form)
        except (ValidationFailed, Conflict) as exc:
            error = _(exc.message)
        else:
            flash("已提交，等待审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    return _render_form(graduate, form, error, attachments=[])


def resubmit_page(graduate: Graduate, item: WorkItem, data: dict[str, Any]):
    """The graduate's work page for a returned or withdrawn filing (REV-3 / REV-6)."""
    form = DestinationForm()
    if request.method == "GET":
        form.fill_from(data.get("application") or {})
    error = None
    if form.validate_on_submit():
        try:
            instance = _save(graduate, form, work_item_id=item.id)
        except (ValidationFailed, Conflict) as exc:
            error = _(exc.message)
        else:
            flash("已重新提交，等待审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    return _render_form(graduate, form, error, item=item, reason=data.get("reason"),
                        attachments=[a for a in attachments_of(g.db, form.attachment_ids.data)
                                     if a.graduate_id == graduate.id])  # never echo a foreign id (issue 12)


@bp.route("/graduate/records/<int:instance_id>/void", methods=["POST"])
@role_required("graduate")
def void(instance_id: int):
    """DST-3."""
    return record_action(instance_id, services.void, _("该去向已作废，可重新登记去向或签约"))


# -- what the generic pages show of this module ---------------------------------------------------
def home_context(db, graduate: Graduate) -> dict[str, Any]:
    """The types a graduate may file; none while a filing is open or a destination is effective (DST-4)."""
    types = [t for t in dicts.destination_types()
             if (t["code"] == services.DIRECTED_TYPE) == bool(graduate.directed)]
    open_filing = services.open_filing(db, graduate.id)
    effective = db.get(EffectiveDestination, graduate.id) is not None
    return {"categories": dicts.destination_categories(), "types": types, "open_filing": open_filing,
            "effective": effective}


def record_context(db, instance: ProcessInstance) -> dict[str, Any]:
    rec = by_key(db, DestinationRecord, "instance_id", instance.id)
    return {"rec": rec, "attachments": attachments_of(db, rec.attachment_ids if rec else []),
            "field_labels": FIELD_LABELS}


def review_context(db, instance: ProcessInstance, application: dict[str, Any]) -> dict[str, Any]:
    return {"field_labels": FIELD_LABELS, "attachments": attachments_of(db, application.get("attachment_ids"))}


def edit_form(instance: ProcessInstance, prefix: str, body: dict[str, Any] | None = None) -> DestinationForm:
    if body is not None:
        return DestinationForm.from_json(body)
    return DestinationForm(prefix=prefix)


def apply_edit(db, instance: ProcessInstance, application: dict[str, Any], form: DestinationForm) -> dict[str, Any]:
    """REV-5: the reviewer's edit, checked like the graduate's own filing; the proof images stay."""
    clean = form.clean()
    clean["attachment_ids"] = application.get("attachment_ids") or []
    return services.build_application(db.get(Graduate, instance.graduate_id), clean)


def api_json(db, instance: ProcessInstance) -> dict[str, Any]:
    rec = by_key(db, DestinationRecord, "instance_id", instance.id)
    if rec is None:
        return {}
    return {"destination": {"dest_type": rec.dest_type, "category": rec.category, "fields": rec.fields,
                            "attachment_ids": rec.attachment_ids, "status": rec.status}}
