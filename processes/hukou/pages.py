"""Hukou pages (HUK-1, HUK-2): the 户口信息栏 with its 申请记录, the registration and change form (new and after a
withdrawal), the 省/市/区 picker's data, and what record and review pages show of a hukou application.

Only graduates whose 户口是否转入学校 is 是 use them (MOD-5); the others see why."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from core.errors import Conflict, ValidationFailed
from domain import dicts, transfers
from domain.attachments import store_images
from domain.graduate_info import current_info
from domain.models import Attachment, Graduate
from domain.transfers import HUKOU_KIND as KIND
from engine.models import ProcessInstance, WorkItem
from webapp.graduate.routes import me
from webapp.session import current_actor, role_required, run_step

from . import services
from .forms import HukouFieldsForm, HukouForm

bp = Blueprint("hukou", __name__, template_folder="templates")
EDIT_LABELS = dict(KIND.labels)  # REV-5: how an edit's before/after is named
HIDDEN = {"division_code", "attachment_ids"}  # shown through division_name, or as images


def attachments_of(db, ids) -> list[Attachment]:
    ids = [i for i in (ids or []) if isinstance(i, int)]
    return list(db.scalars(select(Attachment).where(Attachment.id.in_(ids)))) if ids else []


def info_rows(fields: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A record or an application as label/value rows, in the form's order (HUK-1)."""
    fields = fields or {}
    order = [n for n in KIND.fields if n in fields] + [n for n in fields if n not in KIND.fields]
    return [(KIND.label(n), str(fields[n])) for n in order
            if n not in HIDDEN and fields[n] not in (None, "") and not isinstance(fields[n], (list, dict))]


def picker(code: str | None) -> dict[str, Any]:
    """The 省/市/区 selects for a chosen division: every level's options and the chosen codes."""
    chosen = dicts.division_path(code) if code else []
    return {"levels": [dicts.provinces()] + [dicts.children(c["code"]) for c in chosen[:2]],
            "chosen": [c["code"] for c in chosen]}


def origin_json(graduate: Graduate) -> dict[str, Any] | None:
    """ARC-3: what 转回生源地 fills in (the 生源所在地) and the province it locks; None when unknown."""
    path = transfers.origin_path(graduate)
    if not path:
        return None
    return {"code": path[-1]["code"], "codes": [p["code"] for p in path], "province": path[0]["name"],
            "name": "".join(p["name"] for p in path), **picker(path[-1]["code"])}


def _uploads(form: HukouForm) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(form.images.name) if f and f.filename]


def _save(graduate: Graduate, form: HukouForm, action: str, work_item_id: int | None = None) -> ProcessInstance:
    actor = current_actor()
    files = _uploads(form)
    clean = form.clean()

    def do(db):
        grad = db.get(Graduate, graduate.id)
        stored = store_images(db, grad.id, actor.id, files, existing=len(clean["attachment_ids"]),
                              limit=transfers.MAX_IMAGES)
        clean["attachment_ids"] = clean["attachment_ids"] + [a.id for a in stored]
        if work_item_id is None:
            return services.start(db, g.runtime.runner, actor, grad, action, clean)
        return services.resubmit(db, g.runtime.runner, actor, grad, work_item_id, clean)

    return run_step(do)


def _render_form(graduate: Graduate, form: HukouForm, error: str | None, *, title: str, **extra: Any):
    origin = origin_json(graduate)
    return render_template("hukou/form.html", form=form, graduate=graduate, error=error, title=title,
                           picker=picker(form.division_code.data), origin=origin,
                           lock=bool(origin) and form.hukou_type.data == transfers.BACK_TO_ORIGIN,
                           back_to_origin=transfers.BACK_TO_ORIGIN, **extra), (422 if error else 200)


