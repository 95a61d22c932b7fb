"""Graduate pages of the agreement processes (ONL, TRM, OFF, OFT, PAP), the e-agreement PDF route
(DOC-1), and the display helpers the employer, assist and review pages share.

Views stay thin: parse with a form from forms/agreement.py, call a domain.signing service
inside run_step (one step = one transaction), render. Scope checks go through the services
and filing.instance_for; a refusal outside scope is logged and looks like a missing record.
"""
from __future__ import annotations

import io
import logging

from flask import current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from domain import agreement_pdf, dicts, filing, signing
from domain.attachments import store_images
from domain.documents import FontMissing
from domain.models import Agreement, Attachment, EffectiveDestination, Employer, Graduate, Termination
from engine.errors import Conflict, EngineError, Forbidden, ValidationFailed
from engine.models import ProcessInstance, WorkItem
from forms.agreement import (
    MAX_IMAGES,
    AgreementTermsForm,
    AnswerForm,
    EmployerFieldsMixin,
    OfflineAgreementForm,
    PaperAgreementForm,
    StampedUploadForm,
    TerminationForm,
    TerminationLetterForm,
)
from forms.destination import ActionForm
from webapp.session import current_actor, log_refusal, role_required, run_step

log = logging.getLogger(__name__)
AGREEMENT_PROCESSES = ("online_signing", "offline_signing", "paper_registration")
TERMINATION_PROCESSES = ("online_termination", "offline_termination")
# processes whose submissions the graduate may withdraw before the first review (REV-6, OFF-5)
WITHDRAWABLE = ("destination_filing", "offline_signing", "offline_termination", "paper_registration")
KIND_NAMES = {"online": "线上签约", "offline": "线下签约", "paper": "已签就业协议登记"}
INITIATOR_NAMES = {"graduate": "毕业生", "employer": "用人单位"}


def _label(cls, name: str) -> str:
    unbound = getattr(cls, name)
    return unbound.args[0] if unbound.args else unbound.kwargs.get("label", name)


# Labels come from the forms, so pages, API and reviewers name a field the same way.
EMPLOYER_LABELS = {n: _label(OfflineAgreementForm, n) for n in EmployerFieldsMixin.EMPLOYER}
TERM_LABELS = {n: _label(AgreementTermsForm, n) for n in AgreementTermsForm.TERMS}
TERMINATION_LABELS = {"reason": _label(TerminationForm, "reason"),
                      "explanation": _label(TerminationForm, "explanation")}
NAMED = {"job_category": "job_category_name", "nature": "nature_name", "industry": "industry_name",
         "reason": "reason_name"}


def rows(fields: dict | None, labels: dict[str, str]) -> list[tuple[str, object]]:
    """(label, value) pairs in form order; a coded value shows its name."""
    fields = fields or {}
    out = []
    for name, label in labels.items():
        value = fields.get(NAMED[name]) if name in NAMED and fields.get(NAMED[name]) else fields.get(name)
        if value is None or value == "":
            continue
        out.append((label, value))
    return out


def employer_fields(employer: Employer) -> dict:
    """A registered employer as the same keys an offline agreement uses."""
    return {"employer_name": employer.name, "credit_code": employer.credit_code,
            "nature_name": dicts.name_of(dicts.unit_natures(), employer.nature) or employer.nature,
            "industry_name": dicts.name_of(dicts.industries(), employer.industry) or employer.industry,
            "employer_address": employer.address, "contact": employer.contact, "landline": employer.phone or "",
            "mobile": employer.mobile, "email": employer.email or ""}


