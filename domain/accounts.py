"""Accounts, the actor they act as, and graduate login (GRAD-2)."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.config import password_hash_method
from domain.models import Account, Graduate
from engine.services import Actor

ROLE_LANE = {
    "graduate": "Graduate",
    "department": "Department",
    "school": "School",
    "employer": "Employer",
    "admin": "Admin",
    "province": "Province",
}
ROLE_NAMES = {
    "graduate": "毕业生",
    "department": "院系审核员",
    "school": "学校就业部门",
    "province": "省级用户",
    "admin": "系统管理员",
    "employer": "用人单位",
}


class LoginRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def hash_password(password: str) -> str:
    """A new hash with the configured method (core.config.password_hash_method, default scrypt)."""
    return generate_password_hash(password, method=password_hash_method())


def current_graduate(session: Session, account: Account) -> Graduate | None:
    """The graduate's newest cohort record that the school has not deleted."""
    if account.role != "graduate" or not account.id_number:
        return None
    return session.scalar(
        select(Graduate)
        .where(Graduate.id_number == account.id_number, Graduate.deleted_at.is_(None))
        .order_by(Graduate.cohort.desc(), Graduate.id.desc())
        .limit(1)
    )


def actor_for(session: Session, account: Account) -> Actor:
    graduate = current_graduate(session, account)
    return Actor(
        id=account.id,
        name=account.display_name,
        role=ROLE_LANE.get(account.role, account.role),
        school_id=graduate.school_id if graduate else account.school_id,
        department_id=graduate.department_id if graduate else account.department_id,
        graduate_id=graduate.id if graduate else None,
        employer_id=account.employer_id,
        province_id=account.province_id,
    )


def authenticate(session: Session, username: str, password: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username))
    # Same message whether the user exists or not.
    if account is None or not account.active or not check_password_hash(account.password_hash, password):
        raise LoginRefused("用户名或密码错误")
    if account.role == "graduate" and current_graduate(session, account) is None:
        # GRAD-2: say why the graduate cannot enter.
        raise LoginRefused(
            "无法登录：学校尚未上传你的毕业生基本信息，或上传的信息有误。"
            "请联系所在学院，由学校就业部门新增或更正你的基本信息。"
        )
    return account


def issue_api_token(session: Session, account: Account) -> str:
    token = secrets.token_urlsafe(32)
    account.api_token_hash = hashlib.sha256(token.encode()).hexdigest()
    session.flush()
    return token


def account_by_token(session: Session, token: str) -> Account | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return session.scalar(select(Account).where(Account.api_token_hash == digest, Account.active.is_(True)))
