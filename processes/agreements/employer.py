"""Employer portal 用人单位 (ONL-1, ONL-5, TRM-1, TRM-2): registration, home, find a graduate, invite,
the detail of an invitation/agreement/termination, answering and starting an online termination."""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from core.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed
from domain import dicts
from domain.access import POLICY
from domain.models import Account, Employer, Graduate
from engine.models import ProcessInstance, WorkItem
from webapp.extensions import limit_employer_registration, limit_graduate_lookup, limiter
from webapp.records import record_context
from webapp.session import LoginAccount, current_actor, log_refusal, role_required, run_step

from . import registration
from . import services as signing
from .forms import (
    AnswerForm,
    DisputeDecisionForm,
    DisputeForm,
    EmployerRegistrationForm,
    FindGraduateForm,
    InvitationForm,
    VerifyCodeForm,
)

bp = Blueprint("employer", __name__, url_prefix="/employer", template_folder="templates")
EMPLOYER_PROCESSES = ("online_signing", "online_termination")
FOUND_KEY = "employer_found_graduates"  # graduates this account found by name + number; only those can be invited
FOUND_KEEP = 20


def _status(exc: EngineError) -> int:
    return 409 if isinstance(exc, Conflict) else (404 if isinstance(exc, NotFound) else 422)


# -- registration (public): verify the contact first, then the account exists (issue 12) ------------
REGISTRATION_KEY = "employer_registration"  # the pending registration's token
# codes entered, codes re-sent, disputes filed: per client, beside the per-code limit of 5 tries
limit_verification = limiter.shared_limit("30/hour;100/day", scope="employer-verify", methods=["POST"])


@bp.route("/register", methods=["GET", "POST"])
@limit_employer_registration  # per client (issue 8)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("auth.index"))
    form = EmployerRegistrationForm()
    error, status = None, 200
    if form.validate_on_submit():
        clean = {**form.employer_fields(), "division_code": form.division_code.data}
        username, password = form.username.data.strip(), form.password.data
        try:  # the same answer whether the username exists or not: it is checked after verification
            reg = run_step(lambda db: registration.start(db, clean, username, password, form.channel()))
        except (ValidationFailed, Conflict) as exc:
            error, status = exc.message, _status(exc)
        else:
            session[REGISTRATION_KEY] = reg.token  # the verify page says where the code went
            return redirect(url_for("employer.verify"))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    chosen = dicts.division_path(form.division_code.data) if form.division_code.data else []
    levels = [dicts.provinces()] + [dicts.children(c["code"]) for c in chosen[:2]]
    return render_template("employer/register.html", form=form, error=error, levels=levels,
                           chosen=[c["code"] for c in chosen]), status


def _render_verify(reg, *, error=None, status=200, taken=False, form=None):
    return render_template("employer/verify.html", form=form or VerifyCodeForm(), reg=reg, error=error,
                           target=registration.mask_target(reg.target), taken=taken,
                           dispute_form=DisputeForm(), resend_form=VerifyCodeForm()), status


def _pending_registration():
    try:
        return registration.pending(g.db, session.get(REGISTRATION_KEY))
    except NotFound as exc:
        session.pop(REGISTRATION_KEY, None)
        flash(exc.message)
        return None


@bp.route("/register/verify", methods=["GET", "POST"])
@limit_verification
def verify():
    reg = _pending_registration()
    if reg is None:
        return redirect(url_for("employer.register"))
    form = VerifyCodeForm()
    if request.method == "GET":
        return _render_verify(reg, taken=reg.verified_at is not None)
    if not form.validate_on_submit():
        return _render_verify(reg, error=form.first_error(), status=422, form=form)
    token, code = reg.token, form.code.data
    outcome = run_step(lambda db: registration.verify(db, token, code))
    if outcome.account is None:
        return _render_verify(reg, error=outcome.error, status=outcome.status,
                              taken=outcome.credit_code_taken, form=form)
    session.pop(REGISTRATION_KEY, None)
    login_user(LoginAccount(outcome.account))
    flash(_("注册成功，可以查找毕业生并发起签约邀请"))
    return redirect(url_for("employer.home"))


@bp.route("/register/resend", methods=["POST"])
@limit_verification
def resend():
    reg = _pending_registration()
    if reg is None:
        return redirect(url_for("employer.register"))
    token = reg.token
    try:
        reg = run_step(lambda db: registration.resend(db, token))
    except (Conflict, NotFound) as exc:
        return _render_verify(reg, error=exc.message, status=_status(exc))
    flash(_("验证码已发送至%(target)s，10分钟内有效", target=registration.mask_target(reg.target)))
    return redirect(url_for("employer.verify"))


@bp.route("/register/dispute", methods=["POST"])
@limit_verification
def dispute():
    reg = _pending_registration()
    if reg is None:
        return redirect(url_for("employer.register"))
    form = DisputeForm()
    if not form.validate_on_submit():
        return _render_verify(reg, error=form.first_error(), status=422, taken=True)
    token, reason = reg.token, form.reason.data
    try:
        run_step(lambda db: registration.file_dispute(db, token, reason))
    except (Conflict, NotFound) as exc:
        return _render_verify(reg, error=exc.message, status=_status(exc), taken=True)
    session.pop(REGISTRATION_KEY, None)
    flash(_("争议申请已提交，省级主管部门审核后将通知联系人"))
    return redirect(url_for("auth.login"))


# -- credit-code disputes: the province or an admin decides (issue 12) ------------------------
@bp.route("/disputes")
@role_required("province", "admin")
def disputes():
    shown = request.args.get("status", "pending")
    status = shown if shown in ("pending", "approved", "rejected") else "pending"
    rows = registration.disputes(g.db, g.db.get(Account, current_user.id), status)  # the province's own (ROLE-1)
    return render_template("employer/disputes.html", rows=rows, status=status, form=DisputeDecisionForm())


