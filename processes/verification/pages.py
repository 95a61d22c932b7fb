"""Pages of 核验授权: the graduate's reports (VER-1/2/5/6), the school's transfer codes (VER-7) and the
public check page (VER-4, VER-8) with its PDF.

Views stay thin: parse with a form, call a service inside run_step (one step = one transaction), render.
The public look-up is rate-limited per client and per code, and logged by services.lookup.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from core.errors import Conflict, EngineError, Forbidden, ValidationFailed
from core.i18n import N_
from domain.models import Graduate
from domain.pdf import FontMissing
from forms.base import ActionForm
from webapp.extensions import client_ip, field_key, limiter
from webapp.graduate.routes import me
from webapp.session import area_required, current_actor, log_refusal, role_required, run_step

from . import report as reports
from . import services
from .forms import CheckForm, ReportForm
from .models import TransferCode

log = logging.getLogger(__name__)
bp = Blueprint("verification", __name__, template_folder="templates")

# VER-8: per client and per code, shared by the page and its PDF. A client gets 30 look-ups a minute and
# 300 a day (1,000 guesses take more than three days); one code 20 an hour, whoever asks.
CHECK_PER_CLIENT = "30/minute;300/day"
CHECK_PER_CODE = "20/hour"
SCHOOL_PAGE_SIZE = 50


def _not_asked() -> bool:
    """Showing the empty form (or the QR code's link, which fills in only the code) is no look-up."""
    return not ((request.args.get("name") or "").strip() and (request.args.get("code") or "").strip())


def limit_check(view):
    view = limiter.shared_limit(CHECK_PER_CODE, scope="verify-code", exempt_when=_not_asked,
                                key_func=field_key("code", normalize=services.normalize_code))(view)
    return limiter.shared_limit(CHECK_PER_CLIENT, scope="verify-client", exempt_when=_not_asked)(view)


def _private(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the query string holds a name and a code
    return resp


def _pdf_response(data: bytes, filename: str) -> Response:
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(resp)


def _font_missing() -> tuple[str, int]:
    log.exception("verification report: no CJK font to render the PDF")
    return render_template("error.html", message=_("核验报告暂时无法生成，请联系管理员")), 503


# -- the graduate: 核验授权 ------------------------------------------------------------------------
def _render_home(graduate: Graduate, error: str | None = None, status: int = 200, form: ReportForm | None = None):
    confirmed, views = services.overview(g.db, graduate)
    return render_template("verification/home.html", graduate=graduate, confirmed=confirmed, views=views,
                           today=services.today(), limit=services.validity_limit(graduate), error=error,
                           form=form or ReportForm(), action_form=ActionForm()), status


@bp.route("/graduate/verification")
@role_required("graduate")
def home():
    return _render_home(me())


@bp.route("/graduate/verification/reports", methods=["POST"])
@role_required("graduate")
def create():
    graduate = me()
    form = ReportForm()
    if not form.validate_on_submit():
        return _render_home(graduate, form.first_error(), 422, form)
    actor = current_actor()
    try:
        report = run_step(lambda db: services.create_report(db, actor, form.kind.data, form.valid_until.data))
    except (ValidationFailed, Conflict) as exc:
        return _render_home(graduate, _(exc.message), exc.status, form)
    flash(_("%(KINDS)s报告已生成，核验编号 %(code)s", KINDS=services.KINDS[report.kind], code=report.code))
    return redirect(url_for("verification.home"))


@bp.route("/graduate/verification/reports/<int:report_id>/close", methods=["POST"])
@role_required("graduate")
def close(report_id: int):
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        run_step(lambda db: services.close_report(db, actor, report_id))
    except Forbidden:
        log_refusal(f"verification report {report_id} out of scope")
        raise
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash("核验报告已关闭，该核验编号不能再查询")
    return redirect(url_for("verification.home"))


def _own_content(report_id: int) -> tuple[services.VerificationReport, reports.ReportContent, str]:
    actor = current_actor()
    try:
        report = services.own_report(g.db, actor, report_id)
    except Forbidden:
        log_refusal(f"verification report {report_id} out of scope")
        raise
    graduate = g.db.get(Graduate, report.graduate_id)
    assert graduate is not None, "verification_report.graduate_id is a foreign key"
    content = reports.content(g.db, graduate, report.kind, report.code, report.valid_until)
    return report, content, services.report_state(g.db, report)


@bp.route("/graduate/verification/reports/<int:report_id>")
@role_required("graduate")
def view(report_id: int):
    report, content, state = _own_content(report_id)
    return _private(Response(render_template("verification/report_page.html", report=report, content=content,
                                             state=state, label=services.STATE_LABELS[state])))


@bp.route("/graduate/verification/reports/<int:report_id>/report.pdf")
@role_required("graduate")
def download(report_id: int):
    report, content, state = _own_content(report_id)
    if state != "active":
        raise Conflict(_("该核验报告%(STATE_LABELS)s，生效中的报告才能下载", STATE_LABELS=_(services.STATE_LABELS[state])))
    try:
        data = run_step(lambda db: reports.pdf_of(db, report.graduate_id, content))
    except FontMissing:
        return _font_missing()
    return _pdf_response(data, f"verification-{report.code}.pdf")


# -- the public check page (no login) ---------------------------------------------------------------------
def _check(via: str) -> tuple[CheckForm, bool, services.Lookup | None]:
    form = CheckForm(formdata=request.args or None)  # the QR code's link fills in the code
    if _not_asked() or not form.validate():
        return form, False, None
    client = client_ip()
    found = run_step(lambda db: services.lookup(db, form.name.data, form.code.data, client=client, via=via))
    return form, True, found


@bp.route("/verify")
@limit_check
def check():
    form, asked, found = _check("page")
    content = None
    if found is not None and found.found:
        assert found.graduate is not None and found.valid_until is not None
        content = reports.content(g.db, found.graduate, found.kind, found.code, found.valid_until, found.code_label)
    return _private(Response(render_template(
        "verification/check.html", form=form, asked=asked, content=content, none_answer=services.NONE_ANSWER,
        error=form.first_error() if form.errors else None)))


@bp.route("/verify/report.pdf")
@limit_check
def check_pdf():
    form, asked, found = _check("pdf")
    if found is None or not found.found:
        resp = Response(render_template("verification/check.html", form=form, asked=True, content=None,
                                        none_answer=services.NONE_ANSWER, error=None), status=404)
        return _private(resp)
    assert found.graduate is not None and found.valid_until is not None
    content = reports.content(g.db, found.graduate, found.kind, found.code, found.valid_until, found.code_label)
    try:
        data = run_step(lambda db: reports.pdf_of(db, found.graduate.id, content))
    except FontMissing:
        return _font_missing()
    return _pdf_response(data, f"verification-{found.code}.pdf")


# -- the school: 转递编号 (VER-7) -------------------------------------------------------------------------
def school_rows(db, school_id: int, q: str) -> list[dict[str, Any]]:
    """Graduates of this school matching 学号 / 姓名 / 身份证号 exactly (at most 20), with their codes."""
    q = q.strip()[:30]
    if not q:
        return []
    graduates = list(db.scalars(select(Graduate).where(
        Graduate.school_id == school_id, Graduate.deleted_at.is_(None),
        or_(Graduate.student_no == q, Graduate.name == q, Graduate.id_number == q.upper()))
        .order_by(Graduate.cohort.desc(), Graduate.id).limit(20)))
    return [_school_row(db, grad) for grad in graduates]


def _school_row(db, graduate: Graduate) -> dict[str, Any]:
    from domain.graduate_info import current_info

    return {"graduate": graduate, "has_archive": current_info(db, graduate.id, services.ARCHIVE) is not None,
            "code": services.transfer_code_of(db, graduate.id)}


@bp.route("/school/verification")
@role_required("school")
@area_required("archive")  # ROLE-2: the 转递编号 belongs to the archive sent (档案信息)
def school():
    actor = current_actor()
    q = request.args.get("q", "")
    recent = list(g.db.execute(
        select(TransferCode, Graduate).join(Graduate, Graduate.id == TransferCode.graduate_id)
        .where(Graduate.school_id == actor.school_id).order_by(TransferCode.id.desc()).limit(SCHOOL_PAGE_SIZE)))
    return render_template("verification/school.html", q=q, rows=school_rows(g.db, actor.school_id or 0, q),
                           recent=recent, action_form=ActionForm(), today=services.today())


@bp.route("/school/verification/graduates/<int:graduate_id>/transfer-code", methods=["POST"])
@role_required("school")
@area_required("archive", write=True)
def issue(graduate_id: int):
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    try:
        row, new = run_step(lambda db: services.issue_transfer_code(db, actor, graduate_id))
    except Forbidden:
        log_refusal(f"transfer code for graduate {graduate_id} out of scope")
        raise
    except EngineError as exc:
        flash(exc.message, "error")
        return redirect(url_for("verification.school", q=request.form.get("q", "")))
    message = N_("已签发转递编号 %(code)s，有效期至 %(until)s") if new else N_("该毕业生已有转递编号 %(code)s，有效期至 %(until)s")
    flash(_(message, code=row.code, until=row.valid_until.isoformat()))
    return redirect(url_for("verification.school", q=request.form.get("q", "")))


# -- what the 去向填报 page shows of this module -----------------------------------------------------------
def home_context(db, graduate: Graduate) -> dict[str, Any]:
    confirmed, views = services.overview(db, graduate)
    return {"verification_confirmed": confirmed, "verification_views": views}
