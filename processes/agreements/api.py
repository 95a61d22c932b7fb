"""JSON API for employment agreements (ONL, TRM, OFF, OFT, PAP, DOC-1).

Routes hang on the api blueprint of webapp/api/routes.py and call the services of
domain/signing.py; bodies are validated by the page forms (forms/agreement.py) through
``Form.from_json``. Scope is checked through the services: a record outside the
caller's scope answers the same 404 as a missing one (ROLE-1). A bad body answers
400/422 and changes nothing; a state that does not allow the action answers 409.
"""
from __future__ import annotations

import hashlib
import logging

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import func, select

from core.db import by_key
from core.errors import Forbidden, ValidationFailed
from core.timefmt import iso
from domain import blobs, dicts
from domain.access import POLICY
from domain.attachments import check_attachments
from domain.models import WITH_SCHOOL, Agreement, AssistLink, Employer, Graduate, Termination
from engine.models import ProcessInstance, WorkItem
from forms.describe import describe
from webapp.api.base import api_blueprint, body, fail, instance_after_step
from webapp.extensions import limit_employer_registration, limit_graduate_lookup
from webapp.session import current_actor, log_refusal, run_step

from . import pdf as agreement_pdf
from . import registration
from . import services as signing
from .documents import FontMissing
from .employer import limit_verification
from .forms import (
    MAX_IMAGES,
    AnswerForm,
    EmployerRegistrationForm,
    FindGraduateForm,
    InvitationForm,
    OfflineAgreementForm,
    PaperAgreementForm,
    StampedUploadForm,
    VerifyCodeForm,
)

log = logging.getLogger(__name__)
bp = api_blueprint("agreements_api", __name__, public=("register_employer", "verify_employer"))
AGREEMENT_PROCESSES = {"online_signing", "offline_signing", "paper_registration"}
PAGE_SIZE = 20


# -- helpers -----------------------------------------------------------------------
def valid(form):
    """Validate a form built from a JSON body; a bad body is a 422 with the field errors."""
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    return form


def _given(value) -> bool:
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return str(value).strip() != ""


def _iso(value):
    return iso(value)


def graduate_actor():
    actor = current_actor()
    if actor.role != "Graduate" or actor.graduate_id is None:
        log_refusal("api agreement action by a non-graduate")
        raise Forbidden("只有毕业生本人可以办理")
    return actor


def _employer_actor():
    actor = current_actor()
    if actor.role != "Employer" or actor.employer_id is None:
        log_refusal("api employer action by a non-employer")
        raise Forbidden("只有用人单位可以办理")
    return actor


def _instance(instance_id: int) -> ProcessInstance:
    try:
        return POLICY.instance(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"api instance {instance_id} out of scope")
        raise


def scoped_agreement(agreement_id: int) -> Agreement:
    """ROLE-1: the agreement's scope is its process instance's scope (graduate, employer, 院系, school)."""
    agreement = g.db.get(Agreement, agreement_id)
    if agreement is None or not POLICY.may_see_agreement(g.db, current_actor(), agreement):
        log_refusal(f"api agreement {agreement_id} out of scope")
        raise Forbidden("协议不存在或无权访问")
    return agreement


def attachment_ids(form, *, required: str | None = None) -> list[int]:
    """The ids of images uploaded first with POST /attachments (IMG-1: at most 3 per form)."""
    ids = list(dict.fromkeys(form.attachment_ids.data or []))
    if required and not ids:
        raise ValidationFailed(required, details={"attachment_ids": [required]})
    if len(ids) > MAX_IMAGES:
        message = f"最多上传{MAX_IMAGES}张图片"
        raise ValidationFailed(message, details={"attachment_ids": [message]})
    return ids


def _check_owned(db, graduate_id: int, ids: list[int]) -> None:
    check_attachments(db, graduate_id, ids)


def _offline_fields(data: dict, *, draft: bool) -> dict:
    """OFF-1 fields. A draft may leave fields empty; a value that is given must still be valid."""
    form = OfflineAgreementForm.from_json(data)
    if form.validate():
        return form.clean()
    if not draft:
        raise ValidationFailed(form.first_error(), details=form.error_details())
    bad = {name: [str(e) for e in errs] for name, errs in form.errors.items()
           if errs and name != "csrf_token" and _given(data.get(name))}
    if bad:
        name, errs = next(iter(bad.items()))
        raise ValidationFailed(f"{getattr(form, name).label.text}：{errs[0]}", details=bad)
    return form.clean()


def _draft_flag(data: dict) -> bool:
    draft = data.get("draft", False)
    if not isinstance(draft, bool):
        raise ValidationFailed("draft 必须是 true 或 false", details={"draft": ["必须是布尔值"]})
    return draft


