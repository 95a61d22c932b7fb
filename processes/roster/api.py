"""/api/v1 for basic information (GRAD-1, GRAD-5) and the graduate's cohorts (GRAD-4)."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from core.errors import Forbidden, ValidationFailed
from core.timefmt import iso
from domain.accounts import current_graduate
from domain.cohorts import graduate_records, person_record
from domain.models import Account, GraduateImportJob, Message
from engine.models import ProcessInstance
from webapp.api.base import api_blueprint, body, instance_json
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, log_refusal, run_step

from . import importing, services
from .pages import start_job, xlsx_response
from .rules import COLUMNS

bp = api_blueprint("roster_api", __name__)


def _school_graduate(graduate_id: int):
    try:
        return services.graduate_of(g.db, current_actor(), graduate_id)
    except Forbidden:
        log_refusal(f"api roster graduate {graduate_id} out of scope")
        raise


@bp.route("/school/graduates")
def list_graduates():
    actor = current_actor()
    page = request.args.get("page", "1")
    cohort_arg = request.args.get("cohort", "")
    cohort = int(cohort_arg) if cohort_arg.isdigit() and len(cohort_arg) < 6 else None
    if cohort is None and not cohort_arg:
        cohort = services.default_cohort(g.db)
    rows, total = services.list_graduates(g.db, actor, q=request.args.get("q", "")[:50], cohort=cohort,
                                          page=int(page) if page.isdigit() and len(page) < 7 else 1)
    return jsonify({"items": [services.graduate_json(r) for r in rows], "total": total, "cohort": cohort,
                    "page_size": services.PAGE_SIZE})


@bp.route("/school/graduates", methods=["POST"])
def add_graduate():
    actor = current_actor()
    data = body()
    grad = run_step(lambda db: services.add_graduate(db, actor, data))
    return jsonify(services.graduate_json(grad, masked=False)), 201


@bp.route("/school/graduates/<int:graduate_id>")
def get_graduate(graduate_id: int):
    return jsonify(services.graduate_json(_school_graduate(graduate_id), masked=False))


@bp.route("/school/graduates/<int:graduate_id>", methods=["PUT"])
def edit_graduate(graduate_id: int):
    actor = current_actor()
    _school_graduate(graduate_id)
    data = body()
    grad, changed = run_step(lambda db: services.edit_graduate(db, actor, graduate_id, data))
    return jsonify({**services.graduate_json(grad, masked=False), "changed": changed})


@bp.route("/school/graduates/<int:graduate_id>", methods=["DELETE"])
def delete_graduate(graduate_id: int):
    """GRAD-5: delete a graduate's basic info; archive/hukou records become invalid, open applications end."""
    _school_graduate(graduate_id)
    actor = current_actor()
    result = run_step(lambda db: services.delete_graduate(db, g.runtime.runner, actor, graduate_id))
    return jsonify({**result, "deleted_at": iso(result["deleted_at"])})


@bp.route("/school/graduates/template.xlsx")
def template():
    services.require_school(current_actor())
    return xlsx_response(importing.template_xlsx(), "毕业生基本信息导入模板.xlsx")


@bp.route("/school/graduates/imports", methods=["POST"])
def create_import():
    actor = current_actor()
    services.require_school(actor, write=True)
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationFailed("请以 multipart/form-data 的 file 字段上传 .xlsx 或 .csv 文件")
    data = file.read(importing.MAX_BYTES + 1)
    job = run_step(lambda db: importing.create_job(db, actor, file.filename or "", data))
    job_id = job.id
    start_job(job_id)
    g.db.rollback()
    return jsonify(importing.progress_json(g.db.get(GraduateImportJob, job_id))), 202


@bp.route("/school/graduates/imports/<int:job_id>")
def import_progress(job_id: int):
    return jsonify(importing.progress_json(importing.job_of(g.db, current_actor(), job_id)))


@bp.route("/school/graduates/imports/<int:job_id>/errors.xlsx")
def import_errors(job_id: int):
    job = importing.job_of(g.db, current_actor(), job_id)
    return xlsx_response(importing.error_report_xlsx(g.db, job), f"导入错误报告_{job_id}.xlsx")


# -- GRAD-4: the graduate's cohorts, read-only for earlier ones ---------------------------------------------------

def _me() -> Account:
    account = g.get("api_account")
    if account is None or account.role != "graduate":
        raise Forbidden("页面不存在或无权访问")
    return account


