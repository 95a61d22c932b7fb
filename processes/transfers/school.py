"""One kind's school pages (blueprint <code>_school): its graduates' records, found by 姓名 or 学号, and
registering one directly, valid at once (ARC-7; HUK-1 as ARC-7, only for graduates whose hukou moved to the
school, MOD-5)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import Conflict, Forbidden, ValidationFailed
from domain import transfers
from domain.graduate_info import current_info
from domain.models import Graduate, RegisteredInfo, TransferApplication
from engine.services import Actor
from webapp.session import area_required, current_actor, log_refusal, role_required, run_step

from .pages import KindBlueprint, info_rows, origin_json, picker
from .spec import TransferSpec

PAGE_SIZE = 50


def scoped_graduate(db, actor: Actor, graduate_id: int) -> Graduate:
    try:
        return transfers.school_graduate(db, actor, graduate_id)
    except Forbidden:
        log_refusal(f"school graduate {graduate_id} out of scope")
        raise


class TransferSchool:
    """/school/<code> and /school/<code>/<graduate_id>; `list_context` adds to the list page's context (the
    archive list's deletion form)."""

    def __init__(self, spec: TransferSpec, list_context: Callable[[], dict[str, Any]] | None = None) -> None:
        self.spec = spec
        self.kind = spec.kind
        self.list_context = list_context
        self.bp = self._blueprint()

    def _blueprint(self) -> Blueprint:
        bp = KindBlueprint(f"{self.spec.code}_school", self.spec.package, template_folder="templates")
        school = role_required("school")
        area = area_required(self.spec.code)  # ROLE-2: read to list and open, read-write to register (POST)
        bp.add_url_rule(f"/school/{self.spec.code}", "graduates", school(area(self.graduates)))
        bp.add_url_rule(f"/school/{self.spec.code}/<int:graduate_id>", "register", school(area(self.register)),
                        methods=["GET", "POST"])
        return bp

    def _overview(self, db, graduates: list[Graduate]) -> dict[int, dict[str, Any]]:
        """Per graduate: the valid record and the open application, in two queries for the page."""
        ids = [grad.id for grad in graduates]
        infos = {r.graduate_id: r for r in db.scalars(select(RegisteredInfo).where(
            RegisteredInfo.graduate_id.in_(ids), RegisteredInfo.kind == self.kind.code,
            RegisteredInfo.active))} if ids else {}
        opened = {a.graduate_id: a for a in db.scalars(select(TransferApplication).where(
            TransferApplication.graduate_id.in_(ids), TransferApplication.kind == self.kind.code,
            TransferApplication.open_key.is_not(None)))} if ids else {}
        return {i: {"info": infos.get(i), "open": opened.get(i)} for i in ids}

    def graduates(self):
        """学校：毕业生档案信息 / 户口信息 — search by 姓名 or 学号 (hukou: only those whose hukou moved here)."""
        actor = current_actor()
        q = (request.args.get("q") or "").strip()[:50]
        page = request.args.get("page", "1")
        number = int(page) if page.isdigit() and len(page) < 7 else 1
        rows = transfers.school_graduates(g.db, actor, q=q, only_hukou=self.kind.hukou_only, limit=PAGE_SIZE + 1,
                                          offset=(number - 1) * PAGE_SIZE)
        extra = self.list_context() if self.list_context is not None else {}
        shown = rows[:PAGE_SIZE]
        return render_template(self.spec.school_list_template, transfer_spec=self.spec, graduates=shown,
                               more=len(rows) > PAGE_SIZE, page=number, q=q, overview=self._overview(g.db, shown),
                               source_names=transfers.SOURCE_NAMES, **extra)

    def register(self, graduate_id: int):
        """ARC-7: the school registers or corrects a graduate's record; it is valid at once."""
        actor = current_actor()
        graduate = scoped_graduate(g.db, actor, graduate_id)
        form = self.spec.fields_form()
        current = current_info(g.db, graduate.id, self.kind.code)
        if request.method == "GET" and current is not None:
            form.fill_from(current.fields)
        if self.kind.hukou_only and not graduate.hukou_in_school:  # MOD-5
            return render_template("error.html", message=_("该毕业生户口未转入学校（户口是否转入学校：否），不能登记%(title)s", title=self.kind.title)), 409
        error = None
        if form.validate_on_submit():
            clean = form.clean()
            try:
                run_step(lambda db: transfers.register_by_school(db, actor, graduate_id, self.kind, clean))
            except (ValidationFailed, Conflict) as exc:
                error = _(exc.message)
            else:
                flash(_("已登记%(name)s的%(title)s", name=graduate.name, title=self.kind.title))
                return redirect(url_for(self.spec.school_endpoint("graduates"), q=graduate.student_no))
        elif request.method == "POST":
            error = form.first_error()
        origin = origin_json(graduate)
        return render_template("transfers/school_form.html", transfer_spec=self.spec, form=form, graduate=graduate,
                               error=error, current_rows=info_rows(self.kind, current.fields if current else None),
                               picker=picker(form.division_code.data), origin=origin,
                               lock=bool(origin) and form.transfer_type.data == transfers.BACK_TO_ORIGIN), \
            (422 if error else 200)
