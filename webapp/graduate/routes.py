"""Graduate pages: confirmation, modules, destination filing, records, messages, images."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from domain import dicts, filing
from domain.accounts import current_graduate
from domain.attachments import store_images
from domain.models import Account, Attachment, DestinationRecord, Graduate, Message
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import ProcessInstance, WorkItem
from forms.destination import ActionForm, DestinationForm
from gradflow.db import utcnow
from webapp.graduate import signing as signing_views
from webapp.session import current_actor, log_refusal, role_required, run_step

bp = Blueprint("graduate", __name__)
signing_views.register(bp)


def me() -> Graduate:
    graduate = current_graduate(g.db, g.db.get(Account, current_user.id))
    if graduate is None:
        abort(403)
    return graduate


def _uploads(form: DestinationForm) -> list[tuple[str, bytes]]:
    files = []
    for storage in request.files.getlist(form.images.name):
        if storage and storage.filename:
            files.append((storage.filename, storage.read()))
    return files


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


@bp.route("/graduate")
@role_required("graduate")
def modules():
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = filing.module_closed_reason(graduate)
    return render_template("graduate/modules.html", graduate=graduate, destination_closed=closed)


@bp.route("/graduate/destination")
@role_required("graduate")
def destination_home():
    graduate = me()
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = filing.module_closed_reason(graduate)
    if closed:
        return render_template("error.html", message=closed), 403
    records = list(g.db.scalars(
        select(ProcessInstance).where(ProcessInstance.graduate_id == graduate.id)
        .order_by(ProcessInstance.id.desc())
    ))
    types = [t for t in dicts.destination_types() if not graduate.directed or t["code"] == filing.DIRECTED_TYPE]
    if not graduate.directed:
        types = [t for t in types if t["code"] != filing.DIRECTED_TYPE]
    return render_template("graduate/destination_home.html", graduate=graduate, records=records,
                           categories=dicts.destination_categories(), types=types)


def _save_filing(graduate: Graduate, form: DestinationForm, work_item_id: int | None = None):
    actor = current_actor()
    files = _uploads(form)
    clean = form.clean()

    def do(db):
        grad = db.get(Graduate, graduate.id)
        stored = store_images(db, grad.id, actor.id, files, existing=len(clean["attachment_ids"]))
        clean["attachment_ids"] = clean["attachment_ids"] + [a.id for a in stored]
        if work_item_id is None:
            return filing.start_filing(db, g.runtime.runner, actor, grad, clean)
        return filing.resubmit(db, g.runtime.runner, actor, grad, work_item_id, clean)

    return run_step(do)


@bp.route("/graduate/destination/new", methods=["GET", "POST"])
@role_required("graduate")
def destination_new():
    graduate = me()
    form = DestinationForm()
    if request.method == "GET":
        form.dest_type.data = request.args.get("type")
        if graduate.directed:
            form.dest_type.data = filing.DIRECTED_TYPE
    error = None
    if form.validate_on_submit():
        try:
            instance = _save_filing(graduate, form)
        except (ValidationFailed, Conflict) as exc:
            error = exc.message
        else:
            flash("已提交，等待审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    return render_template("graduate/destination_form.html", form=form, graduate=graduate, error=error,
                           dest_type=dicts.destination_type(form.dest_type.data or ""), attachments=[]), \
        (422 if error else 200)


def _instance(instance_id: int) -> ProcessInstance:
    try:
        return filing.instance_for(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise


@bp.route("/graduate/records/<int:instance_id>")
@role_required("graduate")
def record(instance_id: int):
    _instance(instance_id)
    return render_record(instance_id)


def render_record(instance_id: int, *, error: str | None = None, status: int = 200, **extra):
    """The graduate's record page; actions re-render it with their error and their filled form."""
    instance = _instance(instance_id)
    ctx = record_context(instance)
    ctx.update(signing_views.record_actions(g.db, instance, ctx))
    ctx.update(signing_views.forms_for(instance, ctx, extra))
    ctx.update({k: v for k, v in extra.items() if k not in ("term_form", "stamped_form")})
    return render_template("graduate/record.html", **ctx, form=ActionForm(), error=error), status