def payload(instance_id: int) -> dict:
    return instance_after_step(instance_id)  # built in the step's transaction when a step ran (issue 11)


def termination_json(t: Termination) -> dict:
    return {"id": t.id, "instance_id": t.instance_id, "kind": t.kind, "initiator": t.initiator, "reason": t.reason,
            "reason_name": dicts.name_of(dicts.termination_reasons(), t.reason) or "", "explanation": t.explanation,
            "attachment_ids": list(t.attachment_ids or []), "status": t.status, "created_at": _iso(t.created_at)}


def agreement_json(db, agreement: Agreement, *, full: bool = False) -> dict:
    instance = db.get(ProcessInstance, agreement.instance_id)
    graduate = db.get(Graduate, agreement.graduate_id, options=WITH_SCHOOL)  # with the school and 院系 it shows
    fields = agreement.fields or {}
    if agreement.employer_id:
        employer = db.get(Employer, agreement.employer_id)
        employer_out = {"id": employer.id, "name": employer.name, "credit_code": employer.credit_code}
    else:
        employer_out = {"id": None, "name": fields.get("employer_name", ""), "credit_code": fields.get("credit_code", "")}
    out = {
        "id": agreement.id, "kind": agreement.kind, "status": agreement.status,
        "status_label": instance.status_label if instance is not None else "", "agreement_no": agreement.agreement_no,
        "agreement_type": agreement.agreement_type, "instance_id": agreement.instance_id,
        "graduate": {"id": graduate.id, "name": graduate.name, "school": graduate.school.name,
                     "department": graduate.department.name, "major": graduate.major,
                     "education": graduate.education},
        "employer": employer_out, "position": fields.get("position", ""),
        "answer_deadline": _iso(agreement.answer_deadline), "answered_at": _iso(agreement.answered_at),
        "signed_at": _iso(agreement.signed_at), "terminated_at": _iso(agreement.terminated_at),
        "failure_reason": agreement.failure_reason, "created_at": _iso(agreement.created_at),
        "pdf_available": agreement.status in agreement_pdf.DOWNLOADABLE,
    }
    if full:
        out["fields"] = dict(fields)
        out["attachment_ids"] = list(agreement.attachment_ids or [])
        # TRM-1 / OFT-1: only a signed agreement can have terminations (signed_at is set at signing, never
        # cleared): an invitation's steps and reads do not look for them
        out["terminations"] = ([termination_json(t) for t in signing.terminations_of(db, agreement.id)]
                               if agreement.signed_at is not None else [])
    return out


def instance_extras(db, instance: ProcessInstance) -> dict:
    """Added to GET /instances/<id> and every step answer: the agreement or termination behind it."""
    agreement = by_key(db, Agreement, "instance_id", instance.id)  # read by the step already, if one ran
    return {"agreement": agreement_json(db, agreement, full=True) if agreement is not None else None}


# -- employers (public registration) and finding a graduate (ONL-1) -----------------------
@bp.route("/employers", methods=["POST"])
@limit_employer_registration  # per client, shared with the page (issue 8)
def register_employer():
    """issue 12: a pending registration and a code to the contact; the same answer whether the username
    exists or not. POST /employers/verify with the code creates the employer and its account."""
    form = valid(EmployerRegistrationForm.from_json(body()))
    clean = {**form.employer_fields(), "division_code": form.division_code.data}
    username, password, channel = form.username.data.strip(), form.password.data, form.channel()
    reg = run_step(lambda db: registration.start(db, clean, username, password, channel))
    return jsonify(registration={"token": reg.token, "sent_to": registration.mask_target(reg.target),
                                 "channel": reg.channel, "expires_at": iso(reg.code_expires_at)},
                   message="验证码已发送，请在10分钟内提交验证码完成注册"), 202


@bp.route("/employers/verify", methods=["POST"])
@limit_verification  # shared with the page
def verify_employer():
    data = body()
    form = valid(VerifyCodeForm.from_json(data))
    token, code = str(data.get("token") or ""), form.code.data

    from sqlalchemy.exc import IntegrityError

    try:
        outcome = run_step(lambda db: registration.verify(db, token, code))
    except IntegrityError:  # a concurrent registration took the code or the name first
        return fail("该统一社会信用代码或登录名已被注册", 409)
    if outcome.account is None:
        taken = {"credit_code": [outcome.error or ""]} if outcome.credit_code_taken else None
        return fail(outcome.error or "验证失败", outcome.status, taken)
    employer = g.db.get(Employer, outcome.account.employer_id)
    return jsonify(employer={"id": employer.id, "name": employer.name, "credit_code": employer.credit_code},
                   username=outcome.account.username), 201


