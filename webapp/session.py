"""Request helpers: the logged-in account, its actor, and running one step as one transaction."""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import g, has_request_context, request
from flask_babel import gettext
from flask_login import UserMixin, current_user
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.errors import Conflict, EngineError, Forbidden
from core.i18n import N_
from core.masking import mask_id_numbers
from domain.accounts import actor_for, current_graduate
from domain.models import AccessLog, Account, Graduate
from engine.services import Actor

log = logging.getLogger(__name__)
T = TypeVar("T")
# the append-only logs (migrations 0018, 0024): a step that writes a row to one of them is audited
AUDIT_TABLES = frozenset({"audit_event", "setting_change", "access_log", "verification_lookup"})
AUDITED = "gradflow_audited"  # Session.info: this transaction has flushed an audit row


def _audit_rows(session: Session) -> bool:
    return any(getattr(row, "__tablename__", "") in AUDIT_TABLES for row in session.new)


@event.listens_for(Session, "before_flush")
def _note_audit_rows(session: Session, flush_context, instances) -> None:
    if AUDITED in session.info and _audit_rows(session):
        session.info[AUDITED] = True


KEEP_LOADED = "gradflow_keep_loaded"  # Session.info: the rows this request's session loaded, kept referenced


@event.listens_for(Session, "loaded_as_persistent")
def _keep_loaded(session: Session, instance: object) -> None:
    kept = session.info.get(KEEP_LOADED)
    if kept is not None:
        kept.append(instance)


def keep_loaded(db: Session) -> None:
    """Keep every row this (request's) session loads referenced until it closes: the identity map holds rows
    weakly, so a row read by one part of a request (token and account, work item, graduate) and dropped was
    read again by the next part's session.get (issue 11). Only for short sessions: one request."""
    db.info.setdefault(KEEP_LOADED, [])


class LoginAccount(UserMixin):
    """Plain values copied from the account row, so a rollback never expires them."""

    def __init__(self, account: Account):
        self.id = account.id
        self.username = account.username
        self.display_name = account.display_name
        self.role = account.role
        self.school_id = account.school_id
        self.department_id = account.department_id
        self.province_id = account.province_id
        self.id_number = account.id_number
        self.session_version = account.session_version  # kept in the session by login_user (issue 12)

    def get_id(self) -> str:
        return str(self.id)


def current_actor() -> Actor:
    actor = g.get("actor")
    if actor is None:
        account = g.get("api_account") or (g.db.get(Account, current_user.id) if current_user.is_authenticated else None)
        if account is None:
            raise Forbidden("请先登录")
        actor = g.actor = actor_for(g.db, account, request_graduate(account))
    return actor


def request_graduate(account: Account) -> Graduate | None:
    """The account's current graduate record (domain.accounts.current_graduate), read once per request: the
    GRAD-4 check, the actor and the graduate's pages share it (issue 11)."""
    known = g.get("current_graduate")
    if known is not None and known[0] == account.id:
        return known[1]
    graduate = current_graduate(g.db, account)
    g.current_graduate = (account.id, graduate)
    return graduate


BUSY = N_("系统繁忙，该事项正在被其他人处理，请稍后刷新重试")
SESSION_VERSION_KEY = "_account_session_version"  # Account.session_version at login (issue 12)
_LOCK_CONFLICTS = ("locked", "could not serialize", "deadlock detected", "lock timeout")


def is_lock_conflict(exc: BaseException) -> bool:
    """A write lost to another one (SQLite busy, PostgreSQL serialization or deadlock): retry, not an outage."""
    text = str(exc).lower()
    return any(marker in text for marker in _LOCK_CONFLICTS)


