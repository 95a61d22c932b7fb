"""PRV-1 data-view pages, the read-only record pages they open, and the PRV-2 statistics page with its charts.

ECharts comes from the npm registry (package.json, installed by `make setup`) and is served from node_modules by
this blueprint; the chart code is a static file that reads its data from a data- attribute (no inline script)."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from sqlalchemy import select

from core.errors import Forbidden
from domain.access import MODULE_AREA, POLICY
from domain.graduate_info import current_info
from domain.models import Graduate
from engine.models import ProcessInstance
from webapp import vendor
from webapp.records import record_context
from webapp.session import current_actor, log_refusal, role_required

from . import export, stats, views

STAFF = views.ROLES

bp = Blueprint("statistics", __name__, template_folder="templates", static_folder="static",
               static_url_path="/statistics/static")


def _view(code: str) -> views.DataView:
    try:
        return views.view_for(current_actor(), code)
    except Forbidden:
        log_refusal(f"data view {code} refused")
        raise


def _tabs(actor) -> list[dict[str, Any]]:
    return [{"code": c, "title": views.VIEWS[c].title, "endpoint": f"statistics.{c}"}
            for c in views.DESTINATION_VIEWS if POLICY.may_read_area(actor, views.VIEWS[c].area)]


def list_page(code: str):
    actor = current_actor()
    view = _view(code)
    query = views.parse_query(view, request.args)
    rows, total, capped = views.page(g.db, view, actor, query)
    pages = max(1, -(-total // query.per_page))
    return render_template("statistics/view.html", view=view, rows=rows, total=total, capped=capped, query=query,
                           pages=pages, choices=views.scope_choices(g.db, actor), actor_role=actor.role,
                           tabs=_tabs(actor) if code in views.DESTINATION_VIEWS else [],
                           cohorts=stats.cohorts(g.db), cap=views.COUNT_CAP)


def export_response(code: str) -> Response:
    """The view's rows, filtered and sorted like the list, as one .xlsx (ID numbers masked)."""
    from flask_babel import gettext

    actor = current_actor()
    view = _view(code)
    query = views.parse_query(view, request.args, paged=False)
    path, _n = export.write_xlsx(view, views.stream(g.db, view, actor, query),
                                 [gettext(c.title) for c in view.columns])
    g.db.rollback()  # the read transaction (and a PostgreSQL cursor) ends before the download
    name = f"{code}.xlsx"
    return Response(export.file_chunks(path), mimetype=export.XLSX, direct_passthrough=True,
                    headers={"Content-Disposition": f"attachment; filename={name}"})


for _code in views.VIEWS:
    bp.add_url_rule(f"/data/{_code}", _code, role_required(*STAFF)(lambda code=_code: list_page(code)))
    bp.add_url_rule(f"/data/{_code}/export.xlsx", f"{_code}_export",
                    role_required(*STAFF)(lambda code=_code: export_response(code)))


@bp.route("/data/instances/<int:instance_id>")
@role_required(*STAFF)
def record(instance_id: int):
    """One record and its history, read-only (a province sees its schools' instances, ROLE-1)."""
    actor = current_actor()
    try:
        inst = POLICY.instance(g.db, actor, instance_id)
        POLICY.require_area(actor, POLICY.area_of(inst.process_id))
    except Forbidden:
        log_refusal(f"data record {instance_id} out of scope")
        raise
    graduate = g.db.get(Graduate, inst.graduate_id) if inst.graduate_id else None
    return render_template("statistics/record.html", graduate=graduate, **record_context(g.db, inst))


@bp.route("/data/graduates/<int:graduate_id>/<kind>")
@role_required(*STAFF)
def graduate_info(graduate_id: int, kind: str):
    """A graduate's archive or hukou info (档案/户口信息管理 → 查看) and the applications behind it."""
    actor = current_actor()
    graduate = g.db.get(Graduate, graduate_id)
    try:
        if kind not in ("archive", "hukou"):
            raise Forbidden("页面不存在或无权访问")
        POLICY.require_area(actor, MODULE_AREA[kind])
        if graduate is None or not POLICY.may_see_graduate(actor, graduate):
            raise Forbidden("记录不存在或无权访问")
    except Forbidden:
        log_refusal(f"data graduate {graduate_id} {kind} out of scope")
        raise
    pids = [pid for pid, area in POLICY.areas.items() if area == MODULE_AREA[kind]]
    instances = list(g.db.scalars(select(ProcessInstance).where(ProcessInstance.graduate_id == graduate.id,
                                                                ProcessInstance.process_id.in_(pids))
                                  .order_by(ProcessInstance.id.desc())))
    view = views.VIEWS[kind]
    return render_template("statistics/graduate_info.html", graduate=graduate, kind=kind, view=view,
                           info=current_info(g.db, graduate.id, kind), instances=instances)


@bp.route("/statistics")
@role_required(*STAFF)
def statistics():
    actor = current_actor()
    try:
        module, cohort = stats.parse(g.db, actor, request.args)
    except Forbidden:
        log_refusal("statistics refused")
        raise
    data = stats.table(g.db, actor, module, cohort)
    return render_template("statistics/statistics.html", data=data, modules=stats.readable_modules(actor),
                           module_names=stats.st.MODULE_NAMES, cohorts=stats.cohorts(g.db),
                           chart=json.dumps(stats.chart_data(data), ensure_ascii=False),
                           open_names=stats.OPEN_NAMES)


@bp.route("/statistics/vendor/echarts.min.js")
def echarts():
    """ECharts from node_modules (npm ci, run by make setup/run/test); never a CDN."""
    return vendor.file("echarts.min.js")


@bp.route("/data")
@role_required(*STAFF)
def data_home():
    actor = current_actor()
    for code, view in views.VIEWS.items():
        if POLICY.may_read_area(actor, view.area):
            return redirect(url_for(f"statistics.{code}"))
    raise Forbidden("页面不存在或无权访问")