@bp.route("/graduates/lookup", methods=["POST"])
@limit_graduate_lookup  # per client, account and person sought, shared with the page (issue 8)
def lookup_graduate():
    _employer_actor()
    form = valid(FindGraduateForm.from_json(body()))
    graduate = signing.find_graduate(g.db, form.name.data, form.id_number.data, form.exam_no.data)
    if graduate is None:
        return fail("未找到该毕业生", 404)
    return jsonify(graduate={"id": graduate.id, "name": graduate.name, "school": graduate.school.name,
                             "major": graduate.major, "education": graduate.education})


# -- online signing (ONL) ----------------------------------------------------------------
@bp.route("/invitations", methods=["POST"])
@limit_graduate_lookup  # it finds the graduate by name + number too: the same limits (issue 8)
def create_invitation():
    actor = _employer_actor()
    data = body()
    # ONL-1: the graduate is named as in the lookup (name + 身份证号 or 考生号), never by a bare id,
    # so the API cannot be used to walk through graduates of other schools.
    who = valid(FindGraduateForm.from_json(data))
    graduate = signing.find_graduate(g.db, who.name.data, who.id_number.data, who.exam_no.data)
    if graduate is None:
        return fail("未找到该毕业生", 404)
    raw = graduate.id
    form = valid(InvitationForm.from_json(data))
    terms, days = form.terms(), form.answer_days.data
    inst = run_step(lambda db: signing.invite(db, g.runtime.runner, actor, raw, terms, days))
    return jsonify(payload(inst.id)), 201


def _answer(item: WorkItem, answer: str) -> ProcessInstance:
    actor = current_actor()
    return run_step(lambda db: signing.answer_invitation(db, g.runtime.runner, actor, item.instance_id, answer,
                                                         item))


# -- agreements: list, detail, e-agreement PDF (DOC-1) -------------------------------------
@bp.route("/agreements")
def list_agreements():
    actor = current_actor()
    query = select(Agreement).join(ProcessInstance, ProcessInstance.id == Agreement.instance_id)
    query = query.where(POLICY.instance_filter(actor))
    status, kind = request.args.get("status", "")[:20], request.args.get("kind", "")[:10]
    if status:
        query = query.where(Agreement.status == status)
    if kind:
        query = query.where(Agreement.kind == kind)
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() and 0 < len(raw_page) < 7 and int(raw_page) > 0 else 1
    total = g.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(g.db.scalars(query.order_by(Agreement.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    held = preload_for_json(g.db, rows)  # noqa: F841 - kept referenced: agreement_json's gets hit the identity map
    return jsonify(agreements=[agreement_json(g.db, a) for a in rows], total=total, page=page, page_size=PAGE_SIZE)


def preload_for_json(db, agreements: list[Agreement]) -> list[object]:
    """What agreement_json reads of a page of agreements, in three statements instead of up to five per row
    (instance, graduate, employer, school, 院系). The caller keeps the list: the session's identity map holds
    objects weakly."""
    def ids(attr: str) -> set[int]:
        return {v for a in agreements if (v := getattr(a, attr)) is not None}

    held: list[object] = []
    if not agreements:
        return held
    held += db.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids("instance_id")))).all()
    held += db.scalars(select(Graduate).where(Graduate.id.in_(ids("graduate_id"))).options(*WITH_SCHOOL)).all()
    if ids("employer_id"):
        held += db.scalars(select(Employer).where(Employer.id.in_(ids("employer_id")))).all()
    return held


@bp.route("/agreements/<int:agreement_id>")
def agreement_detail(agreement_id: int):
    return jsonify(agreement_json(g.db, scoped_agreement(agreement_id), full=True))


