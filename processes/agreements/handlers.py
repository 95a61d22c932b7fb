"""Service-task handlers of the agreement processes (ONL, TRM, OFF, OFT, PAP)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import by_key, remember, utcnow
from core.errors import Conflict, NotFound
from domain import notify
from domain.effective import claim_effective
from domain.graduate_info import register_info
from domain.models import Account, Agreement, Employer, Graduate, Message
from engine.models import ProcessInstance
from engine.runner import props
from engine.services import Handler, StepContext

from . import rules

TIMER_PROCESSES = ("online_signing",)  # the processes of this module with timer events


def agreement_of(ctx: StepContext) -> Agreement:
    row = ctx.cached(("agreement", ctx.instance.id), lambda: by_key(ctx.session, Agreement, "instance_id",
                                                                     ctx.instance.id))
    if row is None:
        raise NotFound("协议不存在")
    return row


def notify_employer(ctx: StepContext, employer_id: int | None, title: str, body: str = "") -> None:
    if employer_id is None:
        return
    if ("employer_accounts", employer_id) in ctx.preloaded:  # a batch loader has the employer in the session
        accounts = ctx.preloaded[("employer_accounts", employer_id)]
        employer = ctx.session.get(Employer, employer_id)
    else:  # one statement for the employer and its accounts (issue 11: two before)
        with ctx.session.no_autoflush:  # as notify_graduate: nothing pending changes who is told
            rows = ctx.session.execute(select(Employer, Account).outerjoin(Account, Account.employer_id == Employer.id)
                                       .where(Employer.id == employer_id).order_by(Account.id)).all()
        employer = rows[0][0] if rows else None
        accounts = [account for _, account in rows if account is not None]
    for account in accounts:
        ctx.session.add(Message(account_id=account.id, title=title, body=body, instance_id=ctx.instance.id))
    if employer is not None and employer.mobile:
        ctx.emit("notify.sms", {"to": employer.mobile, "title": title, "body": body})


def preload_timer_batch(session: Session, instances: Sequence[ProcessInstance],
                        preloaded: dict[tuple[str, Any], Any]) -> None:
    """A batch of timer steps (invitations expiring, ONL-2): their agreements, the employers and the employers'
    accounts in three queries, for agreement_of and notify_employer."""
    ids = [i.id for i in instances if i.process_id in TIMER_PROCESSES]
    if not ids:
        return
    employer_ids: set[int] = set()
    for agreement in session.scalars(select(Agreement).where(Agreement.instance_id.in_(ids))):
        preloaded[("agreement", agreement.instance_id)] = agreement
        if agreement.employer_id is not None:
            employer_ids.add(agreement.employer_id)
    if not employer_ids:
        return
    for employer in session.scalars(select(Employer).where(Employer.id.in_(employer_ids))):
        preloaded[("employer", employer.id)] = employer  # held here, so session.get finds it in the identity map
    accounts: dict[int, list[Account]] = {eid: [] for eid in employer_ids}
    for account in session.scalars(select(Account).where(Account.employer_id.in_(employer_ids))):
        accounts[account.employer_id or 0].append(account)
    for eid, rows in accounts.items():
        preloaded[("employer_accounts", eid)] = rows


def _render_later(ctx: StepContext, agreement: Agreement) -> None:
    ctx.emit("agreement.render_pdf", {"agreement_id": agreement.id})


# -- online signing -----------------------------------------------------------
def invite(ctx: StepContext, data: dict, params: dict):
    deadline = datetime.fromisoformat(data["answer_deadline"]).astimezone(UTC).replace(tzinfo=None)
    agreement = Agreement(graduate_id=ctx.instance.graduate_id, employer_id=ctx.instance.employer_id,
                          cohort=ctx.instance.cohort,
                          instance_id=ctx.instance.id, kind="online", status="invited",
                          fields=dict(data.get("invitation") or {}), answer_deadline=deadline)
    ctx.session.add(agreement)
    remember(ctx.session, agreement, "instance_id")
    rules.open_invitation(ctx.session, agreement)  # ONL-5
    employer = ctx.session.get(Employer, ctx.instance.employer_id)
    if employer is None:
        raise NotFound("用人单位不存在")
    notify.notify_graduate(ctx, f"新的签约邀请：{employer.name}",
                           f"职位：{agreement.fields.get('position', '')}，请在应约截止时间前回应。")  # NOTE-1
    return {"agreement_id": agreement.id}


def accept(ctx: StepContext, data: dict, params: dict):
    agreement = agreement_of(ctx)
    if agreement.answer_deadline and utcnow() > agreement.answer_deadline:
        raise Conflict("已超过应约截止时间，该签约邀请已失效")  # ONL-2
    rules.close_invitation(agreement)
    agreement.status = "accepted"
    # ONL-3, after the row's other changes: its key is written with them, in one UPDATE (a Conflict rolls the
    # whole step back)
    rules.claim_agreement(ctx.session, agreement)
    notify_employer(ctx, agreement.employer_id, f"毕业生已接受签约邀请：{ctx.instance.subject_name}")
    return None


def refuse(ctx: StepContext, data: dict, params: dict):
    agreement = agreement_of(ctx)
    if agreement.answer_deadline and utcnow() > agreement.answer_deadline:
        raise Conflict("已超过应约截止时间，该签约邀请已失效")
    rules.close_invitation(agreement)
    agreement.status = "refused"
    agreement.failure_reason = "学生已拒绝签约"
    notify_employer(ctx, agreement.employer_id, f"毕业生已拒绝签约邀请：{ctx.instance.subject_name}")
    return None


def expire(ctx: StepContext, data: dict, params: dict):
    agreement = agreement_of(ctx)
    rules.close_invitation(agreement)
    agreement.status = "expired"
    agreement.failure_reason = "签约邀请逾期未回应"
    notify_employer(ctx, agreement.employer_id, f"签约邀请已逾期失效：{ctx.instance.subject_name}")
    return None


def sign(ctx: StepContext, data: dict, params: dict):
    """ONL-6 / OFF-4 / PAP-2: signed; the 协议编号 is assigned now (AGR-1)."""
    agreement = agreement_of(ctx)
    if agreement.kind == "paper":
        agreement.fields = dict((data.get("application") or {}).get("fields") or agreement.fields)
    graduate = ctx.session.get(Graduate, agreement.graduate_id)
    assert graduate is not None, "agreement.graduate_id is a foreign key"
    province = graduate.school.province
    agreement.agreement_type = province.agreement_type  # MOD-3, fixed at signing
    claim_effective(ctx.session, agreement.graduate_id, "agreement", agreement.id)  # DST-4
    agreement.agreement_no = rules.next_agreement_no(ctx.session, province.code)
    agreement.status = "signed"
    agreement.signed_at = utcnow()
    if agreement.kind != "paper":
        _render_later(ctx, agreement)
    copy_transfer_info(ctx, agreement, graduate)
    notify_employer(ctx, agreement.employer_id, f"签约完成：{ctx.instance.subject_name}",
                    f"协议编号 {agreement.agreement_no}")
    return {"agreement_no": agreement.agreement_no}


def copy_transfer_info(ctx: StepContext, agreement: Agreement, graduate: Graduate) -> None:
    """ONL-7 / ARC-7: archive and hukou details of an approved agreement go to those modules when open."""
    f = agreement.fields or {}
    parts = {
        "archive": {k: f[k] for k in ("archive_type", "archive_unit", "archive_address", "archive_contact",
                                        "archive_phone", "archive_postcode") if f.get(k)},
        "hukou": {k: f[k] for k in ("hukou_type", "hukou_address") if f.get(k)},
    }
    open_modules = set(graduate.school.open_modules or []) & set(graduate.school.province.enabled_modules or [])
    for kind, fields in parts.items():
        if not fields or kind not in open_modules:
            continue
        if kind == "hukou" and not graduate.hukou_in_school:
            continue  # MOD-5
        register_info(ctx.session, graduate.id, kind, fields, "agreement", agreement.id)


def _fail(ctx: StepContext, data: dict, status: str, default_reason: str) -> Agreement:
    """A review said no: the agreement no longer holds the graduate's one-agreement claim."""
    agreement = agreement_of(ctx)
    rules.release_agreement(agreement)
    agreement.status = status
    agreement.failure_reason = data.get("reason") or default_reason
    return agreement


