"""The data sync (PRV-3) under /api/v1 for the system admin: the same counts, list and retry as /admin/sync."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from core.config import sync_url
from core.errors import Forbidden
from webapp.api.base import api_blueprint
from webapp.api.openapi import _op
from webapp.session import current_actor, log_refusal, run_step

from . import services

bp = api_blueprint("sync_api", __name__)


def _admin() -> None:
    try:
        services.require_admin(current_actor())
    except Forbidden:
        log_refusal("api sync refused")
        raise


@bp.route("/sync")
def listing():
    _admin()
    q = services.parse(request.args)
    result = services.page(g.db, q)
    return jsonify(enabled=bool(sync_url()), url=sync_url() or None, counts=services.counts(g.db),
                   items=[services.row_json(r, r.id in result.blocked) for r in result.rows], total=result.total,
                   page=q.page, per_page=q.per_page)


@bp.route("/sync/<int:message_id>/retry", methods=["POST"])
def retry(message_id: int):
    _admin()
    n = run_step(services.retry, current_actor(), message_id)
    return jsonify(retried=n)


@bp.route("/sync/retry-failed", methods=["POST"])
def retry_failed():
    _admin()
    n = run_step(services.retry, current_actor(), None)
    return jsonify(retried=n)


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


MESSAGE_ID = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "integer"},
              "description": "同步记录 id（即投递时的 Idempotency-Key）"}
PATHS: dict[str, Any] = {
    "/sync": {"get": _op(
        "PRV-3 数据同步（系统管理员）：是否已配置接收地址（GRADFLOW_SYNC_URL）、待发送 / 发送失败 / 已送达的条数，以及同步记录"
        "（最新在前；含最后一次错误、尝试次数、下次尝试时间、是否在等待该毕业生更早的变更）",
        params=[_q("status", "pending 待发送、failed 发送失败（仍按退避重试）、delivered 已送达",
                   {"type": "string", "enum": list(services.STATUSES)}),
                _q("graduate", "毕业生 id，或学号 / 考生号 / 身份证号 / 姓名（精确匹配）"),
                _q("page", "页码，从 1 开始", {"type": "integer", "minimum": 1}),
                _q("per_page", f"每页条数，默认 {services.PER_PAGE}，最多 {services.MAX_PER_PAGE}",
                   {"type": "integer"})])},
    "/sync/{message_id}/retry": {"post": _op("立即重试一条未送达的同步记录（记入设置变更日志 sync_retry）",
                                             params=[MESSAGE_ID])},
    "/sync/retry-failed": {"post": _op("立即重试全部发送失败的同步记录（记入设置变更日志 sync_retry）")},
}
