"""核验授权 (VER): the graduate's reports, the school's transfer codes and the public look-up.

A report's validity is never stored: it is worked out from the report row, its date, the graduate's
confirmation (VER-6: `domain.graduate_info.is_confirmed`, so any change suspends the report until the
graduate confirms again) and the registered info of its kind (VER-1). Every function runs inside the
caller's transaction (one step) and leaves the commit to it.

Time: dates are China dates (`today()`), and every rule reads the clock through `now()`, which tests
move instead of sleeping.
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, ValidationFailed
from core.i18n import N_
from core.timefmt import to_china
from domain.access import POLICY, SCHOOL
from domain.graduate_info import current_info, is_confirmed
from domain.models import Confirmation, Graduate, RegisteredInfo
from engine.services import Actor

from .models import TransferCode, VerificationLookup, VerificationReport

ARCHIVE, HUKOU = "archive", "hukou"
KINDS = {ARCHIVE: N_("档案信息核验"), HUKOU: N_("户口信息核验")}
INFO_MODULES = {ARCHIVE: N_("档案信息登记"), HUKOU: N_("户口信息登记")}
# An alphabet without look-alikes (no 0/O, 1/I/L): 31 symbols, 15 of them drawn by `secrets` = 74 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 15
MAX_CODE_INPUT = 40  # what the look-up reads of a typed code (spaces and dashes are dropped)
NONE_ANSWER = N_("未查询到有效的核验报告")  # VER-4: one answer for unknown, expired, closed, suspended, wrong name
VALIDITY_MONTHS = 6  # VER-2: not later than graduation + 6 months
# What the graduate sees of a report (the guides' 核验状态); "unset" is the guide's 未确认 before a date is set.
STATE_LABELS = {"unset": N_("未确认"), "active": N_("生效中"), "suspended": N_("需重新确认"), "expired": N_("已过期"),
                "closed": N_("已关闭"), "no_info": N_("信息未登记")}


def now() -> datetime:
    """The clock every rule here reads (tests patch it)."""
    return datetime.now(UTC)


def today() -> date:
    """Today in China: a report is valid through 23:59:59 Beijing time of its date."""
    return to_china(now()).date()


# -- codes ---------------------------------------------------------------------------------------
def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str | None) -> str:
    """A typed code as stored: upper case, without spaces or dashes."""
    text = unicodedata.normalize("NFKC", raw or "")[:MAX_CODE_INPUT]
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def normalize_name(raw: str | None) -> str:
    """A name as compared: NFKC (full-width forms folded), without spaces."""
    text = unicodedata.normalize("NFKC", raw or "")[:100]
    return "".join(ch for ch in text if not ch.isspace())


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _same_name(given: str, stored: str) -> bool:
    """Constant time whatever the names: compares two digests of equal length."""
    return hmac.compare_digest(hashlib.sha256(normalize_name(given).encode()).digest(),
                               hashlib.sha256(normalize_name(stored).encode()).digest())


# -- dates -----------------------------------------------------------------------------------------
def _graduation(graduate: Graduate) -> tuple[int, int]:
    raw = graduate.graduates_on or ""
    if len(raw) != 6 or not raw.isdigit() or not 1 <= int(raw[4:]) <= 12:
        raise ValidationFailed("毕业时间有误，请联系学校更正基本信息")
    return int(raw[:4]), int(raw[4:])


def validity_limit(graduate: Graduate) -> date:
    """VER-2 (design): the last day of the sixth month after the graduation month (202606 -> 2026-12-31)."""
    year, month = _graduation(graduate)
    month += VALIDITY_MONTHS
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def transfer_limit(graduate: Graduate) -> date:
    """VER-7: 31 March of the year after graduation, inclusive."""
    return date(_graduation(graduate)[0] + 1, 3, 31)


# -- the graduate's reports (VER-1, VER-2, VER-5, VER-6) ---------------------------------------------
def state_of(report: Any, confirmed: bool, has_info: bool, on: date) -> str:
    """One of STATE_LABELS' keys; 'active' is the only state the public look-up answers with a report."""
    if report is None:
        return "unset"
    if report.status != "active":
        return "closed"
    if on > report.valid_until:
        return "expired"
    if not has_info:
        return "no_info"
    if not confirmed:
        return "suspended"
    return "active"


def report_state(session: Session, report: VerificationReport) -> str:
    """The state of one report now (a closed or replaced one is 'closed')."""
    return state_of(report, is_confirmed(session, report.graduate_id),
                    current_info(session, report.graduate_id, report.kind) is not None, today())


def latest_report(session: Session, graduate_id: int, kind: str) -> VerificationReport | None:
    return session.scalar(select(VerificationReport).where(VerificationReport.graduate_id == graduate_id,
                                                           VerificationReport.kind == kind)
                          .order_by(VerificationReport.id.desc()).limit(1))