def reject(ctx: StepContext, data: dict, params: dict):
    agreement = _fail(ctx, data, "rejected", "审核不通过")
    notify_employer(ctx, agreement.employer_id, f"签约审核不通过：{ctx.instance.subject_name}",
                    agreement.failure_reason or "")
    return None


# -- offline signing and paper registration -------------------------------------------
def _upsert_agreement(ctx: StepContext, kind: str, status: str, fields: dict) -> Agreement:
    agreement = by_key(ctx.session, Agreement, "instance_id", ctx.instance.id)
    if agreement is None:
        agreement = Agreement(graduate_id=ctx.instance.graduate_id, instance_id=ctx.instance.id, kind=kind,
                              cohort=ctx.instance.cohort)
        ctx.session.add(agreement)
        remember(ctx.session, agreement, "instance_id")
        ctx.session.flush()
        rules.claim_agreement(ctx.session, agreement)  # ONL-3 applies to every kind of agreement
    agreement.fields = dict(fields)
    agreement.status = status
    ctx.instance.category = fields.get("employer_name", "")[:100]
    return agreement


def offline_submit(ctx: StepContext, data: dict, params: dict):
    _upsert_agreement(ctx, "offline", "agreement_review", (data.get("application") or {}).get("fields") or {})
    return None


def offline_agreement_approved(ctx: StepContext, data: dict, params: dict):
    agreement = agreement_of(ctx)
    agreement.fields = dict((data.get("application") or {}).get("fields") or agreement.fields)
    agreement.status = "agreement_approved"  # OFF-2: the e-agreement can be downloaded
    graduate = ctx.session.get(Graduate, agreement.graduate_id)
    assert graduate is not None, "agreement.graduate_id is a foreign key"
    agreement.agreement_type = graduate.school.province.agreement_type
    _render_later(ctx, agreement)
    return None


