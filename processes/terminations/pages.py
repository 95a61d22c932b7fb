"""Termination pages (TRM, OFT): start one from an agreement's record, answer one, revise the letter,
and what a termination's record and review show."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.errors import Conflict, Forbidden, ValidationFailed
from domain import dicts
from domain.models import Agreement, Graduate, Termination
from engine.models import ProcessInstance, WorkItem
from processes.agreements import pdf as agreement_pdf
from processes.agreements.pages import (
    AGREEMENT_PROCESSES,
    KIND_NAMES,
    _label,
    _open_item,
    agreement_rows,
    answer_with,
    attachments,
    empty_context,
    empty_view,
    kept_and_uploaded,
    prefilled,
    rows,
    status_of,
    uploads,
)
from webapp.graduate.routes import me, render_record
from webapp.session import current_actor, log_refusal, role_required, run_step

from . import services
from .forms import TerminationForm, TerminationLetterForm

bp = Blueprint("terminations", __name__, template_folder="templates")
TERMINATION_LABELS = {"reason": _label(TerminationForm, "reason"),
                      "explanation": _label(TerminationForm, "explanation")}
INITIATOR_NAMES = {"graduate": _l("毕业生"), "employer": _l("用人单位")}


def application_view(db, instance: ProcessInstance, application: dict | None) -> dict:
    """What a reviewer (or a party) reads of one submission of a termination."""
    app = application or {}
    view = empty_view()
    view["termination_rows"] = rows(app, TERMINATION_LABELS)
    if app.get("initiator"):
        view["termination_rows"].insert(0, (_("发起方"), INITIATOR_NAMES.get(app["initiator"], app["initiator"])))
    view["images"], view["image_title"] = attachments(db, app.get("attachment_ids")), _("解约函等材料")
    target = db.get(Agreement, app.get("agreement_id")) if isinstance(app.get("agreement_id"), int) else None
    if target is not None and target.graduate_id == instance.graduate_id:
        view["target"] = target
        view["target_instance"] = db.get(ProcessInstance, target.instance_id)
    return view


def termination_context(db, instance: ProcessInstance) -> dict:
    """The termination an instance is about, and the agreement it ends (agreements/_record.html)."""
    ctx = empty_context()
    termination = db.scalar(select(Termination).where(Termination.instance_id == instance.id))
    agreement = db.get(Agreement, termination.agreement_id) if termination else None
    if termination is None:
        item = _open_item(db, instance.id, "termination_letter")
        data = g.runtime.runner.task_data(db, item) if item is not None else {}
        view = application_view(db, instance, data.get("application") or data.get("termination") or {})
        ctx.update(termination_rows=view["termination_rows"], images=view["images"], draft=True)
    ctx["termination"] = termination
    ctx["agreement"] = agreement
    ctx["kind_name"] = KIND_NAMES.get(agreement.kind, "") if agreement else ""
    info = {"reason": termination.reason, "explanation": termination.explanation,
            "reason_name": dicts.name_of(dicts.termination_reasons(), termination.reason) or termination.reason,
            "initiator": termination.initiator}
    ctx["termination_rows"] = [(_("发起方"), INITIATOR_NAMES.get(termination.initiator, termination.initiator))] + \
        rows(info, TERMINATION_LABELS)
    ctx["images"] = attachments(db, termination.attachment_ids)
    ctx["image_title"] = _("解约函等材料")
    if agreement is not None:
        ctx["employer_rows"], ctx["term_rows"] = agreement_rows(db, agreement)
        ctx["signing_instance"] = db.get(ProcessInstance, agreement.instance_id)
        ctx["downloadable"] = agreement.status in agreement_pdf.DOWNLOADABLE and agreement.kind != "paper"
    return ctx


# -- OFT-1 revise: the termination letter after a return or a withdrawal ----------------------
def letter_form(graduate: Graduate, item: WorkItem, data: dict):
    application = data.get("application") or {}
    agreement_id = application.get("agreement_id")
    if request.method == "GET":
        form = prefilled(TerminationLetterForm, application)
        form.attachment_ids.data = [i for i in application.get("attachment_ids") or [] if isinstance(i, int)]
    else:
        form = TerminationLetterForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            inst = _save_letter(graduate, form, agreement_id, item.id)
        except (ValidationFailed, Conflict) as exc:
            error, status = _(exc.message), status_of(exc)
        else:
            flash("已重新提交，等待学校（院系）审核")
            return redirect(url_for("graduate.record", instance_id=inst.id))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    return render_template("terminations/letter_form.html", form=form, graduate=graduate, error=error, item=item,
                           kept_images=attachments(g.db, form.attachment_ids.data or []),
                           reason=data.get("reason")), status


def _save_letter(graduate: Graduate, form: TerminationLetterForm, agreement_id: int | None,
                 work_item_id: int | None):
    actor = current_actor()
    files = uploads(form.images.name)
    kept = list(form.attachment_ids.data or [])
    clean = form.clean()

    def do(db):
        grad = db.get(Graduate, graduate.id)
        ids = kept_and_uploaded(db, grad, actor, kept, files)
        if agreement_id is None:  # an application without its agreement: as the service answers an unknown one
            raise Forbidden("协议不存在或无权访问")
        return services.submit_offline_termination(db, g.runtime.runner, actor, grad, agreement_id, clean, ids,
                                                  work_item_id=work_item_id)

    return run_step(do)


@bp.route("/graduate/records/<int:instance_id>/termination-answer", methods=["POST"])
@role_required("graduate")
def termination_answer(instance_id: int):
    """TRM-2: the graduate answers a termination the employer asked for."""
    return answer_with(instance_id, services.answer_termination,
                       {"accept": _("已同意解约，等待学校（院系）审核"), "refuse": _("已拒绝解约，协议继续有效")})


@bp.route("/graduate/agreements/<int:agreement_id>/terminate", methods=["POST"])
@role_required("graduate")
def terminate(agreement_id: int):
    """申请解约: online (TRM-1, the employer answers) or offline/paper with the letter (OFT-1)."""
    graduate = me()
    agreement = g.db.get(Agreement, agreement_id)
    if agreement is None or agreement.graduate_id != graduate.id:
        log_refusal(f"agreement {agreement_id} out of scope")
        raise Forbidden("协议不存在或无权访问")
    instance_id = agreement.instance_id
    actor = current_actor()
    if agreement.kind == "online":
        form = TerminationForm(prefix="term")
    else:
        form = TerminationLetterForm(prefix="term")
    if not form.validate_on_submit():
        return render_record(instance_id, error=form.first_error(), status=422, term_form=form)
    try:
        if agreement.kind == "online":
            clean = form.clean()
            inst = run_step(lambda db: services.start_online_termination(db, g.runtime.runner, actor, agreement_id,
                                                                        clean))
        else:
            inst = _save_letter(graduate, form, agreement_id, None)
    except (ValidationFailed, Conflict) as exc:
        return render_record(instance_id, error=_(exc.message), status=status_of(exc), term_form=form)
    flash(_("解约申请已提交，等待用人单位回应") if agreement.kind == "online" else _("解约申请已提交，等待学校（院系）审核"))
    return redirect(url_for("graduate.record", instance_id=inst.id))


# -- what the generic pages show of this module ---------------------------------------------------
def record_context(db, instance: ProcessInstance) -> dict:
    ctx = termination_context(db, instance)
    return {"signing": ctx, **{k: v for k, v in ctx.items() if k in ("agreement", "termination", "open_termination")}}


def review_context(db, instance: ProcessInstance, application: dict) -> dict:
    view = application_view(db, instance, application)
    agreement = view["target"]
    view["agreement"] = agreement
    view["downloadable"] = (agreement is not None and agreement.kind != "paper"
                            and agreement.status in agreement_pdf.DOWNLOADABLE)
    return {"view": view, "attachments": view["images"]}


def graduate_actions(db, instance: ProcessInstance, ctx: dict) -> dict:
    """On a termination's record: answer the employer's request (TRM-2), revise the letter (OFT-1)."""
    from processes.agreements.forms import AnswerForm

    keys = {i.form_key: i for i in ctx["open_items"] if i.role == "Graduate"}
    out = {"termination_answer_item": keys.get("termination_answer"), "edit_item": keys.get("termination_letter"),
           "answer_form": AnswerForm()}
    out["pending_action"] = bool(out["termination_answer_item"] or out["edit_item"])
    return out


def terminate_extras(db, instance: ProcessInstance, ctx: dict) -> dict:
    """On a signed agreement's record: 申请解约 (TRM-1 online, OFT-1 with the letter)."""
    agreement = ctx.get("agreement")
    can = (instance.process_id in AGREEMENT_PROCESSES and agreement is not None and agreement.status == "signed"
           and ctx.get("open_termination") is None)
    form = ctx.get("term_form")
    if form is None and agreement is not None:
        form = TerminationForm(prefix="term") if agreement.kind == "online" else TerminationLetterForm(prefix="term")
    return {"can_terminate": can, "term_form": form}
