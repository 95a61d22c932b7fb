"""PRV-1 data views and PRV-2 statistics under /api/v1 (token or session), with the same filters as the pages."""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from core.errors import Forbidden
from webapp.api.base import api_blueprint
from webapp.api.openapi import _op
from webapp.session import current_actor, log_refusal

from . import export, stats, views

bp = api_blueprint("statistics_api", __name__)


def _view(code: str) -> views.DataView:
    try:
        return views.view_for(current_actor(), code)
    except Forbidden:
        log_refusal(f"api data view {code} refused")
        raise


@bp.route("/data/<view>")
def data_view(view: str):
    actor = current_actor()
    dv = _view(view)
    query = views.parse_query(dv, request.args)
    rows, total, capped = views.page(g.db, dv, actor, query)
    return jsonify(view=dv.code, title=dv.title, columns=[{"key": c.key, "title": c.title} for c in dv.columns],
                   statuses=dv.statuses, items=rows, total=total, total_capped=capped, page=query.page,
                   per_page=query.per_page, pages=max(1, -(-total // query.per_page)), sort=query.sort,
                   order=query.order)


@bp.route("/data/<view>/export")
def data_export(view: str) -> Response:
    actor = current_actor()
    dv = _view(view)
    query = views.parse_query(dv, request.args, paged=False)
    path, _n = export.write_xlsx(dv, views.stream(g.db, dv, actor, query), [c.title for c in dv.columns])
    g.db.rollback()
    return Response(export.file_chunks(path), mimetype=export.XLSX, direct_passthrough=True,
                    headers={"Content-Disposition": f"attachment; filename={dv.code}.xlsx"})


@bp.route("/statistics")
def statistics():
    actor = current_actor()
    try:
        module, cohort = stats.parse(g.db, actor, request.args)
    except Forbidden:
        log_refusal("api statistics refused")
        raise
    return jsonify(stats.table(g.db, actor, module, cohort))


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


VIEW_PARAM = {"name": "view", "in": "path", "required": True,
              "schema": {"type": "string", "enum": list(views.VIEWS)},
              "description": "signing 在线签约管理（线上与线下签约）, paper 补登管理, terminations 解约管理, "
                             "destinations 去向登记管理, archive 档案信息管理, hukou 户口信息管理（仅户口已转入学校的毕业生）"}
FILTERS = [
    _q("school", "院校 id（省级用户）", {"type": "integer"}), _q("department", "院系 id", {"type": "integer"}),
    _q("status", "状态代码（见响应的 statuses）"), _q("q", "姓名或学号（精确匹配）"),
    _q("from", "起始日期 YYYY-MM-DD（北京时间，含）", {"type": "string", "format": "date"}),
    _q("to", "截止日期 YYYY-MM-DD（北京时间，含）", {"type": "string", "format": "date"}),
    _q("cohort", "届别，如 2026", {"type": "integer"}),
    _q("sort", "排序字段：created（默认）、name、student_no、school、department，及各视图的 agreement_no / status / "
               "dest_type / exam_no / origin；未知字段返回 422"),
    _q("order", "asc 或 desc（默认）", {"type": "string", "enum": ["asc", "desc"]}),
]
PAGING = [_q("page", f"页码，从 1 开始；最多翻到第 {views.COUNT_CAP} 条", {"type": "integer", "minimum": 1}),
          _q("per_page", f"每页条数，默认 {views.PER_PAGE}，最多 {views.MAX_PER_PAGE}", {"type": "integer"})]

PATHS: dict[str, Any] = {
    "/data/{view}": {"get": _op(
        "PRV-1 数据查看（只读）：省级用户看本省各校、学校看本校、院系看本院系；须有该模块的查看权限（ROLE-2）。身份证号已脱敏；"
        f"total 至多 {views.COUNT_CAP}，total_capped 为 true 表示更多", params=[VIEW_PARAM, *FILTERS, *PAGING])},
    "/data/{view}/export": {"get": {**_op("PRV-1 导出：筛选与排序同列表，全部匹配行（至多 100 万行）的 .xlsx，身份证号已脱敏",
                                          params=[VIEW_PARAM, *FILTERS]),
                                    "responses": {**_op("")["responses"], "200": {
                                        "description": ".xlsx", "content": {export.XLSX: {"schema": {
                                            "type": "string", "format": "binary"}}}}}}},
    "/statistics": {"get": _op(
        "PRV-2 数据统计：省级用户按院校（含开启情况）、学校与院系按院系；总人数、已登记、未登记（含审核中）、审核中，"
        "以及毕业去向类型分布（destination 模块）。计数在每次办理的事务中维护",
        params=[_q("module", "destination（毕业去向登记与网签，默认）、archive（档案信息登记）、hukou（户口信息登记）",
                   {"type": "string", "enum": ["destination", "archive", "hukou"]}),
                _q("cohort", "届别（四位年份），all 为全部；默认最新一届")])},
}