def run_step(fn: Callable[..., T], *args, **kwargs) -> T:
    """One step = one transaction: begin (taking SQLite's write lock), act, commit; roll back on error.

    On SQLite the request's read transaction ends first, so that BEGIN IMMEDIATE takes the write lock. On
    PostgreSQL the step goes on in the request's transaction (issue 11: one connection checkout and one
    transaction per API step): what the request read before (token, account, work item) is not read again, and
    a concurrent step on the same instance still loses on the instance's optimistic version (409). When the
    request asked for it (`g.respond_in_step`, the API), the answer is built from the step's result before
    the commit."""
    db = g.db
    if db.get_bind().dialect.name == "sqlite" or not db.in_transaction():
        db.rollback()  # end any read transaction; the step reads fresh state
        db.connection(execution_options={"sqlite_immediate": True})
    db.info[AUDITED] = False
    try:
        result = fn(db, *args, **kwargs)
        if not (db.info.get(AUDITED) or _audit_rows(db)):
            _step_row(db)  # issue 12: every write is in an append-only log, whoever forgot to write one
        respond = g.get("respond_in_step")
        if respond is not None:
            respond(db, result)
        db.commit()
        return result
    except EngineError:
        db.rollback()
        raise
    except OperationalError as exc:
        db.rollback()
        if is_lock_conflict(exc):
            raise Conflict(BUSY) from exc
        raise  # the database is unreachable: the app answers 503 (webapp._database_unavailable)
    except Exception:
        db.rollback()
        raise


def _account_id() -> int | None:
    try:
        account_id = current_user.id if current_user.is_authenticated else None
    except Exception:  # noqa: BLE001
        account_id = None
    return account_id or (g.get("api_account").id if g.get("api_account") else None)


def _step_row(db) -> None:
    """The access_log row of a step that wrote no audit row of its own: who, where, which operation."""
    if has_request_context():
        db.add(access_row("step", f"{request.method} {request.endpoint}"))


def access_row(kind: str, reason: str, account_id: int | None = None) -> AccessLog:
    """An access event of this request (login, logout, lookup, refusal, step), to add to a transaction."""
    return AccessLog(account_id=account_id or _account_id(), kind=kind, path=request.path[:300],
                     reason=mask_id_numbers(reason)[:200])  # a username typed as a 身份证号 is masked (issue 12)


def log_access(kind: str, reason: str, account_id: int | None = None) -> None:
    """An access event in its own small transaction (issue 12)."""
    db = g.db
    try:
        db.rollback()
        db.add(access_row(kind, reason, account_id))
        db.commit()
    except Exception:  # noqa: BLE001 - logging must never break the answer
        db.rollback()
        log.exception("could not write access log")


def log_refusal(reason: str) -> None:
    """ROLE-1: refusals outside scope are logged (in their own small transaction)."""
    log_access("refusal", reason)


def role_required(*roles: str):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            from flask_login import login_required

            if not current_user.is_authenticated:
                return login_required(view)(*args, **kwargs)
            if current_user.role not in roles:
                log_refusal(f"role {current_user.role} not in {roles}")
                raise Forbidden("页面不存在或无权访问")
            return view(*args, **kwargs)

        return wrapper

    return decorate


class ReadOnlyArea(EngineError):
    """ROLE-2: a read-only account tried to add, change, delete or review (its GET pages still open)."""

    status = 403


def check_area(area: str, write: bool = False) -> None:
    """ROLE-2 for the logged-in account: none on the area looks like a missing page (404, logged); read-only
    asking to write is refused with 403 (logged). Checked before any record is looked up, so the answer never
    depends on whether the record exists (ROLE-1)."""
    from domain.access import AREA_NAMES, POLICY

    actor = current_actor()
    if not POLICY.may_read_area(actor, area):
        log_refusal(f"area {area}: no permission")
        raise Forbidden("页面不存在或无权访问")
    if write and not POLICY.may_write_area(actor, area):
        log_refusal(f"area {area}: read-only")
        raise ReadOnlyArea(gettext("你的账号对“%(area)s”只有只读权限，可以查看和下载，不能新增、修改、删除或审核。",
                                   area=gettext(AREA_NAMES.get(area, area))))


def area_required(area: str, write: bool | None = None):
    """ROLE-2 around a view: `write` True / False, or None for 'writes unless GET or HEAD'."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            needs_write = request.method not in ("GET", "HEAD", "OPTIONS") if write is None else write
            check_area(area, needs_write)
            return view(*args, **kwargs)

        return wrapper

    return decorate