def _form_page(action: str):
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    reason = transfers.closed_reason(graduate, KIND)
    if reason:  # MOD-5 / MOD-4 / GRAD-5: the graduate sees why, on GET and on POST alike
        return render_template("error.html", message=reason), 403
    form = HukouForm()
    if request.method == "GET":
        try:
            transfers.check_start(g.db, current_actor(), graduate, KIND, action)
        except Conflict as exc:  # already registered, nothing to change, one open already
            flash(exc.message, "error")
            return redirect(url_for("hukou.home"))
        current = current_info(g.db, graduate.id, KIND.code)
        if action == transfers.CHANGE and current is not None:
            form.fill_from(current.fields)  # HUK-1 (as ARC-6): the change starts from the valid record
        chosen = request.args.get("type", "")
        if chosen in transfers.TRANSFER_TYPES:
            form.hukou_type.data = chosen
            form.fill_from(transfers.prefill(KIND, graduate, chosen))  # ARC-3
    error = None
    if form.validate_on_submit():
        try:
            instance = _save(graduate, form, action)
        except (ValidationFailed, Conflict) as exc:
            error = exc.message
        else:
            flash("已提交，等待院系及学校审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    return _render_form(graduate, form, error, title=KIND.title_of(action), attachments=[])


@bp.route("/graduate/hukou")
@role_required("graduate")
def home():
    """户口信息栏 and 申请记录: the valid record (any source, ARC-7), the open application, what may be done."""
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = transfers.closed_reason(graduate, KIND)
    info = current_info(g.db, graduate.id, KIND.code)
    opened = transfers.open_application(g.db, graduate.id, KIND)
    return render_template(
        "hukou/home.html", graduate=graduate, closed=closed, info=info,
        info_rows=info_rows(info.fields if info else None), source_names=transfers.SOURCE_NAMES,
        open_instance=g.db.get(ProcessInstance, opened.instance_id) if opened else None,
        offered=transfers.offered_action(g.db, graduate, KIND), records=services.records(g.db, current_actor()),
    ), (403 if closed else 200)


@bp.route("/graduate/hukou/register", methods=["GET", "POST"])
@role_required("graduate")
def register():
    return _form_page(transfers.REGISTRATION)


@bp.route("/graduate/hukou/change", methods=["GET", "POST"])
@role_required("graduate")
def change():
    return _form_page(transfers.CHANGE)


@bp.route("/hukou/divisions")
@login_required
def divisions():
    """Children of one 行政区划 (GB/T 2260, DICT-2) for the 省/市/区 pickers; provinces without a parent."""
    parent = (request.args.get("parent") or "")[:6]
    resp = jsonify(items=dicts.children(parent) if parent else dicts.provinces())
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


def resubmit_page(graduate: Graduate, item: WorkItem, data: dict[str, Any]):
    """The graduate's work page after withdrawing before review (REV-6): edit and submit again."""
    form = HukouForm()
    if request.method == "GET":
        form.fill_from(data.get("application") or {})
    error = None
    if form.validate_on_submit():
        try:
            instance = _save(graduate, form, data.get("action") or transfers.REGISTRATION, work_item_id=item.id)
        except (ValidationFailed, Conflict) as exc:
            error = exc.message
        else:
            flash("已重新提交，等待院系及学校审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    instance = g.db.get(ProcessInstance, item.instance_id)
    return _render_form(graduate, form, error, title=instance.title if instance else KIND.registration_title,
                        item=item, attachments=attachments_of(g.db, form.attachment_ids.data))


# -- what the generic record and review pages show of this module -----------------------------------
def record_context(db, instance: ProcessInstance) -> dict[str, Any]:
    row = transfers.application_of(db, instance.id)
    return {"transfer": row, "transfer_rows": info_rows(row.fields if row else None),
            "attachments": attachments_of(db, row.attachment_ids if row else [])}


def review_context(db, instance: ProcessInstance, application: dict[str, Any]) -> dict[str, Any]:
    graduate = db.get(Graduate, instance.graduate_id)
    changing = graduate is not None and instance.process_id == services.CHANGE_ID
    current = current_info(db, graduate.id, KIND.code) if changing else None
    return {"transfer_rows": info_rows(application), "current_rows": info_rows(current.fields if current else None),
            "attachments": attachments_of(db, application.get("attachment_ids")),
            "origin_name": graduate.origin_name if graduate else "", "edit_picker": picker(application.get("division_code")),
            "edit_origin": origin_json(graduate) if graduate else None, "back_to_origin": transfers.BACK_TO_ORIGIN}


def edit_form(instance: ProcessInstance, prefix: str, body: dict[str, Any] | None = None) -> HukouFieldsForm:
    if body is not None:
        return HukouFieldsForm.from_json(body)
    return HukouFieldsForm(prefix=prefix)


def apply_edit(db, instance: ProcessInstance, application: dict[str, Any], form: HukouFieldsForm) -> dict[str, Any]:
    """REV-5 / NOTE-3: the reviewer's edit, checked like the graduate's (ARC-3 included); the proof images stay."""
    clean = {**form.clean(), "attachment_ids": list(application.get("attachment_ids") or [])}
    return transfers.build_application(KIND, db.get(Graduate, instance.graduate_id), clean, require_proof=False)


def api_json(db, instance: ProcessInstance) -> dict[str, Any]:
    row = transfers.application_of(db, instance.id)
    if row is None:
        return {}
    return {"hukou_application": {"action": row.action, "status": row.status, "fields": row.fields,
                                    "attachment_ids": row.attachment_ids, "reason": row.reason}}
