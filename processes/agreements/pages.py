"""Graduate pages of the agreement processes (ONL, TRM, OFF, OFT, PAP), the e-agreement PDF route
(DOC-1), and the display helpers the employer, assist and review pages share.

Views stay thin: parse with a form from forms/agreement.py, call a domain.signing service
inside run_step (one step = one transaction), render. Scope checks go through the services
and filing.instance_for; a refusal outside scope is logged and looks like a missing record.
"""
from __future__ import annotations

import io
import logging

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from core.errors import Conflict, EngineError, Forbidden, ValidationFailed
from domain import blobs, dicts
from domain.attachments import check_attachments, store_images
from domain.models import AccessLog, Agreement, Attachment, Employer, Graduate
from domain.schools import module_closed_reason
from engine.models import ProcessInstance, WorkItem
from forms.base import ActionForm
from webapp.graduate.routes import me as _me
from webapp.graduate.routes import open_graduate_item, render_record, scoped_instance
from webapp.session import current_actor, log_refusal, role_required, run_step

from . import pdf as agreement_pdf
from . import services as signing
from .documents import FontMissing
from .forms import (
    MAX_IMAGES,
    AgreementTermsForm,
    AnswerForm,
    EmployerFieldsMixin,
    OfflineAgreementForm,
    PaperAgreementForm,
    StampedUploadForm,
)

log = logging.getLogger(__name__)
bp = Blueprint("agreements", __name__, template_folder="templates")
AGREEMENT_PROCESSES = ("online_signing", "offline_signing", "paper_registration")
KIND_NAMES = {"online": _l("线上签约"), "offline": _l("线下签约"), "paper": _l("已签就业协议登记")}


def _label(cls, name: str) -> str:
    unbound = getattr(cls, name)
    return unbound.args[0] if unbound.args else unbound.kwargs.get("label", name)


# Labels come from the forms, so pages, API and reviewers name a field the same way.
EMPLOYER_LABELS = {n: _label(OfflineAgreementForm, n) for n in EmployerFieldsMixin.EMPLOYER}
TERM_LABELS = {n: _label(AgreementTermsForm, n) for n in AgreementTermsForm.TERMS}
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
        if name in NAMED or name in ("archive_type", "hukou_type"):  # a dictionary's name: shown translated
            value = _(str(value))
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


def empty_view() -> dict:
    return {"employer_rows": [], "term_rows": [], "termination_rows": [], "images": [], "image_title": "",
            "target": None, "target_instance": None}


def application_view(db, instance: ProcessInstance, application: dict | None) -> dict:
    """What a reviewer (or a party) reads of one submission of an agreement process."""
    app = application or {}
    view = empty_view()
    if instance.process_id == "online_signing":
        employer = db.get(Employer, instance.employer_id) if instance.employer_id else None
        view["employer_rows"] = rows(employer_fields(employer), EMPLOYER_LABELS) if employer else []
        view["term_rows"] = rows(app, TERM_LABELS)
    elif instance.process_id in ("offline_signing", "paper_registration"):
        fields = app.get("fields") or {}
        view["employer_rows"] = rows(fields, EMPLOYER_LABELS)
        view["term_rows"] = rows(fields, TERM_LABELS)
        if instance.process_id == "offline_signing":
            view["images"], view["image_title"] = attachments(db, app.get("stamped_ids")), _("盖章的就业协议书")
        else:
            view["images"], view["image_title"] = attachments(db, app.get("attachment_ids")), _("盖章的纸质就业协议书")
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


def empty_context() -> dict:
    """The keys agreements/_record.html reads, for an agreement or a termination."""
    return {"agreement": None, "termination": None, "employer_rows": [], "term_rows": [], "termination_rows": [],
            "images": [], "image_title": "", "terminations": [], "downloadable": False, "signing_instance": None,
            "open_termination": None, "draft": False, "kind_name": ""}


def signing_context(db, instance: ProcessInstance) -> dict:
    """The agreement (or termination) an instance of an agreement process is about."""
    ctx = empty_context()
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
        ctx["image_title"] = _("盖章的就业协议书") if agreement.kind == "offline" else _("盖章的纸质就业协议书")
        ctx["terminations"] = [(t, db.get(ProcessInstance, t.instance_id)) for t in signing.terminations_of(db, agreement.id)]
        ctx["open_termination"] = next((t for t, _ in ctx["terminations"] if t.status == "open"), None)
        ctx["downloadable"] = agreement.status in agreement_pdf.DOWNLOADABLE and agreement.kind != "paper"
    return ctx


