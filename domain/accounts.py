"""Accounts, the actor they act as, graduate login (GRAD-2), login sessions and API tokens (issue 12)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.config import password_hash_method
from core.db import utcnow
from domain.access import permissions_of
from domain.models import WITH_SCHOOL, Account, ApiToken, Employer, Graduate, School
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
    def __init__(self, message: str, log_reason: str = "login refused"):
        super().__init__(message)
        self.message = message
        self.log_reason = log_reason


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
        .options(*WITH_SCHOOL)
    )


def actor_for(session: Session, account: Account, graduate: Graduate | None = None) -> Actor:
    """The actor an account acts as; a graduate as their current cohort record unless `graduate` is given."""
    graduate = graduate or current_graduate(session, account)
    school_ids: tuple[int, ...] = ()
    if account.role == "province" and account.province_id is not None:
        school_ids = tuple(session.scalars(select(School.id).where(School.province_id == account.province_id)))
    return Actor(
        id=account.id,
        name=account.display_name,
        role=ROLE_LANE.get(account.role, account.role),
        school_id=graduate.school_id if graduate else account.school_id,
        department_id=graduate.department_id if graduate else account.department_id,
        graduate_id=graduate.id if graduate else None,
        employer_id=account.employer_id,
        province_id=account.province_id,
        permissions=permissions_of(account),
        school_ids=school_ids,
    )


BAD_CREDENTIALS = "用户名或密码错误"
# One API token is valid this long unless revoked (Settings.api_token_hours, GRADFLOW_API_TOKEN_HOURS).
MAX_LIVE_TOKENS = 20  # per account: issuing one more revokes the oldest live one
DEAD_TOKENS_KEPT = timedelta(days=30)  # expired or revoked rows are deleted after this, when the account gets a new one
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often (one write per request otherwise)
MAX_TOKEN_LENGTH = 200
_dummy_hashes: dict[str, str] = {}


def dummy_password_hash() -> str:
    """A hash of a random password made with the configured method, for logins of unknown usernames."""
    method = password_hash_method()
    found = _dummy_hashes.get(method)
    if found is None:
        found = _dummy_hashes[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return found


def authenticate(session: Session, username: str, password: str) -> Account:
    """The account, or LoginRefused; `refusal.log_reason` says why, for the access log (never the password)."""
    account = session.scalar(select(Account).where(Account.username == username))
    # The same hash work whether the user exists or not, so the answer's timing does not tell (issue 12).
    password_ok = check_password_hash(account.password_hash if account is not None else dummy_password_hash(),
                                      password)
    # Same message whether the user exists or not.
    if account is None or not account.active or not password_ok:
        raise LoginRefused(BAD_CREDENTIALS, log_reason=f"login failed {printable(username)}")
    if account.role == "graduate" and current_graduate(session, account) is None:
        # GRAD-2: say why the graduate cannot enter.
        raise LoginRefused(
            "无法登录：学校尚未上传你的毕业生基本信息，或上传的信息有误。"
            "请联系所在学院，由学校就业部门新增或更正你的基本信息。",
            log_reason=f"login refused, no basic info {printable(username)}",
        )
    return account


def printable(value: str, limit: int = 50) -> str:
    """A user-given name for a log line: at most `limit` characters, control characters replaced."""
    return "".join(c if c.isprintable() else "?" for c in value[:limit])


def end_sessions(session: Session, account_id: int) -> None:
    """Logout: every login session of the account ends, including copies of its cookie (issue 12)."""
    session.execute(update(Account).where(Account.id == account_id)
                    .values(session_version=Account.session_version + 1))


def change_password(session: Session, account: Account, new_password: str) -> None:
    """A new password ends every login session and revokes every API token of the account."""
    account.password_hash = hash_password(new_password)
    session.flush()
    end_sessions(session, account.id)
    session.execute(update(ApiToken).where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, account: Account, lifetime: timedelta, label: str | None = None,
                    now: datetime | None = None) -> tuple[str, ApiToken]:
    """A new token (returned once, only its hash is kept) beside the account's other live ones."""
    now = now or utcnow()
    mine = ApiToken.account_id == account.id
    session.execute(delete(ApiToken).where(mine, or_(ApiToken.expires_at < now - DEAD_TOKENS_KEPT,
                                                     ApiToken.revoked_at < now - DEAD_TOKENS_KEPT)))
    live = list(session.scalars(select(ApiToken).where(mine, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
                                .order_by(ApiToken.created_at, ApiToken.id)))
    for old in live[:max(0, len(live) - MAX_LIVE_TOKENS + 1)]:
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    row = ApiToken(account_id=account.id, token_hash=token_digest(token), label=label, created_at=now,
                   expires_at=now + lifetime)
    session.add(row)
    session.flush()
    return token, row


def valid_api_token(session: Session, token: str, now: datetime | None = None) -> ApiToken | None:
    """The token's row when it is known, not expired, not revoked and its account active; notes its use."""
    found = valid_api_token_account(session, token, now)
    return found[0] if found is not None else None


def valid_api_token_account(session: Session, token: str,
                            now: datetime | None = None) -> tuple[ApiToken, Account] | None:
    """valid_api_token, with the account read in the same statement (keep it referenced: the session's identity
    map holds objects weakly, so a dropped account would be read again by the next session.get)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = now or utcnow()
    # One statement (issue 11): an employer's account comes with its employer, which its steps read next (the
    # caller keeps the row referenced, so their session.get finds it).
    found = session.execute(select(ApiToken, Account, Employer).join(Account, Account.id == ApiToken.account_id)
                            .outerjoin(Employer, Employer.id == Account.employer_id)
                            .where(ApiToken.token_hash == token_digest(token))).first()
    if found is None:
        return None
    row, account, _employer = found
    if row.revoked_at is not None or row.expires_at <= now or not account.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now  # the caller commits (or drops it: a lost last-use note harms nothing)
    return row, account


def account_by_token(session: Session, token: str) -> Account | None:
    """The account an API token authenticates; None when the token is unknown, expired or revoked."""
    row = valid_api_token(session, token)
    return session.get(Account, row.account_id) if row is not None else None


def api_tokens(session: Session, account_id: int, limit: int = 100) -> list[ApiToken]:
    """The account's tokens, newest first (expired and revoked ones too, until they are deleted)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.account_id == account_id)
                                .order_by(ApiToken.id.desc()).limit(limit)))


def revoke_api_token(session: Session, account_id: int, token_id: int, now: datetime | None = None) -> ApiToken | None:
    """Revoke one of the account's own tokens; None when it has no such token (another's included)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.account_id != account_id:
        return None
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.flush()
    return row
