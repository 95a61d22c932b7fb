"""The reviewer's page of one review task (REV-1..5), and withdraw before review (REV-6)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from core.errors import Conflict, ValidationFailed
from domain.access import POLICY
from domain.models import Graduate
from engine.models import ProcessInstance, WorkItem
from webapp.graduate.routes import record_action
from webapp.records import edit_changes_for
from webapp.review import filters
from webapp.session import ReadOnlyArea, current_actor, log_refusal, role_required, run_step

from . import bulk, services
from .forms import BulkApproveForm, ReviewForm

bp = Blueprint("review_task", __name__, template_folder="templates")


def _writable(actor, item: WorkItem) -> bool:
    """ROLE-2: read-only on the process's area shows the application without the decision, and refuses a POST."""
    writable = POLICY.may_complete(actor, item)
    if not writable and request.method == "POST":
        log_refusal(f"work item {item.id}: read-only review")
        raise ReadOnlyArea("你的账号对该模块只有只读权限，可以查看，不能审核或修改。")
    return writable


def _edit(instance: ProcessInstance, writable: bool = True) -> tuple[Any, Any]:
    """The module of the process under review decides whether and how its data may be edited (REV-5)."""
    module = g.runtime.modules.for_process(instance.process_id)
    part = module.record if module is not None else None
    edit = None
    if writable and part is not None and part.edit_form is not None and part.apply_edit is not None:
        edit = part.edit_form(instance, "edit", None)
    return part, edit


def reviewer_page(item: WorkItem, data: dict[str, Any]):
    runner = g.runtime.runner
    actor = current_actor()
    instance = g.db.get(ProcessInstance, item.instance_id)
    application = data.get("application") or {}
    graduate = g.db.get(Graduate, instance.graduate_id)
    writable = _writable(actor, item)
    part, edit = _edit(instance, writable)
    form = ReviewForm(prefix="review")
    if request.method == "GET" and edit is not None:
        edit.fill_from(application)
    error = None
    if form.validate_on_submit():
        edits = None
        # REV-5: the edit block always posts (pre-filled); what differs from the submission is the edit
        if edit is not None and request.form.get("edit-present") == "1":
            if not edit.validate():
                error = edit.first_error()
            else:
                try:
                    edits = part.apply_edit(g.db, instance, application, edit)
                except ValidationFailed as exc:
                    error = exc.message
        if error is None:
            try:
                run_step(lambda db: services.review(db, runner, actor, item.id, form.decision.data,
                                                    form.reason.data or "", edits, part.field_labels if part else {}))
            except (ValidationFailed, Conflict) as exc:
                error = exc.message
            else:
                return redirect(_next_url(actor, item.id))
    elif request.method == "POST":
        error = form.first_error()
    ctx: dict[str, Any] = {}
    if part is not None and part.review_context is not None:
        ctx = part.review_context(g.db, instance, application)
    return render_template("review/item.html", item=item, instance=instance, graduate=graduate,
                           application=application, form=form, edit=edit, error=error,
                           review_template=part.review_template if part is not None else "",
                           edit_template=part.edit_template if part is not None else "",
                           edit_changes=edit_changes_for(instance),
                           allow_return=bool(data.get("allow_return")), writable=writable,
                           history=runner.history(g.db, instance.id),
                           back_url=_inbox_url(),
                           **ctx), (422 if error else 200)


def _inbox_url() -> str:
    """The inbox the reviewer came from, every filter kept."""
    args: dict[str, Any] = dict(filters.filter_args(request.args))
    return url_for("review.inbox", **args)


def _next_url(actor, item_id: int) -> str:
    """"Next task": the next open item of the filter the reviewer came from, else that filter's inbox."""
    args: dict[str, Any] = dict(filters.filter_args(request.args))
    found = filters.next_item(item_id, request.args, actor)
    if found is None:
        flash("审核结果已提交。该筛选下已没有待审核事项")
        return url_for("review.inbox", **args)
    flash("审核结果已提交")
    return url_for("review.item", item_id=found, **args)


@bp.route("/review/bulk-approve", methods=["POST"])
@role_required("department", "school")
def bulk_approve():
    """Approve the checked items of the inbox, each as its own step; the page lists each item's result."""
    actor = current_actor()
    form = BulkApproveForm()
    back = {k[5:]: v for k, v in request.form.items() if k.startswith("back-") and k[5:] in filters.FILTER_ARGS}
    if not form.validate_on_submit():
        flash(form.first_error())
        return redirect(url_for("review.inbox", **back))
    results = bulk.approve_many(actor, form.item_ids.data)
    return render_template("review/bulk_result.html", results=results, back=url_for("review.inbox", **back),
                           ok=sum(r.ok for r in results))


@bp.route("/graduate/records/<int:instance_id>/withdraw", methods=["POST"])
@role_required("graduate")
def withdraw(instance_id: int):
    """REV-6."""
    return record_action(instance_id, services.withdraw, "已撤回，请修改后重新提交")


def record_extras(db, instance: ProcessInstance, ctx: dict[str, Any]) -> dict[str, Any]:
    """REV-6 on every record of a process that allows it."""
    return {"can_withdraw": g.runtime.modules.withdrawable(instance.process_id)
            and services.may_withdraw(ctx["items"])}