# -- the e-agreement PDF (DOC-1) ------------------------------------------------------
PDF_RETRY_SECONDS = 5  # a queued render takes about a second: the pending page reloads itself after this


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
                return render_template("error.html", message=_("就业协议书暂时无法生成，请联系管理员")), 503
            agreement = g.db.get(Agreement, agreement_id)
        else:
            try:
                g.runtime.enqueue("gradflow.render_agreement", agreement_id)
            except Exception:  # noqa: BLE001 - the broker is down: say so rather than fail with a 500
                log.exception("agreement %s: could not queue the PDF render", agreement_id)
                return render_template("error.html", message=_("系统繁忙，请稍后重试")), 503
            resp = current_app.make_response((render_template("agreements/pdf_pending.html",
                                                              retry_after=PDF_RETRY_SECONDS), 202))
            resp.headers["Retry-After"] = str(PDF_RETRY_SECONDS)
            return resp
    name = _("就业协议书_%(id)s.pdf", id=agreement.agreement_no or agreement.id)
    resp = send_file(io.BytesIO(blobs.read(g.db, doc.storage_key, doc.pdf)), mimetype="application/pdf", as_attachment=download, download_name=name,
                     conditional=False, etag=False, max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/agreements/<int:agreement_id>/pdf")
@login_required
def agreement_pdf_file(agreement_id: int):
    """Inline preview; ?download=1 sends it as an attachment named with the 协议编号."""
    try:
        agreement_pdf.readable(g.db, current_actor(), agreement_id)
    except Forbidden:
        log_refusal(f"agreement {agreement_id} pdf out of scope")
        raise
    except Conflict as exc:
        return render_template("error.html", message=_(exc.message)), 409
    return pdf_response(agreement_id, download=request.args.get("download") == "1")


# -- helpers for the graduate's forms ---------------------------------------------------
def uploads(field_name: str) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(field_name) if f and f.filename]


def prefilled(form_cls, fields: dict | None, **kw):
    """A form filled from stored fields (a draft or an application), parsed like a post."""
    md: MultiDict[str, str] = MultiDict()
    for key, value in (fields or {}).items():
        if value is None or isinstance(value, (dict, list)):
            continue
        md.add(key, str(value))
    return form_cls(formdata=md, **kw)


def status_of(exc: EngineError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def _check_count(ids: list[int], files: list) -> None:
    if len(ids) + len(files) > MAX_IMAGES:
        raise ValidationFailed(_("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES), details={"images": [_("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES)]})


def open_offline_item(graduate_id: int) -> WorkItem | None:
    return open_graduate_item(graduate_id, "offline_agreement")


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
    closed = module_closed_reason(graduate)
    if closed:
        return render_template("error.html", message=closed), 403
    if graduate.directed:
        return render_template("error.html", message=_("定向/委培毕业生只能登记定向/委培毕业去向，不能签订就业协议")), 403
    return None


@bp.route("/graduate/agreements/offline/new", methods=["GET", "POST"])
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
            error, status = _(exc.message), status_of(exc)
        else:
            return redirect(url_for("graduate.record", instance_id=inst.id))
    return render_template("graduate/agreement_form.html", form=form, graduate=graduate, error=error, item=item,
                           kind="offline", reason=(data or {}).get("reason") if item else None), status


# -- PAP-1: 已签就业协议登记信息 --------------------------------------------------------
@bp.route("/graduate/agreements/paper/new", methods=["GET", "POST"])
@role_required("graduate")
def paper_new():
    graduate = _me()
    refused = _entry_refused(graduate)
    if refused is not None:
        return refused
    item = open_graduate_item(graduate.id, "paper_agreement")
    if item is not None:
        return redirect(url_for("graduate.work", item_id=item.id))
    return paper_form(graduate, None)


