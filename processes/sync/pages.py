"""/admin/sync: the data sync (PRV-3) as the system admin sees it: pending, failed, delivered; retry now."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.config import sync_url
from core.errors import EngineError
from forms.base import ActionForm
from webapp.session import current_actor, role_required, run_step

from . import services
from .emit import PART_NAMES

bp = Blueprint("sync", __name__, url_prefix="/admin/sync", template_folder="templates")


@bp.route("")
@role_required("admin")
def index():
    q = services.parse(request.args)
    result = services.page(g.db, q)
    return render_template("sync/index.html", q=q, page=result, counts=services.counts(g.db),
                           statuses=services.STATUSES, parts=PART_NAMES, url=sync_url(), form=ActionForm(),
                           status_of=services.status_of, graduate_id_of=services.graduate_id_of,
                           pages=max(1, -(-result.total // q.per_page)))


def _retry(message_id: int | None):
    form = ActionForm()
    back = redirect(request.form.get("next") or url_for("sync.index"))
    if not form.validate_on_submit():
        flash(_(form.first_error()), "error")
        return back
    try:
        n = run_step(services.retry, current_actor(), message_id)
    except EngineError as exc:
        flash(_(exc.message), "error")
        return back
    flash(_("已安排立即重试 %(n)s 条同步记录", n=n), "success")
    return back


@bp.route("/<int:message_id>/retry", methods=["POST"])
@role_required("admin")
def retry(message_id: int):
    return _retry(message_id)


@bp.route("/retry-failed", methods=["POST"])
@role_required("admin")
def retry_failed():
    return _retry(None)
