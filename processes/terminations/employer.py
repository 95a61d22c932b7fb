"""The employer's side of an online termination (TRM-1 start, TRM-2 answer), on the employer portal."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, url_for
from flask_babel import gettext as _

from core.errors import Conflict, Forbidden, ValidationFailed
from domain.models import Agreement
from processes.agreements.employer import _scoped, _status, render_instance
from processes.agreements.forms import AnswerForm
from webapp.session import current_actor, log_refusal, role_required, run_step

from . import services
from .forms import TerminationForm

bp = Blueprint("employer_terminations", __name__, url_prefix="/employer")


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
        run_step(lambda db: services.answer_termination(db, g.runtime.runner, actor, instance_id, how))
    except (ValidationFailed, Conflict) as exc:
        return render_instance(instance_id, error=_(exc.message), status=_status(exc))
    flash(_("已同意解约，等待学校（院系）审核") if how == "accept" else _("已拒绝解约，协议继续有效"))
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
        inst = run_step(lambda db: services.start_online_termination(db, g.runtime.runner, actor, agreement_id, clean))
    except (ValidationFailed, Conflict) as exc:
        return render_instance(instance_id, error=_(exc.message), status=_status(exc), term_form=form)
    flash("解约申请已提交，等待毕业生回应")
    return redirect(url_for("employer.instance", instance_id=inst.id))
