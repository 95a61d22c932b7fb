"""The school's 毕业生信息 pages (GRAD-1, GRAD-5): list with search and cohort filter, add, edit, delete, the
bulk upload with its progress bar and error report, the template."""
from __future__ import annotations

import logging
import threading
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ValidationFailed
from domain.models import Department, GraduateImportJob, School
from forms.base import ActionForm
from webapp.session import current_actor, role_required, run_step

from . import dictionaries, importing, services
from .rules import COLUMNS, row_of

bp = Blueprint("roster", __name__, template_folder="templates", static_folder="static",
               static_url_path="/roster/static")
school = role_required("school")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(data: bytes, filename: str) -> Response:
    from urllib.parse import quote

    resp = Response(data, mimetype=XLSX)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return resp


def start_job(job_id: int) -> None:
    """Run the import in the background: a Celery worker in production; embedded mode has no worker, so a
    thread runs it (synchronously under tests, so they see the result at once)."""
    runtime = g.runtime
    if runtime.settings.celery_eager:
        if current_app.testing:
            importing.run_job(runtime.Session, job_id)
        else:
            threading.Thread(target=importing.run_job, args=(runtime.Session, job_id), daemon=True,
                             name=f"graduate-import-{job_id}").start()
        return
    try:
        runtime.enqueue("gradflow.import_graduates", job_id)
    except Exception:  # noqa: BLE001 - the broker is down: the saved job waits for 继续导入, never a 500
        logging.getLogger(__name__).exception("could not enqueue graduate import %s", job_id)
        importing.mark_not_queued(runtime.Session, job_id)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() and len(value) < 6 else None


def form_choices(school_id: int) -> dict[str, Any]:
    departments = list(g.db.scalars(select(Department.name).where(Department.school_id == school_id)
                                    .order_by(Department.name)))
    return {"columns": COLUMNS, "departments": departments,
            "choices": {key: dictionaries.names(key) for key in dictionaries.LISTS}}


@bp.route("/school/graduates")
@school
def graduates():
    actor = current_actor()
    school_id = services.require_school(actor)
    cohorts = services.cohort_years(g.db, school_id)
    cohort = _int_arg("cohort")
    if cohort is None and "cohort" not in request.args:
        cohort = services.default_cohort(g.db)
    page = _int_arg("page") or 1
    q = request.args.get("q", "")[:50]
    rows, total = services.list_graduates(g.db, actor, q=q, cohort=cohort, page=page)
    return render_template("roster/list.html", graduates=rows, total=total, q=q, cohort=cohort, cohorts=cohorts,
                           page=page, more=page * services.PAGE_SIZE < total, writable=services.may_write(actor),
                           form=ActionForm())


def _save_page(template: str, graduate: Any, save):
    actor = current_actor()
    school_id = services.require_school(actor, write=True)
    form = ActionForm()
    values = {c.key: request.form.get(c.key, "") for c in COLUMNS} if request.method == "POST" else None
    errors: dict[str, list[str]] = {}
    error = None
    if values is not None:
        if not form.validate_on_submit():
            error = _("页面已过期，请刷新后重试")
        else:
            try:
                message, target = run_step(lambda db: save(db, actor, values))
            except ValidationFailed as exc:
                errors, error = exc.details, _(exc.message)
            else:
                flash(message)
                return redirect(target)
    if values is None:
        values = row_of(graduate) if graduate is not None else {
            "school": g.db.get(School, school_id).name,
            "training_mode": "非定向", "archive_in_school": "是", "hukou_in_school": "是"}
    return render_template(template, graduate=graduate, values=values, errors=errors, error=error, form=form,
                           **form_choices(school_id)), (422 if error else 200)


@bp.route("/school/graduates/new", methods=["GET", "POST"])
@school
def add():
    def save(db, actor, values):
        grad = services.add_graduate(db, actor, values)
        return _("已新增毕业生%(name)s（%(cohort)s届）", name=grad.name, cohort=grad.cohort), url_for("roster.graduates", cohort=grad.cohort)

    return _save_page("roster/form.html", None, save)


