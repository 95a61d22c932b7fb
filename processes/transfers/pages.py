"""The pages of one kind (ARC, HUK-1, HUK-2): the 信息栏 with its 申请记录, the registration and change form
(new and after a withdrawal), the 省/市/区 picker's data, and what the record and review pages show of an
application. Hukou's are only for graduates whose 户口是否转入学校 is 是 (MOD-5); the others see why."""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from jinja2 import FileSystemLoader
from sqlalchemy import select

from core.errors import Conflict, ValidationFailed
from domain import dicts, transfers
from domain.attachments import store_images
from domain.graduate_info import current_info
from domain.models import Attachment, Graduate
from domain.transfers import Kind
from engine.models import ProcessInstance, WorkItem
from webapp.graduate.routes import me
from webapp.session import current_actor, role_required, run_step

from . import services
from .forms import ProofImages, TransferFieldsForm
from .spec import TransferSpec

SHARED_TEMPLATES = Path(__file__).resolve().parent / "templates"
HIDDEN = {"division_code", "attachment_ids"}  # shown through division_name, or as images


class KindBlueprint(Blueprint):
    """A kind's blueprint: its templates (templates/<code>/…) and, after them, the transfers/… ones both kinds
    extend and include. Flask gives a blueprint one template folder; this one loads from two."""

    @cached_property
    def jinja_loader(self) -> FileSystemLoader | None:
        assert self.template_folder is not None
        return FileSystemLoader([os.path.join(self.root_path, self.template_folder), str(SHARED_TEMPLATES)])


def attachments_of(db, ids) -> list[Attachment]:
    ids = [i for i in (ids or []) if isinstance(i, int)]
    return list(db.scalars(select(Attachment).where(Attachment.id.in_(ids)))) if ids else []


