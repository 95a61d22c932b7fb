"""Department and school reviewers: the inbox, the page of one task, one record (REV-1..5).

The page of a task is drawn by the process module that owns the task's form key.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from core.errors import Forbidden
from domain import dicts
from domain.access import POLICY, RO
from domain.models import Graduate
from domain.review_models import SavedFilter
from engine import inbox as inbox_q
from webapp.records import record_context
from webapp.session import current_actor, log_refusal, role_required, run_step

from . import filters
from .forms import DeleteFilterForm, SaveFilterForm

bp = Blueprint("review", __name__, url_prefix="/review")
REVIEWERS = ("department", "school")


MAX_SAVED_FILTERS = 20
DECISIONS = {"approve": "通过", "return": "退回修改", "reject": "不通过"}  # the review's decision values


@bp.route("/inbox")
@role_required(*REVIEWERS)
def inbox():
    actor = current_actor()
    f = filters.inbox_filter(request.args, actor)
    visible = POLICY.item_filter(actor)
    cap = inbox_q.DECIDED_CAP
    counts = inbox_q.counts(g.db, visible, f, cap=cap)
    rows, total = inbox_q.page(g.db, visible, f, total=counts[f.state])
    # more decided items than the cap: "1000+", chips without numbers, and a pager that goes one page on
    capped = f.state != "open" and total > cap
    # ROLE-2: items of read-only areas are listed to view, not to review
    read_only = {pid for pid, area in POLICY.areas.items() if POLICY.permission(actor, area) == RO}
    kinds = filters.kinds()
    departments = filters.departments(actor)
    last = inbox_q.pages(total, f) if not capped else max(1, f.page + (1 if len(rows) == f.size else 0))
    saved = filters.saved_filters(actor)
    fargs = filters.filter_args(request.args)
    save_form = SaveFilterForm(prefix="save", formdata=None, query=filters.query_string(request.args))
    return render_template(
        "review/inbox.html", rows=rows, total=total, f=f, fargs=fargs, read_only=read_only,
        counts=counts, cap=cap, capped=capped,
        kind_counts=inbox_q.kind_counts(g.db, visible, f) if not capped else None,
        dept_counts=None if capped else inbox_q.department_counts(g.db, visible, f) if departments else {},
        labels=inbox_q.current_labels(g.db, rows), kinds=kinds, kind_names=dict(kinds),
        departments=departments, dept_names=dict(departments), pages=last,
        window=inbox_q.window(min(f.page, last), last), page_sizes=inbox_q.PAGE_SIZES,
        sorts=filters.SORT_CHOICES + ((filters.COMPLETED_SORT,) if f.state == "completed" else ()),
        saved=saved, save_form=save_form, delete_form=DeleteFilterForm(prefix="del"),
        bulk_url=_bulk_url(), types=dicts.destination_types(), decisions=DECISIONS,
        link=lambda **over: _link(fargs, **over),
        item_link=lambda item_id: url_for("review.item", item_id=item_id, **fargs))


def _link(fargs: dict[str, str], **over) -> str:
    """The inbox with every filter kept and some changed (an empty value drops it)."""
    args: dict[str, Any] = {**fargs, **{k: str(v) for k, v in over.items()}}
    return url_for("review.inbox", **{k: v for k, v in args.items() if v not in ("", "None")})


def _bulk_url() -> str | None:
    """The bulk approve page, when a module serves one (the shared review does)."""
    endpoint = next((e for e in current_app.view_functions if e.endswith(".bulk_approve")), None)
    return url_for(endpoint) if endpoint else None


@bp.route("/filters", methods=["POST"])
@role_required(*REVIEWERS)
def save_filter():
    """A named filter of this account; saving a name again replaces it."""
    actor = current_actor()
    form = SaveFilterForm(prefix="save")
    if not form.validate_on_submit():
        flash(form.first_error())
        return redirect(url_for("review.inbox"))
    query = filters.query_string(MultiDict(parse_qsl(form.query.data or "")))
    name = form.name.data.strip()
    row = g.db.scalar(select(SavedFilter).where(SavedFilter.account_id == actor.id, SavedFilter.name == name))
    count = g.db.scalar(select(func.count()).select_from(SavedFilter).where(SavedFilter.account_id == actor.id))
    if row is None and (count or 0) >= MAX_SAVED_FILTERS:
        flash(f"最多保存 {MAX_SAVED_FILTERS} 个筛选")
        return redirect(url_for("review.inbox") + ("?" + query if query else ""))

    def save(db):
        if row is None:
            db.add(SavedFilter(account_id=actor.id, name=name, query=query))
        else:
            db.get(SavedFilter, row.id).query = query

    run_step(save)
    flash("筛选已保存")
    return redirect(url_for("review.inbox") + ("?" + query if query else ""))


@bp.route("/filters/<int:filter_id>/delete", methods=["POST"])
@role_required(*REVIEWERS)
def delete_filter(filter_id: int):
    """Only the account's own; another's looks missing (ROLE-1)."""
    actor = current_actor()
    form = DeleteFilterForm(prefix="del")
    row = g.db.get(SavedFilter, filter_id)
    if row is None or row.account_id != actor.id:
        log_refusal(f"saved filter {filter_id} not this account's")
        raise Forbidden("筛选不存在")
    if form.validate_on_submit():
        run_step(lambda db: db.delete(db.get(SavedFilter, filter_id)))
        flash("筛选已删除")
    return redirect(url_for("review.inbox"))


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