def unavailable_reason(graduate: Graduate, kind: str, info: RegisteredInfo | None) -> str | None:
    """VER-1: a kind needs that kind's info registered (and hukou the hukou in school, MOD-5)."""
    if kind == HUKOU and not graduate.hukou_in_school:
        return "户口未转入学校，无需户口信息核验"
    if info is None:
        return _("对应模块需要有信息登记才能使用核验功能：请先在“%(module)s”登记", module=_(INFO_MODULES[kind]))
    return None


@dataclass
class KindView:
    kind: str
    title: str
    report: VerificationReport | None
    state: str
    unavailable: str | None

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def can_create(self) -> bool:
        return self.unavailable is None and self.state in {"unset", "closed", "expired"}

    @property
    def can_close(self) -> bool:
        return self.report is not None and self.report.status == "active" and self.state != "expired"

    @property
    def can_download(self) -> bool:
        return self.state == "active"


def overview(session: Session, graduate: Graduate) -> tuple[bool, list[KindView]]:
    """What 核验授权 shows: whether the graduate is confirmed, and each kind with its latest report."""
    confirmed = is_confirmed(session, graduate.id)
    on = today()
    views = []
    for kind, title in KINDS.items():
        info = current_info(session, graduate.id, kind)
        report = latest_report(session, graduate.id, kind)
        views.append(KindView(kind, title, report, state_of(report, confirmed, info is not None, on),
                              unavailable_reason(graduate, kind, info)))
    return confirmed, views


def _own_graduate(session: Session, actor: Actor) -> Graduate:
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生本人可以办理核验授权")
    graduate = session.get(Graduate, actor.graduate_id)
    if graduate is None or graduate.deleted_at is not None:
        raise Forbidden("记录不存在或无权访问")
    return graduate


def own_report(session: Session, actor: Actor, report_id: int) -> VerificationReport:
    """The actor's own report, or the same 404 whether it is missing or someone else's (ROLE-1)."""
    graduate = _own_graduate(session, actor)
    report = session.get(VerificationReport, report_id)
    if report is None or report.graduate_id != graduate.id:
        raise Forbidden("核验报告不存在或无权访问")
    return report


def create_report(session: Session, actor: Actor, kind: str, valid_until: date) -> VerificationReport:
    """VER-1/VER-2: set the validity date; the report gets its code and is 生效中."""
    graduate = _own_graduate(session, actor)
    if kind not in KINDS:
        raise ValidationFailed("核验类型只能是档案信息核验或户口信息核验")
    if not is_confirmed(session, graduate.id):
        raise Conflict("毕业生需完成去向登记确认才能进行核验授权")
    reason = unavailable_reason(graduate, kind, current_info(session, graduate.id, kind))
    if reason:
        raise Conflict(reason)
    on, limit = today(), validity_limit(graduate)
    if valid_until < on:
        raise ValidationFailed(_("有效期不能早于今天（%(isoformat)s）", isoformat=on.isoformat()))
    if valid_until > limit:
        raise ValidationFailed(_("查询核验服务时间截止到毕业时间加六个月：有效期不能晚于 %(isoformat)s", isoformat=limit.isoformat()))
    key = f"{graduate.id}:{kind}"
    current = session.scalar(select(VerificationReport).where(VerificationReport.active_key == key))
    if current is not None:
        if on <= current.valid_until:
            raise Conflict(_("%(KINDS)s报告生效中；如需重新设置有效期，请先关闭该报告", KINDS=_(KINDS[kind])))
        current.status, current.active_key = "replaced", None  # expired: a new report takes its place
        session.flush()
    for _attempt in range(3):  # a code collision (one in 10^22) just draws again
        report = VerificationReport(graduate_id=graduate.id, kind=kind, code=new_code(), valid_until=valid_until,
                                    status="active", active_key=key)
        try:
            with session.begin_nested():
                session.add(report)
                session.flush()
        except IntegrityError:
            if session.scalar(select(VerificationReport.id).where(VerificationReport.active_key == key)):
                raise Conflict(_("%(KINDS)s报告已生成，请刷新页面", KINDS=_(KINDS[kind]))) from None
            continue
        return report
    raise Conflict("核验编号生成失败，请重试")


def close_report(session: Session, actor: Actor, report_id: int) -> VerificationReport:
    """VER-5: the graduate closes a report at any time; its code stops opening it."""
    report = own_report(session, actor, report_id)
    if report.status != "active":
        raise Conflict("该核验报告已关闭")
    report.status, report.active_key, report.closed_at = "closed", None, now().replace(tzinfo=None)
    return report