@bp.route("/disputes/<int:dispute_id>/<any(approve, reject):decision>", methods=["POST"])
@role_required("province", "admin")
def decide(dispute_id: int, decision: str):
    form = DisputeDecisionForm()
    if not form.validate_on_submit():
        flash(form.first_error())
        return redirect(url_for("employer.disputes"))
    decider_id, note = current_user.id, form.note.data or ""
    try:
        run_step(lambda db: registration.decide_dispute(db, dispute_id, decision == "approve",
                                                        db.get(Account, decider_id), note))
    except (Conflict, NotFound) as exc:
        flash(exc.message)
        return redirect(url_for("employer.disputes"))
    flash(_("已通过争议申请，统一社会信用代码已转移给申请人") if decision == "approve" else _("已驳回争议申请"))
    return redirect(url_for("employer.disputes"))


@bp.route("/divisions")
def divisions():
    """Children of one 行政区划 (GB/T 2260) for the registration page's pickers; provinces without a parent."""
    parent = (request.args.get("parent") or "")[:6]
    items = dicts.children(parent) if parent else dicts.provinces()
    resp = jsonify(items=items)
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


# -- home ---------------------------------------------------------------------------
@bp.route("")
@role_required("employer")
def home():
    actor = current_actor()
    employer = g.db.get(Employer, actor.employer_id)
    instances = list(g.db.scalars(select(ProcessInstance).where(ProcessInstance.employer_id == actor.employer_id)
                                  .order_by(ProcessInstance.id.desc()).limit(200)))
    todo = list(g.db.scalars(select(WorkItem).where(WorkItem.employer_id == actor.employer_id,
                                                    WorkItem.role == "Employer", WorkItem.state == "open")
                             .order_by(WorkItem.id)))
    return render_template("employer/home.html", employer=employer, todo=todo,
                           signings=[i for i in instances if i.process_id == "online_signing"],
                           terminations=[i for i in instances if i.process_id == "online_termination"])


# -- find a graduate, invite (ONL-1) ----------------------------------------------------
@bp.route("/find", methods=["GET", "POST"])
@limit_graduate_lookup  # per client, account and person sought (issue 8)
@role_required("employer")
def find():
    form = FindGraduateForm()
    error, found, searched = None, None, False
    if form.validate_on_submit():
        searched = True
        found = signing.find_graduate(g.db, form.name.data, form.id_number.data, form.exam_no.data)
        if found is not None:
            remembered = [i for i in session.get(FOUND_KEY, []) if i != found.id] + [found.id]
            session[FOUND_KEY] = remembered[-FOUND_KEEP:]
    elif request.method == "POST":
        error = form.first_error()
    return render_template("employer/find.html", form=form, error=error, found=found, searched=searched), \
        (422 if error else 200)


def _found_graduate(graduate_id: int) -> Graduate:
    """Only a graduate this account has just found by name and number: never browse by id (ONL-1)."""
    graduate = g.db.get(Graduate, graduate_id) if graduate_id in session.get(FOUND_KEY, []) else None
    if graduate is None or graduate.deleted_at is not None:
        log_refusal(f"invite graduate {graduate_id} not found by this employer")
        raise Forbidden("页面不存在或无权访问")
    return graduate


@bp.route("/invite/<int:graduate_id>", methods=["GET", "POST"])
@role_required("employer")
def invite(graduate_id: int):
    graduate = _found_graduate(graduate_id)
    actor = current_actor()
    form = InvitationForm()
    error, status = None, 200
    if request.method == "GET":
        form.answer_days.data = 7
    if form.validate_on_submit():
        terms, days = form.terms(), form.answer_days.data
        try:
            inst = run_step(lambda db: signing.invite(db, g.runtime.runner, actor, graduate.id, terms, days))
        except (ValidationFailed, Conflict, NotFound) as exc:
            error, status = exc.message, _status(exc)
        else:
            flash("签约邀请已发送，等待毕业生应约")
            return redirect(url_for("employer.instance", instance_id=inst.id))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    return render_template("employer/invite.html", form=form, graduate=graduate, error=error), status


# -- one invitation / agreement / termination -----------------------------------------
def _scoped(instance_id: int) -> ProcessInstance:
    try:
        inst = POLICY.instance(g.db, current_actor(), instance_id)
        if inst.process_id not in EMPLOYER_PROCESSES:
            raise Forbidden("记录不存在或无权访问")
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise
    return inst


def render_instance(instance_id: int, *, error: str | None = None, status: int = 200, term_form=None):
    inst = _scoped(instance_id)
    db = g.db
    record = record_context(db, inst)
    ctx = record["signing"]
    keys = set(g.runtime.modules.answer_keys())
    answer_item = next((i for i in record["open_items"] if i.role == "Employer" and i.form_key in keys), None)
    extras: dict = {"term_form": term_form}
    for module in g.runtime.modules.modules:  # 申请解约 comes from the terminations module
        if module.record_extras is not None:
            extras.update(module.record_extras(db, inst, {**record, **extras}))
    agreement = ctx["agreement"]
    can_terminate = bool(extras.get("can_terminate")) and agreement is not None and agreement.kind == "online"
    return render_template("employer/instance.html", instance=inst, signing=ctx, agreement=agreement,
                           graduate=db.get(Graduate, inst.graduate_id), answer_item=answer_item,
                           can_terminate=can_terminate, term_form=extras.get("term_form"),
                           answer_form=AnswerForm(), history=record["history"],
                           error=error, record_endpoint="employer.instance"), status


@bp.route("/instances/<int:instance_id>")
@role_required("employer")
def instance(instance_id: int):
    return render_instance(instance_id)
