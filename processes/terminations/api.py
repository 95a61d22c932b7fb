"""Terminations through /api/v1: start one on an agreement (TRM online, OFT with the letter), revise the
letter, answer the other party's request; bodies validated by the page forms."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify
from sqlalchemy import select

from core.errors import Conflict, Forbidden
from domain.models import Graduate, Termination
from engine.models import ProcessInstance, WorkItem
from forms.describe import describe
from processes.agreements.api import (
    attachment_ids,
    graduate_actor,
    payload,
    scoped_agreement,
    termination_json,
    valid,
)
from processes.agreements.forms import AnswerForm
from webapp.api.base import api_blueprint, body
from webapp.api.openapi import _id, _op, _str
from webapp.session import current_actor, run_step

from . import services
from .forms import TerminationForm, TerminationLetterForm

bp = api_blueprint("terminations_api", __name__)


# -- terminations (TRM online, OFT offline) -------------------------------------------------
@bp.route("/agreements/<int:agreement_id>/terminations", methods=["POST"])
def create_termination(agreement_id: int):
    actor = current_actor()
    agreement = scoped_agreement(agreement_id)
    if actor.role not in {"Graduate", "Employer"}:
        raise Forbidden("只有毕业生或用人单位可以申请解约")
    data = body()
    runner = g.runtime.runner
    if agreement.kind == "online":
        if agreement.status != "signed":
            raise Conflict("只有线上签约且已生效的协议才能线上解约")  # TRM-1
        clean = valid(TerminationForm.from_json(data)).clean()
        inst = run_step(lambda db: services.start_online_termination(db, runner, actor, agreement_id, clean))
    else:
        if actor.role != "Graduate":
            raise Forbidden("协议不存在或无权访问")
        if agreement.status != "signed":
            raise Conflict("只有线下签约或已登记的纸质协议才能申请线下解约")  # OFT-1
        form = valid(TerminationLetterForm.from_json(data))
        ids = attachment_ids(form, required="请上传解约函等材料图片")
        clean, graduate_id = form.clean(), actor.graduate_id
        inst = run_step(lambda db: services.submit_offline_termination(
            db, runner, actor, db.get(Graduate, graduate_id), agreement_id, clean, ids))
    return jsonify(payload(inst.id)), 201


def _complete_letter(item: WorkItem, data: dict) -> ProcessInstance:
    actor = graduate_actor()
    form = valid(TerminationLetterForm.from_json(data))
    ids = attachment_ids(form, required="请上传解约函等材料图片")
    application = g.runtime.runner.task_data(g.db, item).get("application") or {}
    agreement_id = application.get("agreement_id")
    if not agreement_id:
        raise Conflict("该解约申请缺少协议信息，请重新发起")
    clean, graduate_id = form.clean(), actor.graduate_id
    return run_step(lambda db: services.submit_offline_termination(
        db, g.runtime.runner, actor, db.get(Graduate, graduate_id), agreement_id, clean, ids, work_item_id=item.id))


def _complete_answer(item: WorkItem, data: dict[str, Any]) -> ProcessInstance:
    """TRM-2: the other side accepts or refuses."""
    form = valid(AnswerForm.from_json(data))
    actor = current_actor()
    return run_step(lambda db: services.answer_termination(db, g.runtime.runner, actor, item.instance_id,
                                                           form.answer.data))


def instance_extras(db, instance: ProcessInstance) -> dict[str, Any]:
    """Added to GET /instances/<id> and every step answer: the termination behind it."""
    termination = db.scalar(select(Termination).where(Termination.instance_id == instance.id))
    if termination is None:
        return {"termination": None}
    return {"termination": {**termination_json(termination), "agreement_id": termination.agreement_id}}


COMPLETERS = {"termination_letter": _complete_letter, "termination_answer": _complete_answer}
FIELDS = {"termination_letter": lambda: describe(TerminationLetterForm, required=("attachment_ids",)),
          "termination_answer": lambda: describe(AnswerForm)}
ITEM_DATA = {"termination_answer": lambda data: {"termination": data.get("termination"),
                                                 "initiator": data.get("initiator")}}

TERMINATION = {"reason": _str(description="解约原因代码（字典，见待办表单字段的 choices）"),
               "explanation": _str(200, description="解约说明")}
IDS = {"type": "array", "items": {"type": "integer"}, "maxItems": 3,
       "description": "先用 POST /attachments 上传 JPG/PNG 图片，再填写返回的编号"}
SCHEMAS = {"Termination": {"type": "object", "required": ["reason", "explanation"],
                           "description": "线上签约的协议：reason/explanation（TRM-1）；线下或纸质协议另需 attachment_ids"
                                          "（解约函，OFT-1）",
                           "properties": {**TERMINATION, "attachment_ids": IDS}}}
PATHS = {"/agreements/{agreement_id}/terminations": {"post": _op(
    "申请解约：线上协议走线上解约（TRM），线下/纸质协议走线下解约（OFT）", body="Termination", ok="201",
    params=[_id("agreement_id")])}}