def record_context(instance: ProcessInstance) -> dict:
    db = g.db
    rec = db.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == instance.id))
    items = list(db.scalars(select(WorkItem).where(WorkItem.instance_id == instance.id).order_by(WorkItem.id)))
    open_items = [i for i in items if i.state == "open"]
    history = g.runtime.runner.history(db, instance.id)
    attachments = []
    if rec and rec.attachment_ids:
        attachments = list(db.scalars(select(Attachment).where(Attachment.id.in_(rec.attachment_ids))))
    ctx = dict(instance=instance, rec=rec, items=items, open_items=open_items, history=history,
               attachments=attachments, signing=None)
    if instance.process_id in signing_views.AGREEMENT_PROCESSES + signing_views.TERMINATION_PROCESSES:
        ctx["signing"] = signing_views.signing_context(db, instance)
        ctx.update({k: v for k, v in ctx["signing"].items() if k in ("agreement", "termination", "open_termination")})
    return ctx


@bp.route("/graduate/work/<int:item_id>", methods=["GET", "POST"])
@role_required("graduate")
def work(item_id: int):
    graduate = me()
    runner = g.runtime.runner
    try:
        item = runner.open_work_item(g.db, item_id, current_actor())
    except Forbidden:
        log_refusal(f"work item {item_id} out of scope")
        raise
    if item.state != "open" or item.role != "Graduate":
        return redirect(url_for("graduate.record", instance_id=item.instance_id))
    data = runner.task_data(g.db, item)
    if item.form_key == "offline_agreement":
        return signing_views.offline_form(graduate, item, data)
    if item.form_key == "paper_agreement":
        return signing_views.paper_form(graduate, item, data)
    if item.form_key == "termination_letter":
        return signing_views.letter_form(graduate, item, data)
    if item.form_key != "destination":
        return redirect(url_for("graduate.record", instance_id=item.instance_id))
    form = DestinationForm()
    if request.method == "GET":
        form.fill_from(data.get("application") or {})
    error = None
    if form.validate_on_submit():
        try:
            instance = _save_filing(graduate, form, work_item_id=item.id)
        except (ValidationFailed, Conflict) as exc:
            error = exc.message
        else:
            flash("已重新提交，等待审核")
            return redirect(url_for("graduate.record", instance_id=instance.id))
    elif request.method == "POST":
        error = form.first_error()
    attachments = list(g.db.scalars(select(Attachment).where(Attachment.id.in_(form.attachment_ids.data or []))))
    return render_template("graduate/destination_form.html", form=form, graduate=graduate, error=error, item=item,
                           reason=data.get("reason"), dest_type=dicts.destination_type(form.dest_type.data or ""),
                           attachments=attachments), (422 if error else 200)


@bp.route("/graduate/records/<int:instance_id>/withdraw", methods=["POST"])
@role_required("graduate")
def withdraw(instance_id: int):
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        run_step(lambda db: filing.withdraw(db, g.runtime.runner, actor, instance_id))
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash("已撤回，请修改后重新提交")
    return redirect(url_for("graduate.record", instance_id=instance_id))


@bp.route("/graduate/records/<int:instance_id>/void", methods=["POST"])
@role_required("graduate")
def void(instance_id: int):
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        run_step(lambda db: filing.void(db, g.runtime.runner, actor, instance_id))
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash("该去向已作废，可重新登记去向或签约")
    return redirect(url_for("graduate.record", instance_id=instance_id))


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
    actor = current_actor()
    allowed = False
    if row is not None and row.graduate_id is not None:
        owner = g.db.get(Graduate, row.graduate_id)
        allowed = (
            actor.role == "Admin"
            or (actor.role == "Graduate" and actor.graduate_id == owner.id)
            or (actor.role == "Department" and actor.department_id == owner.department_id)
            or (actor.role == "School" and actor.school_id == owner.school_id)
        )
    if not allowed:
        log_refusal(f"attachment {attachment_id} out of scope")
        raise Forbidden("图片不存在或无权访问")
    resp = Response(row.data, mimetype=row.mime)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Content-Disposition"] = "inline"
    return resp
