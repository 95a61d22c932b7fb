"""Department and school reviewers: the inbox and the review page (REV-1..5)."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from domain import agreement_pdf, dicts, filing
from domain.models import Agreement, Attachment, Graduate
from engine import inbox as inbox_q
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import ProcessInstance
from forms.destination import DestinationForm, ReviewForm
from webapp.graduate import signing as signing_views
from webapp.graduate.routes import record_context
from webapp.session import current_actor, log_refusal, role_required, run_step

bp = Blueprint("review", __name__, url_prefix="/review")
REVIEWERS = ("department", "school")


def _date(raw: str | None, *, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        return None
    day = day - timedelta(hours=8)  # the reviewer means Beijing dates; rows are UTC
    return day + timedelta(days=1) if end else day


def inbox_filter(args) -> inbox_q.InboxFilter:
    page = args.get("page", "1")
    return inbox_q.InboxFilter(
        state="completed" if args.get("state") == "completed" else "open",
        category=(args.get("type") or "")[:100],
        date_from=_date(args.get("from")),
        date_to=_date(args.get("to"), end=True),
        q=(args.get("q") or "").strip()[:50],
        page=int(page) if page.isdigit() and len(page) < 7 else 1,
    )


@bp.route("/inbox")
@role_required(*REVIEWERS)
def inbox():
    actor = current_actor()
    f = inbox_filter(request.args)
    rows, total = inbox_q.page(g.db, actor, f)
    return render_template("review/inbox.html", rows=rows, total=total, f=f, counts=inbox_q.counts(g.db, actor),
                           pages=max(1, -(-total // inbox_q.PAGE_SIZE)), types=dicts.destination_types())


@bp.route("/items/<int:item_id>", methods=["GET", "POST"])
@role_required(*REVIEWERS)
def item(item_id: int):
    actor = current_actor()
    runner = g.runtime.runner
    try:
        work_item = runner.open_work_item(g.db, item_id, actor)
    except Forbidden:
        log_refusal(f"work item {item_id} out of scope")
        raise
    instance = g.db.get(ProcessInstance, work_item.instance_id)
    if work_item.state != "open":
        flash("该事项已处理")
        return redirect(url_for("review.instance", instance_id=instance.id))
    data = runner.task_data(g.db, work_item)
    application = data.get("application") or {}
    graduate = g.db.get(Graduate, instance.graduate_id)
    destination = instance.process_id == filing.PROCESS_ID  # only a destination offers the REV-5 edit block
    form = ReviewForm(prefix="review")
    edit = DestinationForm(prefix="edit") if destination else None
    if request.method == "GET" and destination:
        edit.fill_from(application)
    error = None
    if form.validate_on_submit():
        edits = None
        if destination and request.form.get("edit-enabled") == "y":
            if not edit.validate():
                error = edit.first_error()
            else:
                try:
                    clean = edit.clean()
                    clean["attachment_ids"] = application.get("attachment_ids") or []
                    edits = filing.build_application(graduate, clean)
                except ValidationFailed as exc:
                    error = exc.message
        if error is None:
            try:
                run_step(lambda db: filing.review(db, runner, actor, item_id, form.decision.data,
                                                  form.reason.data or "", edits))
            except (ValidationFailed, Conflict) as exc:
                error = exc.message
            else:
                flash("审核结果已提交")
                return redirect(url_for("review.inbox"))
    elif request.method == "POST":
        error = form.first_error()
    if destination:
        attachments = list(g.db.scalars(select(Attachment).where(
            Attachment.id.in_(application.get("attachment_ids") or []))))
        view = None
    else:
        view = signing_views.application_view(g.db, instance, application)
        attachments = view["images"]
        agreement = view["target"] or g.db.scalar(select(Agreement).where(Agreement.instance_id == instance.id))
        view["agreement"] = agreement
        view["downloadable"] = (agreement is not None and agreement.kind != "paper"
                                and agreement.status in agreement_pdf.DOWNLOADABLE)
    return render_template("review/item.html", item=work_item, instance=instance, graduate=graduate,
                           application=application, form=form, edit=edit, error=error, attachments=attachments,
                           allow_return=bool(data.get("allow_return")), view=view,
                           history=runner.history(g.db, instance.id)), (422 if error else 200)


@bp.route("/instances/<int:instance_id>")
@role_required(*REVIEWERS)
def instance(instance_id: int):
    try:
        inst = filing.instance_for(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise
    graduate = g.db.get(Graduate, inst.graduate_id)
    return render_template("review/instance.html", graduate=graduate, record_endpoint="review.instance",
                           **record_context(inst))
