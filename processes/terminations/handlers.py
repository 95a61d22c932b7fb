"""Service-task handlers of the termination processes (TRM online, OFT offline)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import utcnow
from core.errors import Conflict, NotFound
from domain import notify
from domain.effective import release_effective
from domain.models import Agreement, Employer, Termination
from engine.models import ProcessInstance
from engine.services import Handler, StepContext
from processes.agreements import rules
from processes.agreements.handlers import notify_employer

Data = dict[str, Any]


def termination_of(ctx: StepContext) -> Termination:
    row = ctx.session.scalar(select(Termination).where(Termination.instance_id == ctx.instance.id))
    if row is None:
        raise NotFound("解约申请不存在")
    return row


def termination_open(ctx: StepContext, data: dict, params: dict):
    """TRM-1: only an online-signed agreement; TRM-4: one at a time."""
    info = data.get("termination") or {}
    agreement = ctx.session.get(Agreement, info.get("agreement_id"))
    if agreement is None or agreement.kind != "online" or agreement.status != "signed":
        raise Conflict("只有线上签约且已生效的协议才能线上解约")
    termination = Termination(agreement_id=agreement.id, instance_id=ctx.instance.id, kind="online",
                              initiator=info.get("initiator", "graduate"), reason=info.get("reason", ""),
                              explanation=info.get("explanation", ""))
    ctx.session.add(termination)
    rules.open_termination(ctx.session, termination)
    title = f"解约申请：{ctx.instance.subject_name}"
    if termination.initiator == "employer":
        employer = ctx.session.get(Employer, agreement.employer_id)
        if employer is None:
            raise NotFound("用人单位不存在")
        notify.notify_graduate(ctx, f"用人单位发起解约申请：{employer.name}", info.get("explanation", ""))  # NOTE-1
    else:
        notify_employer(ctx, agreement.employer_id, title, info.get("explanation", ""))
    return {"termination_id": termination.id}


def termination_submit_offline(ctx: StepContext, data: dict, params: dict):
    """OFT-1: for an agreement signed offline or registered from paper."""
    app = data.get("application") or {}
    termination = ctx.session.scalar(select(Termination).where(Termination.instance_id == ctx.instance.id))
    if termination is None:
        agreement = ctx.session.get(Agreement, app.get("agreement_id"))
        if agreement is None or agreement.kind not in {"offline", "paper"} or agreement.status != "signed":
            raise Conflict("只有线下签约或已登记的纸质协议才能申请线下解约")
        termination = Termination(agreement_id=agreement.id, instance_id=ctx.instance.id, kind="offline",
                                  initiator="graduate", reason="", explanation="")
        ctx.session.add(termination)
        rules.open_termination(ctx.session, termination)
    termination.reason = app.get("reason", "")
    termination.explanation = app.get("explanation", "")
    termination.attachment_ids = list(app.get("attachment_ids") or [])
    termination.status = "open"
    return None


def termination_refuse(ctx: StepContext, data: dict, params: dict):
    termination = termination_of(ctx)
    termination.status = "refused"
    termination.open_key = None
    return None


def termination_approve(ctx: StepContext, data: dict, params: dict):
    """TRM-3 / OFT-2: terminated; the graduate may sign again or file another destination."""
    termination = termination_of(ctx)
    agreement = ctx.session.get(Agreement, termination.agreement_id)
    assert agreement is not None, "termination.agreement_id is a foreign key"
    agreement.status = "terminated"
    agreement.terminated_at = utcnow()
    rules.release_agreement(agreement)
    release_effective(ctx.session, agreement.graduate_id, "agreement", agreement.id)
    termination.status = "approved"
    termination.open_key = None
    signing = ctx.session.get(ProcessInstance, agreement.instance_id)
    if signing is not None:
        signing.status_label = "已解约"  # the signing's record shows the agreement's end
    notify_employer(ctx, agreement.employer_id, f"解约完成：{ctx.instance.subject_name}")
    return None


def termination_reject(ctx: StepContext, data: dict, params: dict):
    termination = termination_of(ctx)
    termination.status = "rejected"  # the agreement stays valid
    termination.open_key = None
    return None


HANDLERS: dict[str, Handler] = {
    "termination.open": termination_open,
    "termination.submit_offline": termination_submit_offline,
    "termination.refuse": termination_refuse,
    "termination.approve": termination_approve,
    "termination.reject": termination_reject,
}