@bp.route("/me/cohorts")
def my_cohorts():
    account = _me()
    current = current_graduate(g.db, account)
    return jsonify({"items": [{"graduate_id": r.id, "cohort": r.cohort, "school": r.school.name,
                               "current": current is not None and r.id == current.id,
                               "read_only": current is None or r.id != current.id}
                              for r in graduate_records(g.db, account.id_number or "")]})


@bp.route("/me/cohorts/<int:graduate_id>/records")
def my_cohort_records(graduate_id: int):
    account = _me()
    record = person_record(g.db, account.id_number, graduate_id)
    if record is None:
        log_refusal(f"api cohort record {graduate_id} not this person's")
        raise Forbidden("记录不存在或无权访问")
    current = current_graduate(g.db, account)
    instances = list(g.db.scalars(select(ProcessInstance).where(ProcessInstance.graduate_id == record.id)
                                  .order_by(ProcessInstance.id.desc())))
    ids = [i.id for i in instances]
    messages = list(g.db.scalars(select(Message).where(Message.account_id == account.id,
                                                       Message.instance_id.in_(ids)).order_by(Message.id.desc())
                                 .limit(200))) if ids else []
    return jsonify({"graduate_id": record.id, "cohort": record.cohort,
                    "read_only": current is None or current.id != record.id,
                    "records": [instance_json(g.db, i) for i in instances],
                    "messages": [{"id": m.id, "title": m.title, "body": m.body, "instance_id": m.instance_id,
                                  "created_at": iso(m.created_at)} for m in messages]})


def _graduate_schema() -> dict[str, Any]:
    props: dict[str, Any] = {c.key: {"type": "string", "maxLength": c.max_length, "description": c.header + (
        f"（{c.hint}）" if c.hint else "")} for c in COLUMNS}
    return {"type": "object", "description": "毕业生基本信息（GRAD-1），与批量导入使用同一校验",
            "required": [c.key for c in COLUMNS if c.required], "properties": props}


QUERY = [{"name": "q", "in": "query", "schema": {"type": "string"}, "description": "姓名（前缀）、学号或身份证号"},
         {"name": "cohort", "in": "query", "schema": {"type": "integer"}, "description": "届别，默认最新的未结束届别"},
         {"name": "page", "in": "query", "schema": {"type": "integer"}}]
SCHEMAS = {"GraduateBasicInfo": _graduate_schema()}


def _xlsx(op: dict[str, Any]) -> dict[str, Any]:
    """An operation whose success is a spreadsheet file, not JSON."""
    op["responses"]["200"] = {"description": "Excel 文件", "content": {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}}}}
    return op


PATHS = {
    "/school/graduates": {
        "get": _op("学校的毕业生基本信息列表（按届别筛选，身份证号脱敏；只读账号可查看）", params=QUERY),
        "post": _op("学校新增一名毕业生（GRAD-1；已删除的同届同身份证号毕业生会被恢复，需重新登记档案、户口，GRAD-5）",
                    body="GraduateBasicInfo", ok="201"),
    },
    "/school/graduates/{graduate_id}": {
        "get": _op("一名本校毕业生的基本信息", params=[_id("graduate_id")]),
        "put": _op("学校修改毕业生基本信息（GRAD-3，与导入同一校验）", body="GraduateBasicInfo",
                   params=[_id("graduate_id")]),
        "delete": _op("学校删除本校毕业生的基本信息（GRAD-5）：档案、户口信息失效，待审核的档案/户口申请变为审核不通过；"
                      "记录不物理删除", params=[_id("graduate_id")]),
    },
    "/school/graduates/template.xlsx": {"get": _xlsx(_op("下载毕业生基本信息导入模板（.xlsx）"))},
    "/school/graduates/imports": {"post": _op("上传毕业生基本信息文件（.xlsx 或 .csv，GRAD-1），后台导入；返回任务进度",
                                              multipart=True, ok="202")},
    "/school/graduates/imports/{job_id}": {"get": _op("导入任务的进度与结果", params=[_id("job_id")])},
    "/school/graduates/imports/{job_id}/errors.xlsx": {"get": _xlsx(_op("导入错误报告（.xlsx：行号、列、内容、原因）",
                                                                        params=[_id("job_id")]))},
    "/me/cohorts": {"get": _op("毕业生本人各届别的记录（GRAD-4，往届只读）")},
    "/me/cohorts/{graduate_id}/records": {"get": _op("某一届别的登记记录和消息（往届只读）",
                                                     params=[_id("graduate_id")])},
}