@bp.route("/agreements/<int:agreement_id>/pdf")
def agreement_pdf_file(agreement_id: int):
    actor = current_actor()
    try:
        agreement = agreement_pdf.readable(g.db, actor, agreement_id)  # 404 out of scope, 409 before approval
    except Forbidden:
        log_refusal(f"api agreement pdf {agreement_id} out of scope")
        raise
    doc = agreement_pdf.cached(g.db, agreement)
    if doc is None:
        if current_app.extensions["gradflow"].settings.celery_eager:
            try:  # embedded mode: render now, in this request's own database session
                doc = run_step(lambda db: agreement_pdf.render_and_cache(db, agreement_id))
            except FontMissing:
                log.exception("agreement %s: no CJK font to render the PDF", agreement_id)
                return fail("就业协议书暂时无法生成，请联系管理员", 503)
        else:
            try:
                g.runtime.enqueue("gradflow.render_agreement", agreement_id)
            except Exception:  # noqa: BLE001 - the broker is down: say so, do not fail with a 500
                log.exception("agreement %s: could not queue the PDF render", agreement_id)
                return fail("系统繁忙，请稍后重试", 503)
            resp = jsonify(message="正在生成，请稍后重试")
            resp.status_code = 202
            resp.headers["Retry-After"] = "5"
            return resp
    name = f"agreement-{agreement.agreement_no or agreement.id}.pdf"
    resp = Response(blobs.read(g.db, doc.storage_key, doc.pdf), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- offline signing (OFF) and paper registration (PAP) -------------------------------------
def start_offline(data: dict):
    actor = graduate_actor()
    draft = _draft_flag(data)
    fields = _offline_fields(data, draft=draft)
    service = signing.save_offline_draft if draft else signing.submit_offline
    graduate_id = actor.graduate_id
    inst = run_step(lambda db: service(db, g.runtime.runner, actor, db.get(Graduate, graduate_id), fields))
    return jsonify(payload(inst.id)), 201


def start_paper(data: dict):
    actor = graduate_actor()
    form = valid(PaperAgreementForm.from_json(data))
    ids = attachment_ids(form, required="请上传盖章的纸质就业协议书图片")
    fields, graduate_id = form.clean(), actor.graduate_id
    inst = run_step(lambda db: signing.submit_paper(db, g.runtime.runner, actor, db.get(Graduate, graduate_id),
                                                    fields, ids))
    return jsonify(payload(inst.id)), 201


@bp.route("/instances/<int:instance_id>/offline-draft", methods=["POST"])
def save_offline_draft(instance_id: int):
    _instance(instance_id)
    actor = graduate_actor()
    fields = _offline_fields(body(), draft=True)
    graduate_id = actor.graduate_id
    inst = run_step(lambda db: signing.save_offline_draft(db, g.runtime.runner, actor, db.get(Graduate, graduate_id),
                                                          fields, instance_id))
    return jsonify(payload(inst.id))


@bp.route("/instances/<int:instance_id>/assist-link", methods=["POST"])
def create_assist_link(instance_id: int):
    """OFF-3 用人单位协助回传: a one-time, expiring link (also sent to the employer's mobile)."""
    _instance(instance_id)
    actor = graduate_actor()

    def make(db):
        token = signing.create_assist_link(db, actor, instance_id, base_url=g.runtime.settings.base_url)
        digest = hashlib.sha256(token.encode()).hexdigest()
        return token, db.scalar(select(AssistLink.expires_at).where(AssistLink.token_hash == digest))

    token, expires_at = run_step(make)
    return jsonify(url=f"/assist/{token}", expires_at=_iso(expires_at)), 201


# -- generic work-item completion (POST /work-items/<id>/complete) ---------------------------
def _complete_offline(item: WorkItem, data: dict) -> ProcessInstance:
    actor = graduate_actor()
    fields = _offline_fields(data, draft=False)
    graduate_id = actor.graduate_id
    return run_step(lambda db: signing.submit_offline(db, g.runtime.runner, actor, db.get(Graduate, graduate_id),
                                                      fields, item.instance_id))


def _complete_stamped(item: WorkItem, data: dict) -> ProcessInstance:
    actor = graduate_actor()
    ids = attachment_ids(valid(StampedUploadForm.from_json(data)), required="请上传盖章的就业协议书图片")

    def step(db):
        _check_owned(db, actor.graduate_id, ids)  # the service itself does not check ownership
        return signing.upload_stamped(db, g.runtime.runner, actor, item.instance_id, ids)

    return run_step(step)


def _complete_paper(item: WorkItem, data: dict) -> ProcessInstance:
    actor = graduate_actor()
    form = valid(PaperAgreementForm.from_json(data))
    ids = attachment_ids(form, required="请上传盖章的纸质就业协议书图片")
    fields, graduate_id = form.clean(), actor.graduate_id
    return run_step(lambda db: signing.submit_paper(db, g.runtime.runner, actor, db.get(Graduate, graduate_id),
                                                    fields, ids, work_item_id=item.id))


def _complete_answer(item: WorkItem, data: dict) -> ProcessInstance:
    form = valid(AnswerForm.from_json(data))
    return _answer(item, form.answer.data)


COMPLETERS = {
    "offline_agreement": _complete_offline, "stamped_upload": _complete_stamped, "paper_agreement": _complete_paper,
    "invitation_answer": _complete_answer,
}
FIELDS = {
    "offline_agreement": lambda: describe(OfflineAgreementForm),
    "paper_agreement": lambda: describe(PaperAgreementForm, required=("attachment_ids",)),
    "stamped_upload": lambda: describe(StampedUploadForm, required=("attachment_ids",)),
    "invitation_answer": lambda: describe(AnswerForm),
}
ITEM_DATA = {
    "offline_agreement": lambda data: {"draft": data.get("draft")},
    "invitation_answer": lambda data: {"invitation": data.get("invitation"), "employer_name": data.get("employer_name"),
                                       "answer_deadline": data.get("answer_deadline")},
}
