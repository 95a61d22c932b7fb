"""Employer portal 用人单位 (ONL-1, ONL-5, TRM-1, TRM-2): registration, home, find a graduate, invite,
the detail of an invitation/agreement/termination, answering and starting an online termination."""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user
from sqlalchemy import select

from domain import dicts, filing, signing
from domain.models import Agreement, Employer, Graduate
from engine.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed
from engine.models import ProcessInstance, WorkItem
from forms.agreement import (
    AnswerForm,
    EmployerRegistrationForm,
    FindGraduateForm,
    InvitationForm,
    TerminationForm,
)
from webapp.graduate.signing import signing_context
from webapp.session import LoginAccount, current_actor, log_refusal, role_required, run_step

bp = Blueprint("employer", __name__, url_prefix="/employer")
EMPLOYER_PROCESSES = ("online_signing", "online_termination")
FOUND_KEY = "employer_found_graduates"  # graduates this account found by name + number; only those can be invited
FOUND_KEEP = 20


def _status(exc: EngineError) -> int:
    return 409 if isinstance(exc, Conflict) else (404 if isinstance(exc, NotFound) else 422)


# -- registration (public) ---------------------------------------------------------
@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("auth.index"))
    form = EmployerRegistrationForm()
    error, status = None, 200
    if form.validate_on_submit():
        clean = {**form.employer_fields(), "division_code": form.division_code.data}
        username, password = form.username.data.strip(), form.password.data
        try:
            account = run_step(lambda db: signing.register_employer(db, clean, username, password))
        except (ValidationFailed, Conflict) as exc:
            error, status = exc.message, _status(exc)
        else:
            login_user(LoginAccount(account))
            flash("注册成功，可以查找毕业生并发起签约邀请")
            return redirect(url_for("employer.home"))
    elif request.method == "POST":
        error, status = form.first_error(), 422
    chosen = dicts.division_path(form.division_code.data) if form.division_code.data else []
    levels = [dicts.provinces()] + [dicts.children(c["code"]) for c in chosen[:2]]
    return render_template("employer/register.html", form=form, error=error, levels=levels,
                           chosen=[c["code"] for c in chosen]), status


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
        inst = filing.instance_for(g.db, current_actor(), instance_id)
        if inst.process_id not in EMPLOYER_PROCESSES:
            raise Forbidden("记录不存在或无权访问")
    except Forbidden:
        log_refusal(f"instance {instance_id} out of scope")
        raise
    return inst


def render_instance(instance_id: int, *, error: str | None = None, status: int = 200, term_form=None):
    inst = _scoped(instance_id)
    db = g.db
    ctx = signing_context(db, inst)
    items = list(db.scalars(select(WorkItem).where(WorkItem.instance_id == inst.id).order_by(WorkItem.id)))
    answer_item = next((i for i in items if i.state == "open" and i.role == "Employer"
                        and i.form_key == "termination_answer"), None)
    agreement = ctx["agreement"]
    can_terminate = (inst.process_id == "online_signing" and agreement is not None and agreement.kind == "online"
                     and agreement.status == "signed" and ctx["open_termination"] is None)
    return render_template("employer/instance.html", instance=inst, signing=ctx, agreement=agreement,
                           graduate=db.get(Graduate, inst.graduate_id), answer_item=answer_item,
                           can_terminate=can_terminate, term_form=term_form or TerminationForm(prefix="term"),
                           answer_form=AnswerForm(), history=g.runtime.runner.history(db, inst.id),
                           error=error, record_endpoint="employer.instance"), status


@bp.route("/instances/<int:instance_id>")
@role_required("employer")
def instance(instance_id: int):
    return render_instance(instance_id)


@bp.route("/instances/<int:instance_id>/answer", methods=["POST"])
@role_required("employer")
def answer(instance_id: int):
    """TRM-2: the employer accepts or refuses the graduate's termination request."""
    _scoped(instance_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return render_instance(instance_id, error=form.first_error(), status=422)
    actor, how = current_actor(), form.answer.data
    try:
        run_step(lambda db: signing.answer_termination(db, g.runtime.runner, actor, instance_id, how))
    except (ValidationFailed, Conflict) as exc:
        return render_instance(instance_id, error=exc.message, status=_status(exc))
    flash("已同意解约，等待学校（院系）审核" if how == "accept" else "已拒绝解约，协议继续有效")
    return redirect(url_for("employer.instance", instance_id=instance_id))


@bp.route("/agreements/<int:agreement_id>/terminate", methods=["POST"])
@role_required("employer")
def terminate(agreement_id: int):
    """TRM-1: the employer starts an online termination of a signed online agreement."""
    actor = current_actor()
    agreement = g.db.get(Agreement, agreement_id)
    if agreement is None or agreement.employer_id is None or agreement.employer_id != actor.employer_id:
        log_refusal(f"agreement {agreement_id} out of scope")
        raise Forbidden("协议不存在或无权访问")
    instance_id = agreement.instance_id
    form = TerminationForm(prefix="term")
    if not form.validate_on_submit():
        return render_instance(instance_id, error=form.first_error(), status=422, term_form=form)
    clean = form.clean()
    try:
        inst = run_step(lambda db: signing.start_online_termination(db, g.runtime.runner, actor, agreement_id, clean))
    except (ValidationFailed, Conflict) as exc:
        return render_instance(instance_id, error=exc.message, status=_status(exc), term_form=form)
    flash("解约申请已提交，等待毕业生回应")
    return redirect(url_for("employer.instance", instance_id=inst.id))
