"""Employer self-registration with verification (issue 12).

A registration creates nothing but a pending `EmployerRegistration` and an outbox message with a 6-digit
code to the contact's mobile (SMS) or e-mail. The answer is the same whether the chosen username exists or
not (and costs the same: the password is hashed either way); the username and the credit code are checked
only once the contact has proved the address with the right code, within 10 minutes and 5 tries.

A credit code already registered by another account can then be disputed: the province or an admin
approves (the code moves to the applicant, the former holder's accounts are disabled) or rejects (it
stays); a provincial user sees and decides only the disputes of its province. Each decision is audited as a
setting change.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from domain.accounts import hash_password
from domain.employer_models import CreditCodeDispute, EmployerRegistration
from domain.models import Account, Employer, Province, SettingChange
from engine.models import OutboxMessage

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5  # wrong codes per code sent
RESEND_AFTER = timedelta(seconds=60)
MAX_CODES = 5  # codes per registration
REGISTRATION_LIFETIME = timedelta(days=7)  # a verified registration may file a dispute this long


def mask_target(target: str) -> str:
    if "@" in target:
        name, _, domain = target.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{target[:3]}****{target[-4:]}" if len(target) >= 8 else "****"


def _code_hash(token: str, code: str) -> str:
    return hashlib.sha256(f"{token}:{code}".encode()).hexdigest()


def _send_code(session: Session, reg: EmployerRegistration, now: datetime) -> None:
    code = f"{secrets.randbelow(10**6):06d}"
    reg.code_hash = _code_hash(reg.token, code)
    reg.code_expires_at = now + CODE_LIFETIME
    reg.code_sent_at = now
    reg.attempts = 0
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    session.add(OutboxMessage(kind=f"notify.{reg.channel}", payload={
        "to": reg.target, "title": "用人单位注册验证码",
        "body": f"您正在注册高校毕业生就业服务平台用人单位账号，验证码 {code}，{minutes}分钟内有效。如非本人操作，请忽略。"}))


def start(session: Session, clean: dict, username: str, password: str, channel: str,
          *, now: datetime | None = None) -> EmployerRegistration:
    """A pending registration and its first code. Never looks the username up (see the module doc)."""
    now = now or utcnow()
    target = clean.get("email") if channel == "email" else clean.get("mobile")
    if not target:
        raise ValidationFailed("请填写接收验证码的联系人邮箱", details={"email": ["请填写联系人邮箱"]})
    reg = EmployerRegistration(token=secrets.token_urlsafe(32), fields=clean, username=username,
                               password_hash=hash_password(password), channel=channel, target=target,
                               code_hash="", code_expires_at=now, code_sent_at=now, codes_sent=1, attempts=0,
                               created_at=now)
    _send_code(session, reg, now)
    session.add(reg)
    session.flush()
    return reg


def pending(session: Session, token: str | None, *, now: datetime | None = None) -> EmployerRegistration:
    now = now or utcnow()
    reg = session.scalar(select(EmployerRegistration).where(EmployerRegistration.token == token)) if token else None
    if reg is None or reg.employer_id is not None or reg.created_at < now - REGISTRATION_LIFETIME:
        raise NotFound("注册申请不存在或已失效，请重新注册")
    return reg


def resend(session: Session, token: str | None, *, now: datetime | None = None) -> EmployerRegistration:
    now = now or utcnow()
    reg = pending(session, token, now=now)
    if reg.verified_at is not None:
        raise Conflict("联系人已验证，无需再次获取验证码")
    if now - reg.code_sent_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - reg.code_sent_at)).total_seconds()) + 1
        raise Conflict(f"验证码已发送，请{wait}秒后再重新获取")
    if reg.codes_sent >= MAX_CODES:
        raise Conflict("获取验证码次数过多，请重新注册")
    reg.codes_sent += 1
    _send_code(session, reg, now)
    session.flush()
    return reg


@dataclass
class Outcome:
    """What a code check ended with. Returned, not raised: a wrong code's count and a verified contact must
    commit even when no account comes of it."""

    account: Account | None = None
    error: str | None = None
    status: int = 200
    credit_code_taken: bool = False


def verify(session: Session, token: str | None, code: str, *, now: datetime | None = None) -> Outcome:
    """Check the code; on success create the employer and its account, unless the code or the name is taken."""
    now = now or utcnow()
    reg = pending(session, token, now=now)
    if reg.verified_at is None:
        if reg.attempts >= MAX_ATTEMPTS:
            return Outcome(error="验证码错误次数过多，请重新获取验证码", status=409)
        if now > reg.code_expires_at:
            return Outcome(error="验证码已过期，请重新获取验证码", status=409)
        if not hmac.compare_digest(reg.code_hash, _code_hash(reg.token, (code or "").strip())):
            reg.attempts += 1
            session.flush()
            left = MAX_ATTEMPTS - reg.attempts
            return Outcome(error=f"验证码错误，还可尝试{left}次" if left else "验证码错误次数过多，请重新获取验证码",
                           status=422)
        reg.verified_at = now
        session.flush()
    if session.scalar(select(Employer).where(Employer.credit_code == reg.fields["credit_code"])) is not None:
        return Outcome(error="该统一社会信用代码已被其他账号注册。如确属本单位，可提出争议申请，由省级主管部门审核",
                       status=409, credit_code_taken=True)
    if session.scalar(select(Account).where(Account.username == reg.username)) is not None:
        return Outcome(error="联系人已验证，但该登录名已被使用，请重新注册并更换登录名", status=409)
    return Outcome(account=_employer_account(session, reg), status=201)


def _employer_account(session: Session, reg: EmployerRegistration) -> Account:
    clean = reg.fields
    employer = Employer(name=clean["employer_name"], credit_code=clean["credit_code"], nature=clean["nature"],
                        industry=clean["industry"], division_code=clean["division_code"],
                        address=clean["employer_address"], contact=clean["contact"], phone=clean.get("landline") or None,
                        mobile=clean["mobile"], email=clean.get("email") or None)
    session.add(employer)
    session.flush()
    account = Account(username=reg.username, password_hash=reg.password_hash, display_name=employer.name,
                      role="employer", employer_id=employer.id)
    session.add(account)
    reg.employer_id = employer.id
    session.flush()
    return account


# -- disputes over a taken credit code ------------------------------------------------------
def file_dispute(session: Session, token: str | None, reason: str, *, now: datetime | None = None) -> CreditCodeDispute:
    reg = pending(session, token, now=now)
    if reg.verified_at is None:
        raise Conflict("请先完成联系人验证")
    holder = session.scalar(select(Employer).where(Employer.credit_code == reg.fields["credit_code"]))
    if holder is None:
        raise Conflict("该统一社会信用代码未被注册，无需争议，请直接完成注册")
    if session.scalar(select(CreditCodeDispute).where(CreditCodeDispute.registration_id == reg.id)) is not None:
        raise Conflict("争议申请已提交，请等待审核")
    dispute = CreditCodeDispute(registration_id=reg.id, credit_code=holder.credit_code, holder_employer_id=holder.id,
                                reason=reason.strip()[:500], status="pending", created_at=now or utcnow())
    session.add(dispute)
    session.flush()
    return dispute


def decide_dispute(session: Session, dispute_id: int, approve: bool, decider: Account, note: str = "",
                   *, now: datetime | None = None) -> CreditCodeDispute:
    """Approve: the former holder's code is released (its accounts disabled), the applicant's employer and
    account are created with the code. Reject: nothing moves. Both audited and told to the applicant."""
    now = now or utcnow()
    dispute = session.get(CreditCodeDispute, dispute_id)
    scoped = select(CreditCodeDispute.id).join(EmployerRegistration).join(
        Employer, Employer.id == CreditCodeDispute.holder_employer_id).where(
        CreditCodeDispute.id == dispute_id, dispute_scope(session, decider))
    if dispute is None or session.scalar(scoped) is None:  # another province's dispute looks missing (ROLE-1)
        raise NotFound("争议申请不存在")
    if dispute.status != "pending":
        raise Conflict("该争议申请已处理")
    reg = session.get(EmployerRegistration, dispute.registration_id)
    holder = session.get(Employer, dispute.holder_employer_id)
    if reg is None or holder is None:
        raise NotFound("争议申请不存在")
    if approve:
        if session.scalar(select(Account).where(Account.username == reg.username)) is not None:
            raise Conflict("申请人的登录名已被使用，无法通过；请驳回并请申请人更换登录名重新注册")
        holder.credit_code = f"x{dispute.id}"  # released: never a valid code (lower case), unique per dispute
        for account in session.scalars(select(Account).where(Account.employer_id == holder.id)):
            account.active = False
            account.session_version += 1  # ends its sessions now
        session.flush()
        account = _employer_account(session, reg)
        dispute.new_employer_id = account.employer_id
    dispute.status = "approved" if approve else "rejected"
    dispute.decided_by = decider.id
    dispute.decided_at = now
    dispute.decision_note = note.strip()[:200] or None
    session.add(SettingChange(account_id=decider.id, actor_name=decider.display_name,
                              action="approve_credit_dispute" if approve else "reject_credit_dispute",
                              target="employer", target_id=holder.id,
                              before={"credit_code": dispute.credit_code, "holder_employer_id": holder.id},
                              after={"credit_code_holder": dispute.new_employer_id if approve else holder.id,
                                     "dispute_id": dispute.id},
                              reason=dispute.decision_note, created_at=now))
    body = (f"您对统一社会信用代码{dispute.credit_code}提出的争议申请已审核通过，可使用登录名{reg.username}登录。"
            if approve else f"您对统一社会信用代码{dispute.credit_code}提出的争议申请未通过审核。"
            + (f"说明：{dispute.decision_note}" if dispute.decision_note and not approve else ""))
    session.add(OutboxMessage(kind=f"notify.{reg.channel}", payload={"to": reg.target, "title": "统一社会信用代码争议审核结果",
                                                                    "body": body}))
    session.flush()
    return dispute


def dispute_scope(session: Session, account: Account) -> ColumnElement[bool]:
    """ROLE-1: a provincial user handles the disputes where the code's holder or the applicant lies in its
    province (行政区划 codes start with the province's two digits); an admin every dispute; nobody else any."""
    if account.role == "admin":
        return true()
    province = session.get(Province, account.province_id) if account.role == "province" else None
    if province is None:
        return CreditCodeDispute.id.is_(None)
    prefix = province.code[:2]
    return or_(Employer.division_code.startswith(prefix),
               EmployerRegistration.fields["division_code"].as_string().startswith(prefix))


def disputes(session: Session, viewer: Account, status: str | None = "pending") -> list[
        tuple[CreditCodeDispute, EmployerRegistration, Employer]]:
    query = (select(CreditCodeDispute, EmployerRegistration, Employer)
             .join(EmployerRegistration, EmployerRegistration.id == CreditCodeDispute.registration_id)
             .join(Employer, Employer.id == CreditCodeDispute.holder_employer_id)
             .where(dispute_scope(session, viewer))
             .order_by(CreditCodeDispute.id.desc()).limit(200))
    if status:
        query = query.where(CreditCodeDispute.status == status)
    return [(d, r, e) for d, r, e in session.execute(query)]
