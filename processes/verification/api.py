"""核验授权 through /api/v1: the graduate's reports (list, create with a validity date, close, PDF) and the
school's transfer codes (VER-7). Bodies are validated by the page form (`ReportForm.from_json`)."""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify
from flask_babel import gettext as _

from core.errors import Forbidden, ValidationFailed
from core.timefmt import iso
from domain.access import POLICY
from domain.models import Graduate
from domain.pdf import FontMissing
from webapp.api.base import api_blueprint, body, fail
from webapp.api.openapi import _id, _op
from webapp.session import check_area, current_actor, log_refusal, run_step

from . import report as reports
from . import services
from .forms import ReportForm
from .models import TransferCode, VerificationReport

bp = api_blueprint("verification_api", __name__)


def _graduate() -> Graduate:
    actor = current_actor()
    graduate = g.db.get(Graduate, actor.graduate_id) if POLICY.is_graduate(actor) else None
    if graduate is None or graduate.deleted_at is not None:
        raise Forbidden("只有毕业生本人可以办理核验授权")
    return graduate


def report_json(report: VerificationReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"id": report.id, "kind": report.kind, "code": report.code, "valid_until": report.valid_until.isoformat(),
            "created_at": iso(report.created_at), "closed_at": iso(report.closed_at)}


def kind_json(view: services.KindView) -> dict[str, Any]:
    return {"kind": view.kind, "title": view.title, "state": view.state, "status_label": view.label,
            "unavailable": view.unavailable, "report": report_json(view.report), "can_create": view.can_create,
            "can_close": view.can_close, "can_download": view.can_download}


def _overview(graduate: Graduate) -> dict[str, Any]:
    confirmed, views = services.overview(g.db, graduate)
    return {"confirmed": confirmed, "max_valid_until": services.validity_limit(graduate).isoformat(),
            "kinds": [kind_json(v) for v in views]}


@bp.route("/verification/reports")
def list_reports():
    return jsonify(_overview(_graduate()))


@bp.route("/verification/reports", methods=["POST"])
def create_report():
    graduate = _graduate()
    form = ReportForm.from_json(body())
    if not form.validate():
        raise ValidationFailed(form.first_error(), details=form.error_details())
    actor = current_actor()
    report = run_step(lambda db: services.create_report(db, actor, form.kind.data, form.valid_until.data))
    return jsonify(report=report_json(report), **_overview(graduate)), 201


@bp.route("/verification/reports/<int:report_id>/close", methods=["POST"])
def close_report(report_id: int):
    graduate = _graduate()
    actor = current_actor()
    try:
        report = run_step(lambda db: services.close_report(db, actor, report_id))
    except Forbidden:
        log_refusal(f"api verification report {report_id} out of scope")
        raise
    return jsonify(report=report_json(report), **_overview(graduate))


@bp.route("/verification/reports/<int:report_id>/pdf")
def report_pdf(report_id: int):
    graduate = _graduate()
    actor = current_actor()
    try:
        report = services.own_report(g.db, actor, report_id)
    except Forbidden:
        log_refusal(f"api verification report {report_id} out of scope")
        raise
    state = services.report_state(g.db, report)
    if state != "active":
        return fail(_("该核验报告%(STATE_LABELS)s，生效中的报告才能下载", STATE_LABELS=_(services.STATE_LABELS[state])), 409)
    content = reports.content(g.db, graduate, report.kind, report.code, report.valid_until)
    try:
        data = run_step(lambda db: reports.pdf_of(db, graduate.id, content))
    except FontMissing:
        return fail("核验报告暂时无法生成，请联系管理员", 503)
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="verification-{report.code}.pdf"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- the school's transfer codes (VER-7) ------------------------------------------------------------------
def transfer_json(row: TransferCode) -> dict[str, Any]:
    return {"graduate_id": row.graduate_id, "code": row.code, "valid_until": row.valid_until.isoformat(),
            "created_at": iso(row.created_at)}


def _school_graduate(graduate_id: int, write: bool = False) -> Graduate:
    check_area("archive", write=write)  # ROLE-2: transfer codes belong to the archive area
    try:
        return services.school_graduate(g.db, current_actor(), graduate_id)
    except Forbidden:
        log_refusal(f"api transfer code for graduate {graduate_id} out of scope")
        raise


@bp.route("/graduates/<int:graduate_id>/transfer-code", methods=["POST"])
def issue_transfer_code(graduate_id: int):
    _school_graduate(graduate_id, write=True)
    actor = current_actor()
    row, new = run_step(lambda db: services.issue_transfer_code(db, actor, graduate_id))
    return jsonify(transfer_code=transfer_json(row)), (201 if new else 200)


@bp.route("/graduates/<int:graduate_id>/transfer-code")
def get_transfer_code(graduate_id: int):
    _school_graduate(graduate_id)
    row = services.transfer_code_of(g.db, graduate_id)
    if row is None:
        return fail("该毕业生尚未签发转递编号", 404)
    return jsonify(transfer_code=transfer_json(row))


# -- OpenAPI ------------------------------------------------------------------------------------------
SCHEMAS: dict[str, Any] = {
    "VerificationReport": {
        "type": "object", "required": ["kind", "valid_until"],
        "properties": {
            "kind": {"type": "string", "enum": list(services.KINDS), "description": "archive 档案信息核验 / hukou 户口信息核验"},
            "valid_until": {"type": "string", "format": "date",
                            "description": "有效期至（含当日，北京时间）：不早于今天，不晚于毕业时间加六个月（VER-2）"},
        },
    },
}
def _pdf_op(summary: str) -> dict[str, Any]:
    op = _op(summary, params=[_id("report_id")])
    op["responses"]["200"] = {"description": "PDF", "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
    return op


PATHS: dict[str, Any] = {
    "/verification/reports": {
        "get": _op("核验授权：档案信息核验与户口信息核验的报告、状态（生效中 / 需重新确认 / 已过期 / 已关闭）"),
        "post": _op("设置有效期，生成核验报告与15位核验编号（VER-1、VER-2）", body="VerificationReport", ok="201"),
    },
    "/verification/reports/{report_id}/close": {"post": _op("关闭核验报告（VER-5）", params=[_id("report_id")])},
    "/verification/reports/{report_id}/pdf": {"get": _pdf_op("下载生效中的核验报告 PDF（DOC-2）")},
    "/graduates/{graduate_id}/transfer-code": {
        "post": _op("学校签发档案转递编号（VER-7）；已签发则返回原编号", params=[_id("graduate_id")], ok="201"),
        "get": _op("学校查看毕业生的档案转递编号", params=[_id("graduate_id")]),
    },
}
