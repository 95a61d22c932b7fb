"""Department and school reviewers: the inbox, the page of one task, one record (REV-1..5).

The page of a task is drawn by the process module that owns the task's form key.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from core.errors import Forbidden
from domain import dicts
from domain.access import POLICY, RO
from domain.models import Graduate
from engine import inbox as inbox_q
from webapp.records import record_context
from webapp.session import current_actor, log_refusal, role_required

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
    visible = POLICY.item_filter(actor)
    rows, total = inbox_q.page(g.db, visible, f)
    # ROLE-2: items of read-only areas are listed to view, not to review
    read_only = {pid for pid, area in POLICY.areas.items() if POLICY.permission(actor, area) == RO}
    return render_template("review/inbox.html", rows=rows, total=total, f=f, counts=inbox_q.counts(g.db, visible),
                           read_only=read_only,
                           pages=max(1, -(-total // inbox_q.PAGE_SIZE)), types=dicts.destination_types())


@bp.route("/items/<int:item_id>", methods=["GET", "POST"])
@role_required(*REVIEWERS)
def item(item_id: int):
    runner = g.runtime.runner
    try:
        work_item = runner.open_work_item(g.db, item_id, current_actor())
    except Forbidden:
        log_refusal(f"work item {item_id} out of scope")
        raise
    spec = g.runtime.modules.form(work_item.form_key)
    if work_item.state != "open" or spec is None or spec.reviewer_page is None:
        if work_item.state != "open":
            flash("该事项已处理")
        return redirect(url_for("review.instance", instance_id=work_item.instance_id))
    return spec.reviewer_page(work_item, runner.task_data(g.db, work_item))


@bp.route("/instances/<int:instance_id>")
@role_required(*REVIEWERS)
def instance(instance_id: int):
    try:
        inst = POLICY.instance(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise
    graduate = g.db.get(Graduate, inst.graduate_id)
    return render_template("review/instance.html", graduate=graduate, record_endpoint="review.instance",
                           **record_context(g.db, inst))
