"""The process designer's pages, for admins only (role_required("admin") on every view, as webapp.admin).

Reading: the library (every process, its versions, hashes, deploy times, instance counts), a version with its
diagram and latest instances, the diff of two versions. Writing: validate and deploy the XML the modeler saves
(JSON POST, CSRF token in the X-CSRFToken header, checked by Flask-WTF's CSRFProtect) or a .bpmn file uploaded
with the form; both go through engine.validate.check_files, the checks `gradflow processes validate` runs."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from core.errors import NotFound
from engine.validate import MAX_FILE_BYTES, Problem, errors
from webapp.designer import library
from webapp.session import current_actor, role_required, run_step

bp = Blueprint("designer", __name__, url_prefix="/designer")
log = logging.getLogger(__name__)


@bp.context_processor
def _names() -> dict[str, Any]:
    return {"status_names": library.STATUS_NAMES}


class UploadForm(FlaskForm):
    bpmn = FileField("BPMN 文件", validators=[FileRequired(message="请选择 .bpmn 文件")])


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "element_id": p.element_id, "message": p.message, "rule": p.rule, "warning": p.warning}


def _version_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "process_id": row.process_id, "content_hash": row.content_hash,
            "url": url_for("designer.version", version_id=row.id)}


@bp.route("/")
@role_required("admin")
def index():
    return render_template("designer/library.html", processes=library.library(g.db), form=UploadForm(),
                           statuses=library.STATUSES, max_kb=MAX_FILE_BYTES // 1000)


def _version_context(version_id: int) -> dict[str, Any]:
    row = library.version(g.db, version_id)
    proc = library.process_row(g.db, row.process_id)
    this = next(v for v in proc.versions if v.id == row.id)
    return {"row": row, "proc": proc, "this": this, "own_file": library.own_file(row)}


@bp.route("/versions/<int:version_id>")
@role_required("admin")
def version(version_id: int):
    ctx = _version_context(version_id)
    return render_template("designer/version.html", instances=library.recent_instances(g.db, version_id),
                           statuses=library.STATUSES, **ctx)


@bp.route("/versions/<int:version_id>/file")
@role_required("admin")
def version_file(version_id: int):
    row = library.version(g.db, version_id)
    name = request.args.get("name") or library.own_file(row)
    if name not in row.files:
        raise NotFound("文件不存在")
    # text/plain with nosniff: the XML is data for the diagram's script, never a document the browser renders
    resp = Response(row.files[name], mimetype="text/plain")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=3600"  # a version row never changes
    return resp


@bp.route("/diff")
@role_required("admin")
def diff():
    try:
        old_id, new_id = int(request.args.get("from", "")), int(request.args.get("to", ""))
    except ValueError:
        raise NotFound("请选择要比较的两个版本") from None
    old_row, new_row = library.version(g.db, old_id), library.version(g.db, new_id)
    if old_row.process_id != new_row.process_id:
        raise NotFound("只能比较同一流程的两个版本")
    proc = library.process_row(g.db, old_row.process_id)
    numbers = {v.id: v.number for v in proc.versions}
    result = library.diff(g.runtime, g.db, old_id, new_id)
    return render_template("designer/diff.html", proc=proc, old=old_row, new=new_row, numbers=numbers, d=result)


@bp.route("/versions/<int:version_id>/edit")
@role_required("admin")
def edit(version_id: int):
    ctx = _version_context(version_id)
    return render_template("designer/modeler.html", **ctx)


def _posted() -> tuple[str, str]:
    if (request.content_length or 0) > MAX_FILE_BYTES + 10_000:
        return "", ""
    body = request.get_json(silent=True) or {}
    return str(body.get("name") or ""), str(body.get("xml") or "")


@bp.route("/validate", methods=["POST"])
@role_required("admin")
def validate():
    name, xml = _posted()
    problems = library.validate(g.runtime, name, xml) if xml else [Problem(name or "-", "", _("文件为空或过大"))]
    return jsonify(ok=not errors(problems), problems=[_problem_json(p) for p in problems])


def _deploy(name: str, xml: str) -> tuple[list[Problem], list[Any]]:
    actor = current_actor()
    problems = library.validate(g.runtime, name, xml)  # outside the step: node and the parser take a while
    if errors(problems):
        return problems, []
    rows = run_step(lambda db: library.store(g.runtime, db, name, xml))
    if rows:
        log.info("designer deploy by %s (#%s): %s", actor.name, actor.id,
                 ", ".join(f"{r.process_id}#{r.id} {r.content_hash[:12]}" for r in rows))
    return problems, rows


@bp.route("/deploy", methods=["POST"])
@role_required("admin")
def deploy():
    name, xml = _posted()
    if not xml:
        return jsonify(ok=False, problems=[_problem_json(Problem(name or "-", "", _("文件为空或过大")))]), 400
    problems, rows = _deploy(name, xml)
    failed = errors(problems)
    return jsonify(ok=not failed, problems=[_problem_json(p) for p in problems],
                   versions=[_version_json(r) for r in rows]), (422 if failed else 200)


@bp.route("/upload", methods=["POST"])
@role_required("admin")
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        for message in form.bpmn.errors:
            flash(_(message), "error")
        return redirect(url_for("designer.index"))
    storage = form.bpmn.data
    data = storage.read(MAX_FILE_BYTES + 1)
    name = (storage.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    try:
        text = data.decode("utf-8") if len(data) <= MAX_FILE_BYTES else ""
    except UnicodeDecodeError:
        text = ""
    if not text:
        flash(_("文件须为不超过 %(kb)s kB 的 UTF-8 文本", kb=MAX_FILE_BYTES // 1000), "error")
        return redirect(url_for("designer.index"))
    problems, rows = _deploy(name, text)
    failed = errors(problems)
    for p in problems:
        flash(str(p), "error" if not p.warning else "notice")
    if failed:
        flash(_("校验未通过，未部署：%(n)s 个问题", n=len(failed)), "error")
    elif rows:
        flash(_("已部署新版本：%(v)s", v="、".join(f"{r.process_id} #{r.id}" for r in rows)), "notice")
    else:
        flash(_("内容与已部署的版本相同，没有新版本"), "notice")
    return redirect(url_for("designer.index"))
