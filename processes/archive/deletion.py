"""GRAD-5: the school deletes a graduate's basic information, on its archive page and through /api/v1; the
archive and hukou records become invalid and their open applications end (rules in domain.transfers).

It lives with archive until a basic-info (GRAD-1) module exists."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, url_for

from core.errors import ValidationFailed
from core.timefmt import iso
from domain import transfers
from forms.base import ActionForm
from processes.transfers.api import school_graduate
from processes.transfers.school import scoped_graduate
from webapp.api.openapi import _id, _op
from webapp.session import current_actor, role_required, run_step

PATHS = {
    "/school/graduates/{graduate_id}": {
        "delete": _op("学校删除本校毕业生的基本信息（GRAD-5）：档案、户口信息失效，待审核的档案/户口申请变为审核不通过；"
                      "记录不物理删除", params=[_id("graduate_id")]),
    },
}


def list_context() -> dict[str, Any]:
    """The CSRF-carrying form of the delete buttons on the school's archive list."""
    return {"form": ActionForm()}


def add_routes(school_bp: Blueprint, api_bp: Blueprint) -> None:
    """archive_school.delete (POST /school/graduates/<id>/delete) and archive_api.delete_graduate."""

    @school_bp.route("/school/graduates/<int:graduate_id>/delete", methods=["POST"])
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

    @api_bp.route("/school/graduates/<int:graduate_id>", methods=["DELETE"])
    def delete_graduate(graduate_id: int):
        """GRAD-5: delete a graduate's basic info; archive/hukou records become invalid, open applications end."""
        school_graduate(graduate_id)
        actor = current_actor()
        result = run_step(lambda db: transfers.delete_basic_info(db, g.runtime.runner, actor, graduate_id))
        return jsonify({**result, "deleted_at": iso(result["deleted_at"])})
