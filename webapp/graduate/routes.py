"""Graduate pages every process shares: confirmation, modules, 去向填报 with its records, one record,
the work page of an open task, withdraw (REV-6), messages and images.

What a record shows and which form a task opens come from the process module that owns it
(the runtime's module registry); nothing here names a process or a form key.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import func, select

from core.db import utcnow
from core.errors import Conflict, Forbidden, ValidationFailed
from domain import blobs
from domain.access import POLICY
from domain.models import Account, Attachment, Graduate, Message
from domain.schools import module_closed_reason
from engine.models import AuditEvent, ProcessInstance, WorkItem
from forms.auth import ContactForm
from forms.base import ActionForm
from webapp.records import record_context
from webapp.session import current_actor, log_refusal, request_graduate, role_required, run_step

bp = Blueprint("graduate", __name__)


def me() -> Graduate:
    account = g.db.get(Account, current_user.id)
    graduate = request_graduate(account) if account is not None else None
    if graduate is None:
        abort(403)
    return graduate


@bp.route("/graduate/confirm", methods=["GET", "POST"])
@role_required("graduate")
def confirm():
    graduate = me()
    form = ActionForm()
    if form.validate_on_submit():
        def do(db):
            row = db.get(Graduate, graduate.id)
            if row.confirmed_at is None:
                row.confirmed_at = utcnow()

        run_step(do)
        return redirect(url_for("graduate.modules"))
    return render_template("graduate/confirm.html", graduate=graduate, form=form)


@bp.route("/graduate/account", methods=["GET", "POST"])
@role_required("graduate")
def account():
    """GRAD-3: 账号信息 — the graduate changes their own mobile number and e-mail."""
    graduate = me()
    form = ContactForm()
    if request.method == "GET":
        form.phone.data, form.email.data = graduate.phone, graduate.email
    error = None
    if form.validate_on_submit():
        update_contact(graduate.id, form.clean())
        flash("账号信息已保存")
        return redirect(url_for("graduate.account"))
    if request.method == "POST":
        error = form.first_error()
    return render_template("graduate/account.html", graduate=graduate, form=form, error=error), (422 if error else 200)


def update_contact(graduate_id: int, clean: dict[str, str | None]) -> None:
    def do(db):
        row = db.get(Graduate, graduate_id)
        row.phone, row.email = clean["phone"], clean["email"]

    run_step(do)


def todo(db, actor) -> list[dict[str, Any]]:
    """What waits for the graduate, oldest first: each open task of theirs, with what its module says about
    it (an invitation's deadline) or, after a return, the reviewer's reason."""
    items = list(db.scalars(select(WorkItem).where(POLICY.item_filter(actor), WorkItem.state == "open",
                                                   WorkItem.optional.is_(False))
                            .order_by(WorkItem.created_at, WorkItem.id).limit(20)))
    out = []
    for item in items:
        spec = g.runtime.modules.form(item.form_key)
        note = spec.todo_note(db, item) if spec is not None and spec.todo_note is not None else ""
        if not note:  # returned, and nothing has happened since: the reviewer's reason
            last = db.scalar(select(AuditEvent).where(AuditEvent.instance_id == item.instance_id,
                                                      AuditEvent.decision.is_not(None))
                             .order_by(AuditEvent.id.desc()).limit(1))
            if last is not None and last.decision == "return" and last.reason:
                note = gettext("退回原因：%(reason)s", reason=last.reason)
        out.append({"item": item, "instance": db.get(ProcessInstance, item.instance_id), "note": note})
    return out


@bp.route("/graduate")
@role_required("graduate")
def modules():
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = module_closed_reason(graduate)
    return render_template("graduate/modules.html", graduate=graduate, destination_closed=closed,
                           entries=module_entries(graduate), todo=todo(g.db, current_actor()))


def module_entries(graduate: Graduate) -> list[dict[str, Any]]:
    """MOD-1 / MOD-4: the cards modules declare, each a link when open, or saying why it is closed."""
    out = []
    for module in g.runtime.modules.modules:
        entry = module.entry
        if entry is None:
            continue
        closed = entry.closed_reason(g.db, graduate) if entry.closed_reason is not None else None
        out.append({"title": entry.title, "description": entry.description, "closed": closed,
                    "url": None if closed else url_for(entry.endpoint),
                    "id": entry.element_id or f"module-{module.name}"})
    return out


@bp.route("/graduate/destination")
@role_required("graduate")
def destination_home():
    """去向填报: how each module starts its processes, then every record of the graduate."""
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = module_closed_reason(graduate)
    if closed:
        return render_template("error.html", message=closed), 403
    records = list(g.db.scalars(
        select(ProcessInstance).where(POLICY.instance_filter(current_actor()))
        .order_by(ProcessInstance.id.desc())
    ))
    blocks = []
    for module in g.runtime.modules.modules:
        if module.home_template:
            ctx = module.home_context(g.db, graduate) if module.home_context else {}
            blocks.append(Markup(render_template(module.home_template, graduate=graduate, **ctx)))
    return render_template("graduate/destination_home.html", graduate=graduate, records=records, blocks=blocks,
                           todo=todo(g.db, current_actor()))


def scoped_instance(instance_id: int) -> ProcessInstance:
    try:
        return POLICY.instance(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise


@bp.route("/graduate/records/<int:instance_id>")
@role_required("graduate")
def record(instance_id: int):
    return render_record(instance_id)


def render_record(instance_id: int, *, error: str | None = None, status: int = 200, **extra: Any):
    """The graduate's record page; module actions re-render it with their error and their filled form."""
    instance = scoped_instance(instance_id)
    ctx = record_context(g.db, instance)
    ctx.update(extra)
    part = ctx["part"]
    if part is not None and part.actions is not None:
        ctx.update(part.actions(g.db, instance, ctx))
    ctx["actions_template"] = part.actions_template if part is not None else ""
    ctx["extra_templates"] = []
    for module in g.runtime.modules.modules:  # e.g. the shared review's 撤回修改 on every withdrawable record
        if module.record_extras is not None:
            ctx.update(module.record_extras(g.db, instance, ctx))
            ctx["extra_templates"].append(module.record_extras_template)
    ctx.update(extra)
    return render_template("graduate/record.html", **ctx, form=ActionForm(), error=error), status


@bp.route("/graduate/work/<int:item_id>", methods=["GET", "POST"])
@role_required("graduate")
def work(item_id: int):
    """The open task's form, as the module that owns its form key draws it."""
    graduate = me()
    runner = g.runtime.runner
    try:
        item = runner.open_work_item(g.db, item_id, current_actor())
    except Forbidden:
        log_refusal(f"work item {item_id} out of scope")
        raise
    if item.state != "open" or item.role != "Graduate":
        return redirect(url_for("graduate.record", instance_id=item.instance_id))
    spec = g.runtime.modules.form(item.form_key)
    if spec is None or spec.graduate_page is None:
        return redirect(url_for("graduate.record", instance_id=item.instance_id))
    return spec.graduate_page(graduate, item, runner.task_data(g.db, item))


@bp.route("/messages")
@login_required
def messages():
    rows = list(g.db.scalars(select(Message).where(Message.account_id == current_user.id)
                             .order_by(Message.id.desc()).limit(200)))
    unread = [m.id for m in rows if m.read_at is None]
    if unread:
        def mark(db):
            for m in db.scalars(select(Message).where(Message.id.in_(unread))):
                m.read_at = utcnow()

        run_step(mark)
    return render_template("graduate/messages.html", messages=rows, unread=set(unread))


def unread_count() -> int:
    if not current_user.is_authenticated:
        return 0
    return g.db.scalar(select(func.count()).select_from(Message).where(
        Message.account_id == current_user.id, Message.read_at.is_(None))) or 0


@bp.app_context_processor
def _inject():
    return {"unread_count": unread_count}


@bp.route("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    row = g.db.get(Attachment, attachment_id)
    if row is None or not POLICY.may_see_attachment(g.db, current_actor(), row):
        log_refusal(f"attachment {attachment_id} out of scope")
        raise Forbidden("图片不存在或无权访问")
    resp = Response(blobs.read(g.db, row.storage_key, row.data), mimetype=row.mime)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Content-Disposition"] = "inline"
    return resp


def record_action(instance_id: int, service: Any, done: str):
    """A button on a record page (void, withdraw): one step, its refusal or success flashed, back to the record."""
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        run_step(lambda db: service(db, g.runtime.runner, actor, instance_id))
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(done)
    return redirect(url_for("graduate.record", instance_id=instance_id))


def open_graduate_item(graduate_id: int, form_key: str) -> WorkItem | None:
    """The graduate's newest open task of one form (a module continues it instead of starting anew)."""
    return g.db.scalar(select(WorkItem).where(WorkItem.graduate_id == graduate_id, WorkItem.state == "open",
                                              WorkItem.role == "Graduate", WorkItem.form_key == form_key)
                       .order_by(WorkItem.id.desc()).limit(1))
