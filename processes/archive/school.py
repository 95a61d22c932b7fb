"""The school's archive pages: its graduates' archive info, registering it directly (ARC-7), and deleting a
graduate's basic information (GRAD-5), which ends their open archive and hukou applications.

The deletion lives here until a basic-info (GRAD-1) module exists; its rules are in domain.transfers.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from core.errors import Conflict, Forbidden, ValidationFailed
from domain import transfers
from domain.graduate_info import current_info
from domain.models import Graduate, RegisteredInfo, TransferApplication
from domain.transfers import ARCHIVE_KIND as KIND
from engine.services import Actor
from forms.base import ActionForm
from webapp.session import current_actor, log_refusal, role_required, run_step

from .forms import ArchiveFieldsForm
from .pages import info_rows, origin_json, picker

bp = Blueprint("archive_school", __name__, template_folder="templates")
PAGE_SIZE = 50


def scoped_graduate(db, actor: Actor, graduate_id: int) -> Graduate:
    try:
        return transfers.school_graduate(db, actor, graduate_id)
    except Forbidden:
        log_refusal(f"school graduate {graduate_id} out of scope")
        raise


def _overview(db, graduates: list[Graduate]) -> dict[int, dict[str, Any]]:
    """Per graduate: the valid archive record and the open application, in two queries for the page."""
    ids = [grad.id for grad in graduates]
    infos = {r.graduate_id: r for r in db.scalars(select(RegisteredInfo).where(
        RegisteredInfo.graduate_id.in_(ids), RegisteredInfo.kind == KIND.code, RegisteredInfo.active))} if ids else {}
    opened = {a.graduate_id: a for a in db.scalars(select(TransferApplication).where(
        TransferApplication.graduate_id.in_(ids), TransferApplication.kind == KIND.code,
        TransferApplication.open_key.is_not(None)))} if ids else {}
    return {i: {"info": infos.get(i), "open": opened.get(i)} for i in ids}


@bp.route("/school/archive")
@role_required("school")
def graduates():
    """学校：毕业生档案信息 — search by 姓名 or 学号, register directly, delete basic info."""
    actor = current_actor()
    q = (request.args.get("q") or "").strip()[:50]
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and len(page) < 7 else 1
    rows = transfers.school_graduates(g.db, actor, q=q, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    return render_template("archive/school_list.html", graduates=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                           page=number, q=q, overview=_overview(g.db, rows[:PAGE_SIZE]),
                           source_names=transfers.SOURCE_NAMES, form=ActionForm())


@bp.route("/school/archive/<int:graduate_id>", methods=["GET", "POST"])
@role_required("school")
def register(graduate_id: int):
    """ARC-7: the school registers or corrects a graduate's archive info; it is valid at once."""
    actor = current_actor()
    graduate = scoped_graduate(g.db, actor, graduate_id)
    form = ArchiveFieldsForm()
    current = current_info(g.db, graduate.id, KIND.code)
    if request.method == "GET" and current is not None:
        form.fill_from(current.fields)
    error = None
    if form.validate_on_submit():
        clean = form.clean()
        try:
            run_step(lambda db: transfers.register_by_school(db, actor, graduate_id, KIND, clean))
        except (ValidationFailed, Conflict) as exc:
            error = exc.message
        else:
            flash(f"已登记{graduate.name}的档案信息")
            return redirect(url_for("archive_school.graduates", q=graduate.student_no))
    elif request.method == "POST":
        error = form.first_error()
    origin = origin_json(graduate)
    return render_template("archive/school_form.html", form=form, graduate=graduate, error=error,
                           current_rows=info_rows(current.fields if current else None),
                           picker=picker(form.division_code.data), origin=origin,
                           lock=bool(origin) and form.archive_type.data == transfers.BACK_TO_ORIGIN), \
        (422 if error else 200)


@bp.route("/school/graduates/<int:graduate_id>/delete", methods=["POST"])
@role_required("school")
def delete(graduate_id: int):
    """GRAD-5: delete the graduate's basic info (nothing is physically deleted; history stays)."""
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("页面已过期，请刷新后重试")
    actor = current_actor()
    graduate = scoped_graduate(g.db, actor, graduate_id)
    name = graduate.name
    result = run_step(lambda db: transfers.delete_basic_info(db, g.runtime.runner, actor, graduate_id))
    ended = len(result["ended_instances"])
    flash(f"已删除{name}的基本信息：档案、户口信息已失效" + (f"，{ended}条待审核申请已审核不通过" if ended else ""))
    return redirect(url_for("archive_school.graduates"))