def info_rows(kind: Kind, fields: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A record or an application as label/value rows, in the form's order (ARC-2, HUK-1)."""
    fields = fields or {}
    order = [n for n in kind.fields if n in fields] + [n for n in fields if n not in kind.fields]
    return [(kind.label(n), str(fields[n])) for n in order
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


def divisions():
    """Children of one 行政区划 (GB/T 2260, DICT-2) for the 省/市/区 pickers; provinces without a parent."""
    parent = (request.args.get("parent") or "")[:6]
    resp = jsonify(items=dicts.children(parent) if parent else dicts.provinces())
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


class TransferPages:
    """One kind's graduate pages (blueprint <code>: /graduate/<code>…, /<code>/divisions) and its part of the
    generic record and review pages."""

    def __init__(self, spec: TransferSpec) -> None:
        self.spec = spec
        self.kind = spec.kind
        self.edit_labels = dict(spec.kind.labels)  # REV-5: how an edit's before/after is named
        self.bp = self._blueprint()

    def _blueprint(self) -> Blueprint:
        bp = KindBlueprint(self.spec.code, self.spec.package, template_folder="templates")
        graduate = role_required("graduate")
        base = f"/graduate/{self.spec.code}"
        bp.add_url_rule(base, "home", graduate(self.home))
        bp.add_url_rule(f"{base}/register", "register", graduate(self.register), methods=["GET", "POST"])
        bp.add_url_rule(f"{base}/change", "change", graduate(self.change), methods=["GET", "POST"])
        bp.add_url_rule(f"/{self.spec.code}/divisions", "divisions", login_required(divisions))
        return bp

    # -- the graduate's pages -------------------------------------------------------------------------------
    def home(self):
        """信息栏 and 申请记录: the valid record (any source, ARC-7), the open application, what may be done."""
        graduate = me()
        if graduate.confirmed_at is None:
            return redirect(url_for("graduate.confirm"))
        closed = transfers.closed_reason(graduate, self.kind)
        info = current_info(g.db, graduate.id, self.kind.code)
        opened = transfers.open_application(g.db, graduate.id, self.kind)
        return render_template(
            "transfers/home.html", transfer_spec=self.spec, graduate=graduate, closed=closed, info=info,
            info_rows=info_rows(self.kind, info.fields if info else None), source_names=transfers.SOURCE_NAMES,
            open_instance=g.db.get(ProcessInstance, opened.instance_id) if opened else None,
            offered=transfers.offered_action(g.db, graduate, self.kind),
            records=services.records(self.spec, g.db, current_actor()),
        ), (403 if closed else 200)

    def register(self):
        return self._form_page(transfers.REGISTRATION)

    def change(self):
        return self._form_page(transfers.CHANGE)

    def _uploads(self, form: ProofImages) -> list[tuple[str, bytes]]:
        return [(f.filename, f.read()) for f in request.files.getlist(form.images.name) if f and f.filename]

    def _save(self, graduate: Graduate, form: ProofImages, action: str,
              work_item_id: int | None = None) -> ProcessInstance:
        actor = current_actor()
        files = self._uploads(form)
        clean = form.clean()

        def do(db):
            grad = db.get(Graduate, graduate.id)
            stored = store_images(db, grad.id, actor.id, files, existing=len(clean["attachment_ids"]),
                                  limit=transfers.MAX_IMAGES)
            clean["attachment_ids"] = clean["attachment_ids"] + [a.id for a in stored]
            if work_item_id is None:
                return services.start(self.spec, db, g.runtime.runner, actor, grad, action, clean)
            return services.resubmit(self.spec, db, g.runtime.runner, actor, grad, work_item_id, clean)

        return run_step(do)

    def _submit(self, graduate: Graduate, form: ProofImages, action: str, notice: str,
                work_item_id: int | None = None) -> tuple[Any, str | None]:
        """Validate and save a posted form: (the redirect to the record, None) once saved, otherwise (None, the
        error to show, which is None on a GET)."""
        if form.validate_on_submit():
            try:
                instance = self._save(graduate, form, action, work_item_id=work_item_id)
            except (ValidationFailed, Conflict) as exc:
                return None, _(exc.message)
            flash(notice)
            return redirect(url_for("graduate.record", instance_id=instance.id)), None
        return None, (form.first_error() if request.method == "POST" else None)

    def _render_form(self, graduate: Graduate, form: ProofImages, error: str | None, *, title: str, **extra: Any):
        origin = origin_json(graduate)
        return render_template(self.spec.form_template, transfer_spec=self.spec, form=form, graduate=graduate,
                               error=error, title=title, picker=picker(form.division_code.data), origin=origin,
                               lock=bool(origin) and form.transfer_type.data == transfers.BACK_TO_ORIGIN,
                               back_to_origin=transfers.BACK_TO_ORIGIN, **extra), (422 if error else 200)

    def _form_page(self, action: str):
        graduate = me()
        if graduate.confirmed_at is None:
            return redirect(url_for("graduate.confirm"))
        reason = transfers.closed_reason(graduate, self.kind)
        if reason:  # MOD-5 / MOD-4 / GRAD-5: the graduate sees why, on GET and on POST alike
            return render_template("error.html", message=reason), 403
        form = self.spec.form()
        if request.method == "GET":
            try:
                transfers.check_start(g.db, current_actor(), graduate, self.kind, action)
            except Conflict as exc:  # already registered, nothing to change, one open already
                flash(exc.message, "error")
                return redirect(url_for(self.spec.endpoint("home")))
            current = current_info(g.db, graduate.id, self.kind.code)
            if action == transfers.CHANGE and current is not None:
                form.fill_from(current.fields)  # ARC-6: the change starts from the valid record
            chosen = request.args.get("type", "")
            if chosen in transfers.TRANSFER_TYPES:
                form.transfer_type.data = chosen
                form.fill_from(transfers.prefill(self.kind, graduate, chosen))  # ARC-3
        done, error = self._submit(graduate, form, action, _("已提交，等待院系及学校审核"))
        if done is not None:
            return done
        return self._render_form(graduate, form, error, title=self.kind.title_of(action), attachments=[])

    def resubmit_page(self, graduate: Graduate, item: WorkItem, data: dict[str, Any]):
        """The graduate's work page after withdrawing before review (REV-6): edit and submit again."""
        form = self.spec.form()
        if request.method == "GET":
            form.fill_from(data.get("application") or {})
        done, error = self._submit(graduate, form, data.get("action") or transfers.REGISTRATION,
                                   _("已重新提交，等待院系及学校审核"), work_item_id=item.id)
        if done is not None:
            return done
        instance = g.db.get(ProcessInstance, item.instance_id)
        title = instance.title if instance else self.kind.registration_title
        return self._render_form(graduate, form, error, title=title, item=item,
                                 attachments=[a for a in attachments_of(g.db, form.attachment_ids.data)
                                              if a.graduate_id == graduate.id])  # never echo a foreign id (issue 12)

    # -- what the generic record and review pages show of this kind -------------------------------------
    def record_context(self, db, instance: ProcessInstance) -> dict[str, Any]:
        row = transfers.application_of(db, instance.id)
        return {"transfer_spec": self.spec, "transfer": row,
                "transfer_rows": info_rows(self.kind, row.fields if row else None),
                "attachments": attachments_of(db, row.attachment_ids if row else [])}

    def review_context(self, db, instance: ProcessInstance, application: dict[str, Any]) -> dict[str, Any]:
        graduate = db.get(Graduate, instance.graduate_id)
        changing = graduate is not None and instance.process_id == self.spec.change_id
        current = current_info(db, graduate.id, self.kind.code) if changing else None
        return {"transfer_spec": self.spec, "transfer_rows": info_rows(self.kind, application),
                "current_rows": info_rows(self.kind, current.fields if current else None),
                "attachments": attachments_of(db, application.get("attachment_ids")),
                "origin_name": graduate.origin_name if graduate else "",
                "edit_picker": picker(application.get("division_code")),
                "edit_origin": origin_json(graduate) if graduate else None,
                "back_to_origin": transfers.BACK_TO_ORIGIN}

    def edit_form(self, instance: ProcessInstance, prefix: str,
                  body: dict[str, Any] | None = None) -> TransferFieldsForm:
        if body is not None:
            return self.spec.fields_form.from_json(body)
        return self.spec.fields_form(prefix=prefix)

    def apply_edit(self, db, instance: ProcessInstance, application: dict[str, Any],
                   form: TransferFieldsForm) -> dict[str, Any]:
        """REV-5 / NOTE-3: the reviewer's edit, checked like the graduate's (ARC-3 included); the proof images
        stay."""
        clean = {**form.clean(), "attachment_ids": list(application.get("attachment_ids") or [])}
        return transfers.build_application(self.kind, db.get(Graduate, instance.graduate_id), clean,
                                           require_proof=False)

    def api_json(self, db, instance: ProcessInstance) -> dict[str, Any]:
        row = transfers.application_of(db, instance.id)
        if row is None:
            return {}
        return {f"{self.kind.code}_application": {"action": row.action, "status": row.status, "fields": row.fields,
                                                  "attachment_ids": row.attachment_ids, "reason": row.reason}}
