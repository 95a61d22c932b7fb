"""Agreement services the pages and the API call: employers, invitations, answers,
offline/paper agreements, stamped uploads (with the employer's assist link) and terminations.
Each runs inside the caller's transaction."""
from __future__ import annotations

import copy
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from core.db import by_key, remember, utcnow
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.access import POLICY
from domain.accounts import hash_password
from domain.attachments import check_attachments, store_images
from domain.models import (
    WITH_SCHOOL,
    Account,
    Agreement,
    AssistLink,
    Employer,
    Graduate,
    Termination,
)
from domain.schools import module_closed_reason
from engine.models import OutboxMessage, ProcessInstance, WorkItem
from engine.runner import Runner
from engine.services import Actor

from . import rules

ASSIST_LINK_DAYS = 7
TITLES = {
    "online_signing": "线上签约",
    "offline_signing": "线下签约",
    "paper_registration": "已签就业协议登记",
}


def scope_of(graduate: Graduate, employer_id: int | None = None) -> dict:
    return {"graduate_id": graduate.id, "school_id": graduate.school_id, "department_id": graduate.department_id,
            "employer_id": employer_id, "cohort": graduate.cohort}


def open_item(session: Session, instance_id: int, form_key: str) -> WorkItem:
    item = session.scalar(select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open",
                                                 WorkItem.form_key == form_key))
    if item is None:
        raise Conflict("当前状态不能执行此操作")
    return item


MAX_IMAGES = 3  # IMG-1