def attachments(db, ids) -> list[Attachment]:
    ids = [i for i in (ids or []) if isinstance(i, int)]
    if not ids:
        return []
    found = {a.id: a for a in db.scalars(select(Attachment).where(Attachment.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def application_view(db, instance: ProcessInstance, application: dict | None) -> dict:
    """What a reviewer (or a party) reads of one submission of an agreement process."""
    app = application or {}
    view = {"employer_rows": [], "term_rows": [], "termination_rows": [], "images": [], "image_title": "",
            "target": None, "target_instance": None}
    if instance.process_id == "online_signing":
        employer = db.get(Employer, instance.employer_id) if instance.employer_id else None
        view["employer_rows"] = rows(employer_fields(employer), EMPLOYER_LABELS) if employer else []
        view["term_rows"] = rows(app, TERM_LABELS)
    elif instance.process_id in ("offline_signing", "paper_registration"):
        fields = app.get("fields") or {}
        view["employer_rows"] = rows(fields, EMPLOYER_LABELS)
        view["term_rows"] = rows(fields, TERM_LABELS)
        if instance.process_id == "offline_signing":
            view["images"], view["image_title"] = attachments(db, app.get("stamped_ids")), "盖章的就业协议书"
        else:
            view["images"], view["image_title"] = attachments(db, app.get("attachment_ids")), "盖章的纸质就业协议书"
    elif instance.process_id in TERMINATION_PROCESSES:
        view["termination_rows"] = rows(app, TERMINATION_LABELS)
        if app.get("initiator"):
            view["termination_rows"].insert(0, ("发起方", INITIATOR_NAMES.get(app["initiator"], app["initiator"])))
        view["images"], view["image_title"] = attachments(db, app.get("attachment_ids")), "解约函等材料"
        target = db.get(Agreement, app.get("agreement_id")) if isinstance(app.get("agreement_id"), int) else None
        if target is not None and target.graduate_id == instance.graduate_id:
            view["target"] = target
            view["target_instance"] = db.get(ProcessInstance, target.instance_id)
    return view


def agreement_rows(db, agreement: Agreement) -> tuple[list, list]:
    if agreement.employer_id:
        employer = db.get(Employer, agreement.employer_id)
        return rows(employer_fields(employer), EMPLOYER_LABELS), rows(agreement.fields, TERM_LABELS)
    return rows(agreement.fields, EMPLOYER_LABELS), rows(agreement.fields, TERM_LABELS)


def _open_item(db, instance_id: int, form_key: str, role: str | None = None) -> WorkItem | None:
    q = select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open",
                               WorkItem.form_key == form_key)
    if role:
        q = q.where(WorkItem.role == role)
    return db.scalar(q.order_by(WorkItem.id.desc()).limit(1))


def signing_context(db, instance: ProcessInstance) -> dict:
    """The agreement (or termination) an instance of an agreement process is about."""
    ctx: dict = {"agreement": None, "termination": None, "employer_rows": [], "term_rows": [],
                 "termination_rows": [], "images": [], "image_title": "", "terminations": [], "downloadable": False,
                 "signing_instance": None, "open_termination": None, "draft": False, "kind_name": ""}
    if instance.process_id in AGREEMENT_PROCESSES:
        agreement = db.scalar(select(Agreement).where(Agreement.instance_id == instance.id))
        if agreement is None:
            # offline signing before its first submission: show the draft kept on the open task
            item = _open_item(db, instance.id, "offline_agreement")
            data = g.runtime.runner.task_data(db, item) if item is not None else {}
            fields = ((data.get("draft") or data.get("application") or {}).get("fields")) or {}
            ctx.update(employer_rows=rows(fields, EMPLOYER_LABELS), term_rows=rows(fields, TERM_LABELS), draft=True)
            return ctx
        ctx["agreement"] = agreement
        ctx["kind_name"] = KIND_NAMES.get(agreement.kind, "")
        ctx["employer_rows"], ctx["term_rows"] = agreement_rows(db, agreement)
        ctx["images"] = attachments(db, agreement.attachment_ids)
        ctx["image_title"] = "盖章的就业协议书" if agreement.kind == "offline" else "盖章的纸质就业协议书"
        ctx["terminations"] = [(t, db.get(ProcessInstance, t.instance_id)) for t in signing.terminations_of(db, agreement.id)]
        ctx["open_termination"] = next((t for t, _ in ctx["terminations"] if t.status == "open"), None)
        ctx["downloadable"] = agreement.status in agreement_pdf.DOWNLOADABLE and agreement.kind != "paper"
    elif instance.process_id in TERMINATION_PROCESSES:
        termination = db.scalar(select(Termination).where(Termination.instance_id == instance.id))
        agreement = db.get(Agreement, termination.agreement_id) if termination else None
        if termination is None:
            item = _open_item(db, instance.id, "termination_letter")
            data = g.runtime.runner.task_data(db, item) if item is not None else {}
            view = application_view(db, instance, data.get("application") or data.get("termination") or {})
            ctx.update(termination_rows=view["termination_rows"], images=view["images"], draft=True)
            return ctx
        ctx["termination"] = termination
        ctx["agreement"] = agreement
        ctx["kind_name"] = KIND_NAMES.get(agreement.kind, "") if agreement else ""
        info = {"reason": termination.reason, "explanation": termination.explanation,
                "reason_name": dicts.name_of(dicts.termination_reasons(), termination.reason) or termination.reason,
                "initiator": termination.initiator}
        ctx["termination_rows"] = [("发起方", INITIATOR_NAMES.get(termination.initiator, termination.initiator))] + \
            rows(info, TERMINATION_LABELS)
        ctx["images"] = attachments(db, termination.attachment_ids)
        ctx["image_title"] = "解约函等材料"
        if agreement is not None:
            ctx["employer_rows"], ctx["term_rows"] = agreement_rows(db, agreement)
            ctx["signing_instance"] = db.get(ProcessInstance, agreement.instance_id)
            ctx["downloadable"] = agreement.status in agreement_pdf.DOWNLOADABLE and agreement.kind != "paper"
    return ctx


# -- the e-agreement PDF (DOC-1) ------------------------------------------------------
def pdf_response(agreement_id: int, *, download: bool):
    """The cached PDF, rendered now when missing (embedded/eager) or queued (production)."""
    agreement = g.db.get(Agreement, agreement_id)
    doc = agreement_pdf.cached(g.db, agreement)
    if doc is None:
        settings = current_app.extensions["gradflow"].settings
        if settings.celery_eager:
            # Same work as the gradflow.render_agreement task, run in-process with this app's database:
            # the task's own runtime (gradflow.celery_app.runtime) reads the environment's database instead.
            try:
                doc = run_step(lambda db: agreement_pdf.render_and_cache(db, agreement_id))
            except FontMissing:
                log.exception("agreement %s: no CJK font to render the PDF", agreement_id)
                return render_template("error.html", message="就业协议书暂时无法生成，请联系管理员"), 503
            agreement = g.db.get(Agreement, agreement_id)
        else:
            try:
                from gradflow.celery_app import render_agreement_task

                render_agreement_task.delay(agreement_id)
            except Exception:  # noqa: BLE001 - the broker is down: say so rather than fail with a 500
                log.exception("agreement %s: could not queue the PDF render", agreement_id)
                return render_template("error.html", message="系统繁忙，请稍后重试"), 503
            resp = current_app.make_response((render_template("error.html", message="正在生成，请稍后刷新"), 202))
            resp.headers["Retry-After"] = "5"
            return resp
    name = f"就业协议书_{agreement.agreement_no or agreement.id}.pdf"
    resp = send_file(io.BytesIO(doc.pdf), mimetype="application/pdf", as_attachment=download, download_name=name,
                     conditional=False, etag=False, max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# registered on the graduate blueprint by webapp/graduate/routes.py (see the bottom of that file)
def register(bp) -> None:
    bp.add_url_rule("/agreements/<int:agreement_id>/pdf", view_func=agreement_pdf_file)
    bp.add_url_rule("/graduate/agreements/offline/new", view_func=offline_new, methods=["GET", "POST"])
    bp.add_url_rule("/graduate/agreements/paper/new", view_func=paper_new, methods=["GET", "POST"])
    bp.add_url_rule("/graduate/records/<int:instance_id>/answer", view_func=answer, methods=["POST"])
    bp.add_url_rule("/graduate/records/<int:instance_id>/termination-answer", view_func=termination_answer,
                    methods=["POST"])
    bp.add_url_rule("/graduate/records/<int:instance_id>/stamped", view_func=stamped_upload, methods=["POST"])
    bp.add_url_rule("/graduate/records/<int:instance_id>/assist-link", view_func=assist_link, methods=["POST"])
    bp.add_url_rule("/graduate/agreements/<int:agreement_id>/terminate", view_func=terminate, methods=["POST"])


@login_required
def agreement_pdf_file(agreement_id: int):
    """Inline preview; ?download=1 sends it as an attachment named with the 协议编号."""
    try:
        agreement_pdf.readable(g.db, current_actor(), agreement_id)
    except Forbidden:
        log_refusal(f"agreement {agreement_id} pdf out of scope")
        raise
    except Conflict as exc:
        return render_template("error.html", message=exc.message), 409
    return pdf_response(agreement_id, download=request.args.get("download") == "1")


# -- helpers for the graduate's forms ---------------------------------------------------
def uploads(field_name: str) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(field_name) if f and f.filename]


def prefilled(form_cls, fields: dict | None, **kw):
    """A form filled from stored fields (a draft or an application), parsed like a post."""
    md = MultiDict()
    for key, value in (fields or {}).items():
        if value is None or isinstance(value, (dict, list)):
            continue
        md.add(key, str(value))
    return form_cls(formdata=md, **kw)


def _status(exc: EngineError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def _me() -> Graduate:
    from webapp.graduate.routes import me

    return me()


def _record_page(instance_id: int, *, error: str | None = None, status: int = 200, **extra):
    from webapp.graduate.routes import render_record

    return render_record(instance_id, error=error, status=status, **extra)


def _scoped(instance_id: int) -> ProcessInstance:
    from webapp.graduate.routes import _instance

    return _instance(instance_id)


def _check_count(ids: list[int], files: list) -> None:
    if len(ids) + len(files) > MAX_IMAGES:
        raise ValidationFailed(f"最多上传{MAX_IMAGES}张图片", details={"images": [f"最多上传{MAX_IMAGES}张图片"]})


def open_offline_item(graduate_id: int) -> WorkItem | None:
    return g.db.scalar(select(WorkItem).where(WorkItem.graduate_id == graduate_id, WorkItem.state == "open",
                                              WorkItem.role == "Graduate", WorkItem.form_key == "offline_agreement")
                       .order_by(WorkItem.id.desc()).limit(1))


def draft_fields(form: OfflineAgreementForm) -> dict:
    """A draft keeps what was typed, unchecked: the check runs when the graduate submits (OFF-1)."""
    out = {}
    for name in form.EMPLOYER + form.TERMS:
        value = (request.form.get(form[name].name) or "").strip()[:1000]
        if value:
            out[name] = value
    return out


# -- OFF-1: 未签就业协议申请签约 --------------------------------------------------------
def _entry_refused(graduate: Graduate):
    """The same gates as the destination home: confirmed basic info (GRAD-3), module open (MOD-4)."""
    if graduate.confirmed_at is None:
        return redirect(url_for("graduate.confirm"))
    closed = filing.module_closed_reason(graduate)
    if closed:
        return render_template("error.html", message=closed), 403
    if graduate.directed:
        return render_template("error.html", message="定向/委培毕业生只能登记定向/委培毕业去向，不能签订就业协议"), 403
    return None


@role_required("graduate")
def offline_new():
    graduate = _me()
    refused = _entry_refused(graduate)
    if refused is not None:
        return refused
    item = open_offline_item(graduate.id)
    if item is not None:  # one open offline application: editing continues it
        return redirect(url_for("graduate.work", item_id=item.id))
    return offline_form(graduate, None)


def offline_form(graduate: Graduate, item: WorkItem | None, data: dict | None = None):
    """New, draft-continued, withdrawn or returned: one form with 保存草稿 and 提交."""
    if request.method == "GET" and item is not None:
        stored = (data or {}).get("draft") or (data or {}).get("application") or {}
        form = prefilled(OfflineAgreementForm, stored.get("fields"))
    else:
        form = OfflineAgreementForm()
    error, status = None, 200
    if request.method == "POST":
        actor = current_actor()
        runner = g.runtime.runner
        instance_id = item.instance_id if item is not None else None
        try:
            if request.form.get("action") == "draft":
                if not ActionForm().validate_on_submit():
                    raise ValidationFailed("页面已过期，请刷新后重试")
                fields = draft_fields(form)
                inst = run_step(lambda db: signing.save_offline_draft(
                    db, runner, actor, db.get(Graduate, graduate.id), fields, instance_id))
                flash("草稿已保存，可随时继续填写后提交")
            else:
                if not form.validate_on_submit():
                    raise ValidationFailed(form.first_error(), details=form.error_details())
                clean = form.clean()
                inst = run_step(lambda db: signing.submit_offline(
                    db, runner, actor, db.get(Graduate, graduate.id), clean, instance_id))
                flash("已提交，等待学校（院系）审核")
        except (ValidationFailed, Conflict) as exc:
            error, status = exc.message, _status(exc)
        else:
            return redirect(url_for("graduate.record", instance_id=inst.id))
    return render_template("graduate/agreement_form.html", form=form, graduate=graduate, error=error, item=item,
                           kind="offline", reason=(data or {}).get("reason") if item else None), status


# -- PAP-1: 已签就业协议登记信息 --------------------------------------------------------
@role_required("graduate")
def paper_new():
    graduate = _me()
    refused = _entry_refused(graduate)
    if refused is not None:
        return refused
    item = g.db.scalar(select(WorkItem).where(WorkItem.graduate_id == graduate.id, WorkItem.state == "open",
                                              WorkItem.role == "Graduate", WorkItem.form_key == "paper_agreement")
                       .order_by(WorkItem.id.desc()).limit(1))
    if item is not None:
        return redirect(url_for("graduate.work", item_id=item.id))
    return paper_form(graduate, None)


def _kept_and_uploaded(db, grad: Graduate, actor, kept: list[int], files) -> list[int]:
    """Images already on the form (checked to be the graduate's) plus the new uploads (IMG-1)."""
    _check_count(kept, files)
    filing.check_attachments(db, grad, kept)
    stored = store_images(db, grad.id, actor.id, files, existing=len(kept))
    return kept + [a.id for a in stored]


def paper_form(graduate: Graduate, item: WorkItem | None, data: dict | None = None):
    application = (data or {}).get("application") or {}
    if request.method == "GET" and item is not None:
        form = prefilled(PaperAgreementForm, application.get("fields"))
        form.attachment_ids.data = [i for i in application.get("attachment_ids") or [] if isinstance(i, int)]
    else:
        form = PaperAgreementForm()
    error, status = None, 200
    if form.validate_on_submit():
        actor = current_actor()
        files = uploads(form.images.name)
        kept = list(form.attachment_ids.data or [])
        clean = form.clean()

        def do(db):
            grad = db.get(Graduate, graduate.id)
            ids = _kept_and_uploaded(db, grad, actor, kept, files)
            return signing.submit_paper(db, g.runtime.runner, actor, grad, clean, ids,
                                        work_item_id=item.id if item is not None else None)

        try:
            inst = run_step(do)
        except (ValidationFailed, Conflict) as exc:
            error, status = exc.message, _status(exc)
        else:
            flash("已提交，等待学校（院系）审核")
            return redirect(url_for("graduate.record", instance_id=inst.id))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    kept_images = attachments(g.db, form.attachment_ids.data or [])
    return render_template("graduate/agreement_form.html", form=form, graduate=graduate, error=error, item=item,
                           kind="paper", kept_images=kept_images,
                           reason=(data or {}).get("reason") if item else None), status


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
            error, status = exc.message, _status(exc)
        else:
            flash("已重新提交，等待学校（院系）审核")
            return redirect(url_for("graduate.record", instance_id=inst.id))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    return render_template("graduate/letter_form.html", form=form, graduate=graduate, error=error, item=item,
                           kept_images=attachments(g.db, form.attachment_ids.data or []),
                           reason=data.get("reason")), status


def _save_letter(graduate: Graduate, form: TerminationLetterForm, agreement_id: int, work_item_id: int | None):
    actor = current_actor()
    files = uploads(form.images.name)
    kept = list(form.attachment_ids.data or [])
    clean = form.clean()

    def do(db):
        grad = db.get(Graduate, graduate.id)
        ids = _kept_and_uploaded(db, grad, actor, kept, files)
        return signing.submit_offline_termination(db, g.runtime.runner, actor, grad, agreement_id, clean, ids,
                                                  work_item_id=work_item_id)

    return run_step(do)


# -- actions on a record ----------------------------------------------------------------
def _answer(instance_id: int, service, done: dict[str, str]):
    _scoped(instance_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _record_page(instance_id, error=form.first_error(), status=422)
    actor = current_actor()
    how = form.answer.data
    try:
        run_step(lambda db: service(db, g.runtime.runner, actor, instance_id, how))
    except (ValidationFailed, Conflict) as exc:
        return _record_page(instance_id, error=exc.message, status=_status(exc))
    flash(done[how])
    return redirect(url_for("graduate.record", instance_id=instance_id))


@role_required("graduate")
def answer(instance_id: int):
    """ONL-2: 接受 / 拒绝 an invitation before its deadline."""
    return _answer(instance_id, signing.answer_invitation,
                   {"accept": "已接受签约邀请，等待学校（院系）审核", "refuse": "已拒绝该签约邀请"})


@role_required("graduate")
def termination_answer(instance_id: int):
    """TRM-2: the graduate answers a termination the employer asked for."""
    return _answer(instance_id, signing.answer_termination,
                   {"accept": "已同意解约，等待学校（院系）审核", "refuse": "已拒绝解约，协议继续有效"})


@role_required("graduate")
def stamped_upload(instance_id: int):
    """OFF-3 本人回传协议书: images of the stamped agreement."""
    _scoped(instance_id)
    form = StampedUploadForm(prefix="stamped")
    if not form.validate_on_submit():
        return _record_page(instance_id, error=form.first_error(), status=422, stamped_form=form)
    actor = current_actor()
    files = uploads(form.images.name)
    kept = list(form.attachment_ids.data or [])

    def do(db):
        ids = _kept_and_uploaded(db, db.get(Graduate, actor.graduate_id), actor, kept, files)
        return signing.upload_stamped(db, g.runtime.runner, actor, instance_id, ids)

    try:
        run_step(do)
    except (ValidationFailed, Conflict) as exc:
        return _record_page(instance_id, error=exc.message, status=_status(exc), stamped_form=form)
    flash("已回传盖章的就业协议书，等待学校（院系）签约审核")
    return redirect(url_for("graduate.record", instance_id=instance_id))


@role_required("graduate")
def assist_link(instance_id: int):
    """OFF-3 用人单位协助回传协议书: a one-time link, shown once and sent to the employer by SMS."""
    _scoped(instance_id)
    if not ActionForm().validate_on_submit():
        return _record_page(instance_id, error="页面已过期，请刷新后重试", status=400)
    actor = current_actor()
    try:
        token = run_step(lambda db: signing.create_assist_link(db, actor, instance_id,
                                                               base_url=g.runtime.settings.base_url))
    except (ValidationFailed, Conflict) as exc:
        return _record_page(instance_id, error=exc.message, status=_status(exc))
    url = url_for("assist.page", token=token, _external=True)
    return _record_page(instance_id, assist_url=url)


@role_required("graduate")
def terminate(agreement_id: int):
    """申请解约: online (TRM-1, the employer answers) or offline/paper with the letter (OFT-1)."""
    graduate = _me()
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
        return _record_page(instance_id, error=form.first_error(), status=422, term_form=form)
    try:
        if agreement.kind == "online":
            clean = form.clean()
            inst = run_step(lambda db: signing.start_online_termination(db, g.runtime.runner, actor, agreement_id,
                                                                        clean))
        else:
            inst = _save_letter(graduate, form, agreement_id, None)
    except (ValidationFailed, Conflict) as exc:
        return _record_page(instance_id, error=exc.message, status=_status(exc), term_form=form)
    flash("解约申请已提交，等待用人单位回应" if agreement.kind == "online" else "解约申请已提交，等待学校（院系）审核")
    return redirect(url_for("graduate.record", instance_id=inst.id))


def record_actions(db, instance: ProcessInstance, ctx: dict) -> dict:
    """What the graduate may do on a record page, beyond the destination actions."""
    graduate_items = [i for i in ctx["open_items"] if i.role == "Graduate"]
    keys = {i.form_key: i for i in graduate_items}
    out = {"answer_item": keys.get("invitation_answer"), "termination_answer_item": keys.get("termination_answer"),
           "stamped_item": keys.get("stamped_upload"), "edit_item": None, "view_only": None,
           "can_withdraw": can_withdraw(ctx["items"], instance), "can_terminate": False}
    for key in ("offline_agreement", "paper_agreement", "termination_letter"):
        if key in keys:
            out["edit_item"] = keys[key]
    agreement = ctx.get("agreement")
    if out["answer_item"] is not None and agreement is not None:
        other = db.scalar(select(Agreement).where(Agreement.active_key == agreement.graduate_id,
                                                  Agreement.id != agreement.id))
        if other is not None:
            out["view_only"] = "你已接受或签订了一份就业协议，其他单位的签约邀请只能查看，不能操作。"
        elif db.get(EffectiveDestination, agreement.graduate_id) is not None:
            out["view_only"] = "你已有生效的毕业去向，如需签约请先作废该去向。"
    if (instance.process_id in AGREEMENT_PROCESSES and agreement is not None and agreement.status == "signed"
            and ctx.get("open_termination") is None):
        out["can_terminate"] = True
    return out


def can_withdraw(items: list[WorkItem], instance: ProcessInstance) -> bool:
    """REV-6: a review is open and no reviewer has acted since the graduate last submitted."""
    if instance.process_id not in WITHDRAWABLE:
        return False
    if not any(i.state == "open" and i.form_key == "review" for i in items):
        return False
    last_submit = max((i.id for i in items if i.role == "Graduate" and i.state == "completed"), default=0)
    return not any(i.form_key == "review" and i.state == "completed" and i.id > last_submit for i in items)


def forms_for(instance: ProcessInstance, ctx: dict, extra: dict) -> dict:
    agreement = ctx.get("agreement")
    term_form = extra.get("term_form")
    if term_form is None and agreement is not None:
        term_form = TerminationForm(prefix="term") if agreement.kind == "online" else TerminationLetterForm(prefix="term")
    return {"answer_form": AnswerForm(), "stamped_form": extra.get("stamped_form") or StampedUploadForm(prefix="stamped"),
            "term_form": term_form}