def kept_and_uploaded(db, grad: Graduate, actor, kept: list[int], files) -> list[int]:
    """Images already on the form (checked to be the graduate's) plus the new uploads (IMG-1)."""
    _check_count(kept, files)
    check_attachments(db, grad.id, kept)
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
            ids = kept_and_uploaded(db, grad, actor, kept, files)
            return signing.submit_paper(db, g.runtime.runner, actor, grad, clean, ids,
                                        work_item_id=item.id if item is not None else None)

        try:
            inst = run_step(do)
        except (ValidationFailed, Conflict) as exc:
            error, status = _(exc.message), status_of(exc)
        else:
            flash("已提交，等待学校（院系）审核")
            return redirect(url_for("graduate.record", instance_id=inst.id))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    # a posted id of another graduate's image is never echoed back (issue 12: no existence leak)
    kept_images = [a for a in attachments(g.db, form.attachment_ids.data or []) if a.graduate_id == graduate.id]
    return render_template("graduate/agreement_form.html", form=form, graduate=graduate, error=error, item=item,
                           kind="paper", kept_images=kept_images,
                           reason=(data or {}).get("reason") if item else None), status


# -- actions on a record ----------------------------------------------------------------
def answer_with(instance_id: int, service, done: dict[str, str]):
    scoped_instance(instance_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return render_record(instance_id, error=form.first_error(), status=422)
    actor = current_actor()
    how = form.answer.data
    try:
        run_step(lambda db: service(db, g.runtime.runner, actor, instance_id, how))
    except (ValidationFailed, Conflict) as exc:
        return render_record(instance_id, error=_(exc.message), status=status_of(exc))
    flash(done[how])
    return redirect(url_for("graduate.record", instance_id=instance_id))


@bp.route("/graduate/records/<int:instance_id>/answer", methods=["POST"])
@role_required("graduate")
def answer(instance_id: int):
    """ONL-2: 接受 / 拒绝 an invitation before its deadline."""
    return answer_with(instance_id, signing.answer_invitation,
                       {"accept": _("已接受签约邀请，等待学校（院系）审核"), "refuse": _("已拒绝该签约邀请")})


@bp.route("/graduate/records/<int:instance_id>/stamped", methods=["POST"])
@role_required("graduate")
def stamped_upload(instance_id: int):
    """OFF-3 本人回传协议书: images of the stamped agreement."""
    scoped_instance(instance_id)
    form = StampedUploadForm(prefix="stamped")
    if not form.validate_on_submit():
        return render_record(instance_id, error=form.first_error(), status=422, stamped_form=form)
    actor = current_actor()
    files = uploads(form.images.name)
    kept = list(form.attachment_ids.data or [])

    def do(db):
        ids = kept_and_uploaded(db, db.get(Graduate, actor.graduate_id), actor, kept, files)
        return signing.upload_stamped(db, g.runtime.runner, actor, instance_id, ids)

    try:
        run_step(do)
    except (ValidationFailed, Conflict) as exc:
        return render_record(instance_id, error=_(exc.message), status=status_of(exc), stamped_form=form)
    flash("已回传盖章的就业协议书，等待学校（院系）签约审核")
    return redirect(url_for("graduate.record", instance_id=instance_id))


@bp.route("/graduate/records/<int:instance_id>/assist-link", methods=["POST"])
@role_required("graduate")
def assist_link(instance_id: int):
    """OFF-3 用人单位协助回传协议书: a one-time link, shown once and sent to the employer by SMS."""
    scoped_instance(instance_id)
    if not ActionForm().validate_on_submit():
        return render_record(instance_id, error=_("页面已过期，请刷新后重试"), status=400)
    actor = current_actor()
    try:
        token = run_step(lambda db: signing.create_assist_link(db, actor, instance_id,
                                                               base_url=g.runtime.settings.base_url))
    except (ValidationFailed, Conflict) as exc:
        return render_record(instance_id, error=_(exc.message), status=status_of(exc))
    url = url_for("assist.page", token=token, _external=True)
    return render_record(instance_id, assist_url=url)


def record_actions(db, instance: ProcessInstance, ctx: dict) -> dict:
    """What the graduate may do on the record page of an agreement process."""
    keys = {i.form_key: i for i in ctx["open_items"] if i.role == "Graduate"}
    out = {"answer_item": keys.get("invitation_answer"), "stamped_item": keys.get("stamped_upload"),
           "edit_item": keys.get("offline_agreement") or keys.get("paper_agreement"), "view_only": None}
    if out["answer_item"] is not None:
        out["view_only"] = signing.view_only_reason(db, instance)  # ONL-3, the same rule as the API
    return out


def graduate_actions(db, instance: ProcessInstance, ctx: dict) -> dict:
    """The record page's agreement actions and their forms (a re-render keeps the filled form)."""
    out = record_actions(db, instance, ctx)
    out["answer_form"] = AnswerForm()
    out["stamped_form"] = ctx.get("stamped_form") or StampedUploadForm(prefix="stamped")
    out["pending_action"] = bool(out["answer_item"] or out["stamped_item"] or out["edit_item"])
    return out


def record_context(db, instance: ProcessInstance) -> dict:
    signing_ctx = signing_context(db, instance)
    return {"signing": signing_ctx,
            **{k: v for k, v in signing_ctx.items() if k in ("agreement", "termination", "open_termination")}}


def review_context(db, instance: ProcessInstance, application: dict) -> dict:
    view = application_view(db, instance, application)
    agreement = view["target"] or db.scalar(select(Agreement).where(Agreement.instance_id == instance.id))
    view["agreement"] = agreement
    view["downloadable"] = (agreement is not None and agreement.kind != "paper"
                            and agreement.status in agreement_pdf.DOWNLOADABLE)
    return {"view": view, "attachments": view["images"]}


# -- 协议核验: the public check the e-agreement's verification line and QR code point to (DOC-1) ---------
CHECK_STATUS = {"signed": _l("有效"), "terminated": _l("已解约")}


@bp.route("/agreements/check")
def check():
    """Anyone with the 协议编号 and the graduate's name sees whether that agreement holds, and little more;
    an unknown number and a wrong name get the same answer. Every look-up is logged."""
    number = (request.args.get("no") or "").strip()[:19]
    name = (request.args.get("name") or "").strip()[:50]
    result, asked = None, bool(number and name)
    if asked:
        agreement = g.db.scalar(select(Agreement).where(Agreement.agreement_no == number))
        graduate = g.db.get(Graduate, agreement.graduate_id) if agreement is not None else None
        if agreement is not None and graduate is not None and graduate.name == name \
                and agreement.status in CHECK_STATUS:
            employer = (g.db.get(Employer, agreement.employer_id).name if agreement.employer_id
                        else (agreement.fields or {}).get("employer_name", ""))
            result = {"agreement_no": agreement.agreement_no, "graduate": name, "employer": employer,
                      "school": graduate.school.name, "signed_at": agreement.signed_at,
                      "status": CHECK_STATUS[agreement.status]}

        def log(db):
            db.add(AccessLog(account_id=None, kind="lookup", path="/agreements/check",
                             reason=f"agreement check {number} {'found' if result else 'none'}"))

        run_step(log)
    return render_template("agreements/check.html", number=number, name=name, asked=asked, result=result)


# -- REV-5: a reviewer edits an offline or paper agreement with the graduate's own form ------------------
EDITABLE = ("offline_signing", "paper_registration")  # an online agreement's terms are the employer's offer
EDIT_LABELS = {**EMPLOYER_LABELS, **TERM_LABELS}


class AgreementEditForm(OfflineAgreementForm):
    def fill_from(self, application: dict) -> None:
        md: MultiDict[str, str] = MultiDict()
        for key, value in ((application or {}).get("fields") or {}).items():
            if value is not None and not isinstance(value, (dict, list)):
                md.add(f"{self._prefix}{key}", str(value))
        self.process(formdata=md)


def edit_form(instance: ProcessInstance, prefix: str, body: dict | None = None):
    if instance.process_id not in EDITABLE:
        return None
    return AgreementEditForm.from_json(body) if body is not None else AgreementEditForm(prefix=prefix)


def apply_edit(db, instance: ProcessInstance, application: dict, form: AgreementEditForm) -> dict:
    """The agreement fields as the reviewer corrected them; the uploaded images stay as they are."""
    return {"fields": form.clean()}


def invitation_note(db, item: WorkItem) -> str:
    """The graduate's to-do line for an open invitation: its deadline, in China time (ONL-2)."""
    from core.timefmt import china_time

    agreement = db.scalar(select(Agreement).where(Agreement.instance_id == item.instance_id))
    if agreement is None or agreement.answer_deadline is None:
        return ""
    return _("请在应约截止时间 %(china_time)s 前接受或拒绝", china_time=china_time(agreement.answer_deadline))


def stamped_note(db, item: WorkItem) -> str:
    return _("请下载就业协议书，由用人单位盖章后回传")