@bp.route("/school/graduates/<int:graduate_id>/edit", methods=["GET", "POST"])
@school
def edit(graduate_id: int):
    actor = current_actor()
    services.require_school(actor, write=True)
    graduate = services.graduate_of(g.db, actor, graduate_id)

    def save(db, actor, values):
        grad, changed = services.edit_graduate(db, actor, graduate_id, values)
        return (_("已保存%(name)s的基本信息", name=grad.name) if changed else _("基本信息没有变化")), \
            url_for("roster.graduates", cohort=grad.cohort)

    return _save_page("roster/form.html", graduate, save)


@bp.route("/school/graduates/<int:graduate_id>/delete", methods=["POST"])
@school
def delete(graduate_id: int):
    """GRAD-5: delete the graduate's basic info (nothing is physically deleted; history stays)."""
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    graduate = services.graduate_of(g.db, actor, graduate_id)
    name, cohort = graduate.name, graduate.cohort
    result = run_step(lambda db: services.delete_graduate(db, g.runtime.runner, actor, graduate_id))
    ended = len(result["ended_instances"])
    flash(_("已删除%(name)s的基本信息：档案、户口信息已失效", name=name) + (_("，%(ended)s条待审核申请已审核不通过", ended=ended) if ended else ""))
    return redirect(url_for("roster.graduates", cohort=cohort))


@bp.route("/school/graduates/template.xlsx")
@school
def template():
    services.require_school(current_actor())
    return xlsx_response(importing.template_xlsx(), _("毕业生基本信息导入模板.xlsx"))


@bp.route("/school/graduates/import", methods=["GET", "POST"])
@school
def upload():
    actor = current_actor()
    school_id = services.require_school(actor, write=request.method == "POST")
    error = None
    if request.method == "POST":
        form = ActionForm()
        file = request.files.get("file")
        if not form.validate_on_submit():
            error = _("页面已过期，请刷新后重试")
        elif file is None or not file.filename:
            error = _("请选择要上传的 .xlsx 或 .csv 文件")
        else:
            data = file.read(importing.MAX_BYTES + 1)
            try:
                job = run_step(lambda db: importing.create_job(db, actor, file.filename or "", data))
            except ValidationFailed as exc:
                error = _(exc.message)
            else:
                job_id = job.id
                start_job(job_id)
                return redirect(url_for("roster.job", job_id=job_id))
    jobs = list(g.db.scalars(select(GraduateImportJob).where(GraduateImportJob.school_id == school_id)
                             .order_by(GraduateImportJob.id.desc()).limit(10)))
    return render_template("roster/upload.html", jobs=[importing.progress_json(j) | {"created_at": j.created_at}
                                                       for j in jobs],
                           error=error, form=ActionForm(), writable=services.may_write(actor),
                           max_mb=importing.MAX_BYTES // 1024 // 1024, max_rows=importing.MAX_ROWS,
                           columns=COLUMNS), (422 if error else 200)


@bp.route("/school/graduates/import/<int:job_id>")
@school
def job(job_id: int):
    actor = current_actor()
    row = importing.job_of(g.db, actor, job_id)
    return render_template("roster/job.html", job=importing.progress_json(row), form=ActionForm(),
                           writable=services.may_write(actor))


@bp.route("/school/graduates/import/<int:job_id>/progress")
@school
def progress(job_id: int):
    return jsonify(importing.progress_json(importing.job_of(g.db, current_actor(), job_id)))


@bp.route("/school/graduates/import/<int:job_id>/errors.xlsx")
@school
def errors(job_id: int):
    row = importing.job_of(g.db, current_actor(), job_id)
    return xlsx_response(importing.error_report_xlsx(g.db, row), _("导入错误报告_%(job_id)s.xlsx", job_id=job_id))


@bp.route("/school/graduates/import/<int:job_id>/resume", methods=["POST"])
@school
def resume(job_id: int):
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    run_step(lambda db: importing.resume(db, actor, job_id))
    start_job(job_id)
    return redirect(url_for("roster.job", job_id=job_id))