# -- transfer codes (VER-7) ------------------------------------------------------------------------------
def school_graduate(session: Session, actor: Actor, graduate_id: int) -> Graduate:
    """A graduate of the school's own scope, or the same 404 as a missing one (ROLE-1)."""
    graduate = session.get(Graduate, graduate_id)
    if actor.role != SCHOOL or graduate is None or graduate.deleted_at is not None \
            or not POLICY.may_see_graduate(actor, graduate):
        raise Forbidden("毕业生不存在或无权访问")
    return graduate


def transfer_code_of(session: Session, graduate_id: int) -> TransferCode | None:
    return session.scalar(select(TransferCode).where(TransferCode.graduate_id == graduate_id))


def issue_transfer_code(session: Session, actor: Actor, graduate_id: int) -> tuple[TransferCode, bool]:
    """The school sends the archive and issues its 转递编号; (code, whether it is new). Issuing again
    returns the same code."""
    graduate = school_graduate(session, actor, graduate_id)
    existing = transfer_code_of(session, graduate.id)
    if existing is not None:
        return existing, False
    if current_info(session, graduate.id, ARCHIVE) is None:
        raise Conflict("该毕业生尚未登记档案信息，不能签发转递编号")
    for _attempt in range(3):
        row = TransferCode(graduate_id=graduate.id, code=new_code(), valid_until=transfer_limit(graduate),
                           issued_by=actor.id)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            again = transfer_code_of(session, graduate.id)
            if again is not None:
                return again, False
            continue
        return row, True
    raise Conflict("转递编号生成失败，请重试")


# -- the public look-up (VER-4, VER-7, VER-8) -----------------------------------------------------------
@dataclass
class Lookup:
    found: bool
    reason: str  # why not (logged, never shown): unknown | name | closed | expired | suspended | no_info
    kind: str = ARCHIVE
    graduate: Graduate | None = None
    report: VerificationReport | None = None
    transfer: TransferCode | None = None

    @property
    def code_label(self) -> str:
        return "转递编号" if self.transfer is not None and self.report is None else "核验编号"

    @property
    def code(self) -> str:
        row = self.report or self.transfer
        return row.code if row is not None else ""

    @property
    def valid_until(self) -> date | None:
        row = self.report or self.transfer
        return row.valid_until if row is not None else None


def lookup(session: Session, name: str, raw_code: str, *, client: str, via: str) -> Lookup:
    """Name + code (核验编号 or 转递编号) -> the report, or not found for any reason.

    The same statements run whether the code exists or not — the two codes by unique key, then the
    graduate, the confirmation and the info by an id that is 0 when nothing matched, each reading a few
    columns only — the name is compared in constant time, and the look-up is logged either way; so
    neither the answer nor its time tells an unknown code from a closed, expired or suspended report or
    from a wrong name. Only a report that is shown is then read in full.
    """
    code = normalize_code(raw_code)
    report = session.execute(select(VerificationReport.id, VerificationReport.graduate_id, VerificationReport.kind,
                                    VerificationReport.status, VerificationReport.valid_until)
                             .where(VerificationReport.code == code)).first()
    transfer = session.execute(select(TransferCode.id, TransferCode.graduate_id, TransferCode.valid_until)
                               .where(TransferCode.code == code)).first()
    target = report if report is not None else transfer
    graduate_id = target.graduate_id if target is not None else 0
    kind = report.kind if report is not None else ARCHIVE
    person = session.execute(select(Graduate.name, Graduate.deleted_at).where(Graduate.id == graduate_id)).first()
    confirmation = session.scalar(select(Confirmation.status).where(Confirmation.graduate_id == graduate_id))
    info = session.scalar(select(RegisteredInfo.id).where(RegisteredInfo.graduate_id == graduate_id,
                                                          RegisteredInfo.kind == kind, RegisteredInfo.active)
                          .limit(1))
    name_ok = _same_name(name, person.name if person is not None else "")
    on = today()
    if target is None or person is None or person.deleted_at is not None:
        reason = "unknown"
    elif not name_ok:
        reason = "name"
    elif report is not None:
        state = state_of(report, confirmation == "confirmed", info is not None, on)
        reason = "" if state == "active" else state
    else:
        assert transfer is not None
        reason = ("expired" if on > transfer.valid_until else "no_info" if info is None
                  else "suspended" if confirmation != "confirmed" else "")
    found = reason == ""
    session.add(VerificationLookup(client=client[:64], code_digest=code_digest(code),
                                   report_id=report.id if report is not None else None,
                                   transfer_code_id=transfer.id if transfer is not None else None,
                                   via=via, outcome="found" if found else "none", reason=reason))
    if not found:
        return Lookup(False, reason)
    if report is not None:
        return Lookup(True, "", kind, session.get(Graduate, graduate_id), session.get(VerificationReport, report.id))
    assert transfer is not None, "found without a report: by the transfer code"
    return Lookup(True, "", kind, session.get(Graduate, graduate_id), transfer=session.get(TransferCode, transfer.id))
