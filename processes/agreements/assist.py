"""用人单位协助回传协议书 (OFF-3): a one-time, expiring link that needs no account.

An unknown, expired or used link — or one whose upload task has closed — gets one and
the same answer (HTTP 404, "链接无效、已过期或已使用") and changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.errors import Conflict, Forbidden, ValidationFailed
from domain.models import Agreement, AssistLink, Graduate
from engine.models import WorkItem
from webapp.session import run_step

from . import pdf as agreement_pdf
from . import services as signing
from .forms import StampedUploadForm
from .pages import EMPLOYER_LABELS, TERM_LABELS, pdf_response, rows, uploads

bp = Blueprint("assist", __name__, url_prefix="/assist")
INVALID = _l("链接无效、已过期或已使用")
MAX_TOKEN = 100


@bp.after_request
def _no_referrer(resp):
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL: never pass it on
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _link(token: str) -> AssistLink | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        link = signing.assist_link(g.db, token)
    except Forbidden:
        return None
    item = g.db.get(WorkItem, link.work_item_id)
    if item is None or item.state != "open":
        return None
    return link


def invalid():
    return render_template("assist/invalid.html", message=INVALID), 404


@bp.route("/<token>", methods=["GET", "POST"])
def page(token: str):
    link = _link(token)
    if link is None:
        return invalid()
    agreement = g.db.get(Agreement, link.agreement_id)
    graduate = g.db.get(Graduate, agreement.graduate_id)
    form = StampedUploadForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            error = form.first_error()
        else:
            files = uploads(form.images.name)
            try:
                run_step(lambda db: signing.upload_by_assist_link(db, g.runtime.runner, token, files))
            except Forbidden:
                return invalid()
            except (ValidationFailed, Conflict) as exc:
                error = _(exc.message)
            else:
                return render_template("assist/done.html", graduate=graduate)
    return render_template("assist/page.html", token=token, form=form, error=error, graduate=graduate,
                           agreement=agreement, expires_at=link.expires_at,
                           employer_rows=rows(agreement.fields, EMPLOYER_LABELS)[:1],
                           term_rows=[r for r in rows(agreement.fields, TERM_LABELS)][:4],
                           downloadable=agreement.status in agreement_pdf.DOWNLOADABLE), (422 if error else 200)


@bp.route("/<token>/pdf")
def pdf(token: str):
    link = _link(token)
    if link is None:
        return invalid()
    agreement = g.db.get(Agreement, link.agreement_id)
    if agreement.status not in agreement_pdf.DOWNLOADABLE:
        return invalid()
    return pdf_response(agreement.id, download=request.args.get("download") == "1")