def offline_agreement_rejected(ctx: StepContext, data: dict, params: dict):
    _fail(ctx, data, "void", "就业协议审核不通过")
    return None


def offline_submit_stamped(ctx: StepContext, data: dict, params: dict):
    agreement = agreement_of(ctx)
    agreement.attachment_ids = list((data.get("application") or {}).get("stamped_ids") or [])
    agreement.status = "signing_review"
    return None


def offline_signing_rejected(ctx: StepContext, data: dict, params: dict):
    _fail(ctx, data, "void", "签约审核不通过")  # OFF-4: the graduate must fill the agreement again
    return None


def paper_submit(ctx: StepContext, data: dict, params: dict):
    app = data.get("application") or {}
    agreement = _upsert_agreement(ctx, "paper", "review", app.get("fields") or {})
    agreement.attachment_ids = list(app.get("attachment_ids") or [])
    return None


def paper_rejected(ctx: StepContext, data: dict, params: dict):
    _fail(ctx, data, "void", "登记审核不通过")
    return None


HANDLERS: dict[str, Handler] = {
    "agreement.invite": invite,
    "agreement.accept": accept,
    "agreement.refuse": refuse,
    "agreement.expire": expire,
    "agreement.sign": sign,
    "agreement.reject": reject,
    "offline.submit": offline_submit,
    "offline.agreement_approved": offline_agreement_approved,
    "offline.agreement_rejected": offline_agreement_rejected,
    "offline.submit_stamped": offline_submit_stamped,
    "offline.signing_rejected": offline_signing_rejected,
    "paper.submit": paper_submit,
    "paper.rejected": paper_rejected,
}


def mirror_reviewer_edit(ctx: StepContext, task_spec: Any, data: dict) -> None:
    """REV-5: a reviewer's edit of an offline or paper agreement is the agreement's data from then on."""
    if ctx.instance.process_id not in ("offline_signing", "paper_registration"):
        return
    if props(task_spec).get("formKey") != "review":
        return
    fields = (data.get("application") or {}).get("fields")
    agreement = by_key(ctx.session, Agreement, "instance_id", ctx.instance.id)
    if agreement is not None and fields:
        agreement.fields = dict(fields)