def check_images(session: Session, graduate: Graduate, ids: list[int], what: str) -> None:
    if not ids:
        raise ValidationFailed(_("请上传%(what)s图片", what=_(what)), details={"images": ["请上传图片"]})
    if len(ids) > MAX_IMAGES:
        raise ValidationFailed(_("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES), details={"images": [f"最多上传{MAX_IMAGES}张图片"]})
    check_attachments(session, graduate.id, ids)


def _signable(graduate: Graduate) -> None:
    if graduate.directed:
        raise Conflict("定向/委培毕业生不能网上签约")  # GRAD-6
    reason = module_closed_reason(graduate)
    if reason:
        raise Conflict(reason)


# -- employers --------------------------------------------------------------------
def register_employer(session: Session, clean: dict, username: str, password: str) -> Account:
    if session.scalar(select(Employer).where(Employer.credit_code == clean["credit_code"])) is not None:
        raise Conflict("该统一社会信用代码已注册")
    if session.scalar(select(Account).where(Account.username == username)) is not None:
        raise ValidationFailed("登录名已被使用", details={"username": ["登录名已被使用"]})
    employer = Employer(name=clean["employer_name"], credit_code=clean["credit_code"], nature=clean["nature"],
                        industry=clean["industry"], division_code=clean["division_code"],
                        address=clean["employer_address"], contact=clean["contact"], phone=clean.get("landline"),
                        mobile=clean["mobile"], email=clean.get("email") or None)
    session.add(employer)
    session.flush()
    account = Account(username=username, password_hash=hash_password(password), display_name=employer.name,
                      role="employer", employer_id=employer.id)
    session.add(account)
    session.flush()
    return account


def find_graduate(session: Session, name: str, id_number: str | None, exam_no: str | None) -> Graduate | None:
    """Exact match on name plus 身份证号 or 考生号; never a list (ONL-1).

    Always one query of the same shape (name and number in one statement, run even when no number was
    given, then matching nothing), so how long a miss takes says nothing about whether the name exists
    (issue 8); guessing numbers is stopped by the rate limits on the routes that call this.
    """
    number = (id_number or "").strip().upper()
    column, value = (Graduate.id_number, number) if number else (Graduate.exam_no, (exam_no or "").strip())
    query = select(Graduate).where(Graduate.name == name.strip(), column == value, literal(bool(value)),
                                   Graduate.deleted_at.is_(None))
    return session.scalar(query.order_by(Graduate.cohort.desc()).limit(1).options(*WITH_SCHOOL))


# -- online signing (ONL) -----------------------------------------------------------
def invite(session: Session, runner: Runner, actor: Actor, graduate_id: int, terms: dict, answer_days: int,
           *, now: datetime | None = None) -> ProcessInstance:
    if actor.role != "Employer" or actor.employer_id is None:
        raise Forbidden("只有用人单位可以发起签约邀请")
    graduate = session.get(Graduate, graduate_id)
    if graduate is None or graduate.deleted_at is not None:
        raise NotFound("未找到该毕业生")
    _signable(graduate)
    deadline = (now or datetime.now(UTC)) + timedelta(days=answer_days)
    employer = session.get(Employer, actor.employer_id)
    if employer is None:
        raise NotFound("用人单位不存在")
    return runner.start(
        session, "online_signing", actor, scope=scope_of(graduate, actor.employer_id),
        data={"invitation": terms, "answer_deadline": deadline.isoformat(), "review_levels": graduate.school.review_levels,
              "employer_name": employer.name},
        title=TITLES["online_signing"], category=employer.name[:100], subject_name=graduate.name,
        subject_no=graduate.student_no,
    )


def answer_invitation(session: Session, runner: Runner, actor: Actor, instance_id: int, answer: str,
                      item: WorkItem | None = None) -> ProcessInstance:
    """ONL-2: accept or refuse before the deadline. `item`: the open answer item, when the caller has just read
    it in this transaction (the API; the runner still completes it only while it is open)."""
    instance = POLICY.instance(session, actor, instance_id)
    if actor.role != "Graduate":
        raise Forbidden("只有毕业生本人可以回应签约邀请")
    if answer not in {"accept", "refuse"}:
        raise ValidationFailed("请选择接受或拒绝")
    if item is None or item.instance_id != instance.id or item.form_key != "invitation_answer" \
            or item.state != "open":
        item = open_item(session, instance.id, "invitation_answer")
    reason = view_only_reason(session, instance)
    if reason:
        raise Conflict(reason)  # ONL-3: neither accept nor refuse, as on the page
    return runner.complete(session, item.id, actor, {"answer": answer}, decision=answer)


def view_only_reason(session: Session, instance: ProcessInstance) -> str | None:
    """ONL-3: once another agreement is accepted, under review or signed (or another destination is
    effective), every other invitation is view-only."""
    found = session.execute(select(Agreement, *rules.held_elsewhere(Agreement.graduate_id, Agreement.id))
                            .where(Agreement.instance_id == instance.id)).first()  # one statement (issue 11)
    if found is None:
        return None
    remember(session, found.Agreement, "instance_id")  # the step and its answer read it again
    if found.other_held:
        return "你已接受或签订了一份就业协议，其他单位的签约邀请只能查看，不能操作。"
    if found.effective:
        return "你已有生效的毕业去向，如需签约请先作废该去向。"
    rules.found_free(session, found.Agreement)
    return None


# -- offline signing (OFF), paper registration (PAP), offline termination (OFT) -----------
def start_form_process(session, runner, actor, graduate, process_id, data, category="",
                        title: str | None = None, submit: tuple[str, dict] | None = None) -> ProcessInstance:
    if actor.graduate_id != graduate.id:
        raise Forbidden("无权为其他毕业生办理")
    if graduate.confirmed_at is None:
        raise Conflict("请先核对基本信息并点击“信息确认无误，进入系统”")
    return runner.start(session, process_id, actor, scope=scope_of(graduate), data=data, title=title or TITLES[process_id],
                        category=category[:100], subject_name=graduate.name, subject_no=graduate.student_no,
                        submit=submit)


def _offline_instance(session, runner, actor, graduate, fields, instance_id) -> ProcessInstance:
    if instance_id is not None:
        return POLICY.instance(session, actor, instance_id)
    _signable(graduate)
    return start_form_process(session, runner, actor, graduate, "offline_signing",
                               {"review_levels": graduate.school.review_levels}, fields.get("employer_name", ""))


def save_offline_draft(session: Session, runner: Runner, actor: Actor, graduate: Graduate, fields: dict,
                       instance_id: int | None = None) -> ProcessInstance:
    """OFF-1: a draft is kept on the open task without submitting it."""
    instance = _offline_instance(session, runner, actor, graduate, fields, instance_id)
    item = open_item(session, instance.id, "offline_agreement")
    return runner.save_draft(session, item.id, actor, {"draft": {"fields": fields}})


def submit_offline(session: Session, runner: Runner, actor: Actor, graduate: Graduate, fields: dict,
                   instance_id: int | None = None) -> ProcessInstance:
    instance = _offline_instance(session, runner, actor, graduate, fields, instance_id)
    item = open_item(session, instance.id, "offline_agreement")
    return runner.complete(session, item.id, actor, {"application": {"fields": fields}, "draft": None},
                           audit_action="submit")


def upload_stamped(session: Session, runner: Runner, actor: Actor, instance_id: int,
                   attachment_ids: list[int]) -> ProcessInstance:
    """OFF-3 本人回传协议书."""
    instance = POLICY.instance(session, actor, instance_id)
    graduate = session.get(Graduate, instance.graduate_id)
    if graduate is None:
        raise NotFound("未找到该毕业生")
    check_images(session, graduate, list(attachment_ids), "盖章的就业协议书")
    item = open_item(session, instance.id, "stamped_upload")

    def data(task):
        application = copy.deepcopy(task.data.get("application") or {})
        application["stamped_ids"] = list(attachment_ids)
        return {"application": application}

    return runner.complete(session, item.id, actor, data, audit_action="submit")


def create_assist_link(session: Session, actor: Actor, instance_id: int, *, days: int = ASSIST_LINK_DAYS,
                       base_url: str = "") -> str:
    """OFF-3 用人单位协助回传: a one-time link, sent to the employer's mobile through the outbox."""
    instance = POLICY.instance(session, actor, instance_id)
    if actor.role != "Graduate":
        raise Forbidden("只有毕业生本人可以发送协助回传链接")
    item = open_item(session, instance.id, "stamped_upload")
    agreement = by_key(session, Agreement, "instance_id", instance.id)
    if agreement is None:
        raise NotFound("协议不存在")
    token = secrets.token_urlsafe(24)
    for older in session.scalars(select(AssistLink).where(AssistLink.agreement_id == agreement.id,
                                                          AssistLink.used_at.is_(None))):
        older.expires_at = min(older.expires_at, utcnow())  # only the newest link works
    session.add(AssistLink(token_hash=hashlib.sha256(token.encode()).hexdigest(), agreement_id=agreement.id,
                           work_item_id=item.id, expires_at=utcnow() + timedelta(days=days)))
    mobile = (agreement.fields or {}).get("mobile")
    if mobile:
        session.add(OutboxMessage(kind="notify.sms", instance_id=instance.id, payload={
            "to": mobile, "title": "请协助回传就业协议书",
            "body": f"毕业生{instance.subject_name}请贵单位下载、盖章并回传就业协议书：{base_url}/assist/{token}"}))
    session.flush()
    return token


def assist_link(session: Session, token: str) -> AssistLink:
    link = session.scalar(select(AssistLink).where(
        AssistLink.token_hash == hashlib.sha256((token or "").encode()).hexdigest()))
    if link is None or link.used_at is not None or link.expires_at < utcnow():
        raise Forbidden("链接无效、已过期或已使用")  # one answer for all three: never say which
    return link


def upload_by_assist_link(session: Session, runner: Runner, token: str, files: list[tuple[str, bytes]]) -> ProcessInstance:
    link = assist_link(session, token)
    agreement = session.get(Agreement, link.agreement_id)
    assert agreement is not None, "assist_link.agreement_id is a foreign key"
    item = session.get(WorkItem, link.work_item_id)
    if item is None or item.state != "open":
        raise Forbidden("链接无效、已过期或已使用")
    if not files:
        raise ValidationFailed("请上传盖章的就业协议书图片", details={"images": ["请上传图片"]})
    stored = store_images(session, agreement.graduate_id, None, files, used=True)  # the link puts them on the form
    link.used_at = utcnow()
    graduate = session.get(Graduate, agreement.graduate_id)
    assert graduate is not None, "agreement.graduate_id is a foreign key"
    actor = Actor(id=None, name=f"用人单位（{agreement.fields.get('employer_name', '')}）", role="Graduate",
                  school_id=graduate.school_id, department_id=graduate.department_id, graduate_id=graduate.id)
    ids = [a.id for a in stored]

    def data(task):
        application = copy.deepcopy(task.data.get("application") or {})
        application["stamped_ids"] = ids
        return {"application": application}

    return runner.complete(session, item.id, actor, data, audit_action="assist_upload")


def submit_paper(session: Session, runner: Runner, actor: Actor, graduate: Graduate, fields: dict,
                 attachment_ids: list[int], work_item_id: int | None = None) -> ProcessInstance:
    """PAP-1."""
    check_images(session, graduate, list(attachment_ids), "盖章的纸质就业协议书")
    application = {"fields": fields, "attachment_ids": list(attachment_ids)}
    if work_item_id is None:
        if graduate.directed:
            raise Conflict("定向/委培毕业生只能登记定向/委培毕业去向")
        reason = module_closed_reason(graduate)
        if reason:
            raise Conflict(reason)
        return start_form_process(session, runner, actor, graduate, "paper_registration",
                                  {"review_levels": graduate.school.review_levels}, fields.get("employer_name", ""),
                                  submit=("paper_agreement", {"application": application}))
    return runner.complete(session, work_item_id, actor, {"application": application}, audit_action="submit")


def agreements_of(session: Session, graduate_id: int) -> list[Agreement]:
    return list(session.scalars(select(Agreement).where(Agreement.graduate_id == graduate_id)
                                .order_by(Agreement.id.desc())))


def terminations_of(session: Session, agreement_id: int) -> list[Termination]:
    return list(session.scalars(select(Termination).where(Termination.agreement_id == agreement_id)
                                .order_by(Termination.id.desc())))
