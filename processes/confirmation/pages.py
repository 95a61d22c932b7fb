"""去向登记确认 pages: the graduate's confirmation page, revoke, and its block on 去向填报."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import Conflict, ValidationFailed
from core.timefmt import china_time
from domain.models import Graduate
from forms.base import ActionForm
from webapp.graduate.routes import me
from webapp.session import current_actor, role_required, run_step

from . import services
from .forms import CHOICES, ConfirmationForm

bp = Blueprint("confirmation", __name__, template_folder="templates")
CHOOSER_NOTE = _l("去向登记确认关系您的档案、户口转递，请认真核对，确保信息无误。如果您的户口未转入学校仅需确认毕业去向及档案信息。")


def _render(graduate: Graduate, form: ConfirmationForm, error: str | None = None, status: int = 200):
    st = services.state(g.db, graduate)
    form.info_version.data = st["snapshot"].version  # what this page shows is what a confirmation confirms
    return render_template("confirmation/page.html", graduate=graduate, st=st, snap=st["snapshot"], form=form,
                           revoke_form=ActionForm(), choices=CHOICES, part_labels=services.PART_LABELS,
                           destination_kinds=services.DESTINATION_KINDS, error=error,
                           max_explanation=services.MAX_EXPLANATION), status


@bp.route("/graduate/confirmation", methods=["GET", "POST"])
@role_required("graduate")
def page():
    """CNF-2: the info with the date it was reported, and 信息无误 / 信息有误; CNF-3..5 by state."""
    graduate = me()
    if graduate.confirmed_at is None:  # GRAD-3 first
        return redirect(url_for("graduate.confirm"))
    snap = services.snapshot(g.db, graduate)
    form = ConfirmationForm(available=snap.parts())
    if request.method == "GET":
        form.mobile.data = graduate.phone
        return _render(graduate, form)
    if snap.destination is None:
        return _render(graduate, form, services.NOT_AVAILABLE, 409)  # CNF-1
    if not form.validate_on_submit():
        return _render(graduate, form, form.first_error(), 422)
    clean = form.clean()
    actor = current_actor()
    try:
        if clean["choice"] == "confirm":
            run_step(lambda db: services.confirm(db, actor, graduate.id, clean["info_version"]))
            flash("已确认登记去向")
        else:
            run_step(lambda db: services.report_error(db, actor, graduate.id, clean))
            flash("已提交。请按之前的登记方式更新为正确信息后，再次进行登记确认。")
    except (Conflict, ValidationFailed) as exc:
        return _render(graduate, form, _(exc.message), exc.status)
    return redirect(url_for("confirmation.page"))


@bp.route("/graduate/confirmation/revoke", methods=["POST"])
@role_required("graduate")
def revoke():
    """CNF-4: 实际信息无误，撤销确认; the graduate then confirms."""
    graduate = me()
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        run_step(lambda db: services.revoke(db, actor, graduate.id))
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash("已撤销。请重新核对信息，选择“信息无误，确认登记去向”提交。")
    return redirect(url_for("confirmation.page"))


# -- what the generic pages show of this module -----------------------------------------------------
def home_context(db, graduate: Graduate) -> dict[str, Any]:
    """The block on 去向填报: the confirmation status and the way to the page."""
    return {"confirmation": chooser_entry(db, graduate)}


def chooser_entry(db, graduate: Graduate) -> dict[str, Any]:
    """What the module chooser's 去向登记确认 card shows: enabled once a destination is effective (CNF-1)."""
    st = services.state(db, graduate)
    action = _("去确认") if st["may_confirm"] or st["status"] == "unconfirmed" else _("查看")
    if st["status"] == "confirmed":
        note = _("已于%(china_time)s确认", china_time=china_time(st['confirmed_at']))
    elif st["available"]:
        note = {"error_reported": _("你已报告信息有误，请更新信息后再次确认"),
                "reconfirm": _("信息有变化，请重新确认")}.get(st["status"], _("请核对并确认你的去向登记信息"))
    else:
        note = _("登记毕业去向后可确认")
    return {"title": _("去向登记确认"), "description": CHOOSER_NOTE, "note": note, "action": action,
            "href": url_for("confirmation.page"),
            "enabled": st["available"] or st["status"] != "unconfirmed",  # a past confirmation stays reachable
            "status": st["status"], "status_label": st["status_label"],
            "changed_parts": [services.PART_LABELS[p] for p in st["changed_parts"]]}


def entry_closed_reason(db, graduate: Graduate) -> str | None:
    """For the module chooser's card: closed until a destination is effective (CNF-1), unless a confirmation
    was already made (its page then says what changed)."""
    entry = chooser_entry(db, graduate)
    return None if entry["enabled"] else entry["note"]
