"""去向登记确认 (CNF) as services: what the graduate is asked to confirm, and confirm / report an error / revoke.

Confirmation is the graduate's own act, with no review and no BPMN: one `Confirmation` row per graduate
(domain/models.py). Other processes move it to `reconfirm` through `domain.graduate_info.info_changed`
(CNF-5). Each function here runs inside the caller's step transaction and leaves the commit to it.

State as the graduate sees it:
  unconfirmed     no row yet, or an error report revoked before any confirmation
  confirmed       confirmed; `confirmed_at` says when
  error_reported  信息有误 reported (CNF-3); from the report on, `changed_parts` lists what has been updated
  reconfirm       changed after confirming (CNF-5) or an error report revoked (CNF-4): confirm again
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, Forbidden, ValidationFailed
from core.i18n import N_
from core.timefmt import china_time, iso
from domain import dicts
from domain.access import POLICY
from domain.effective import unique_write
from domain.graduate_info import PARTS, current_info
from domain.models import (
    Agreement,
    Confirmation,
    DestinationRecord,
    EffectiveDestination,
    Employer,
    Graduate,
    Message,
    RegisteredInfo,
)
from engine.services import Actor

PART_LABELS = {"destination": N_("毕业去向信息"), "archive": N_("档案转递信息"), "hukou": N_("户口迁移信息")}
EXPLANATION_LABELS = {"destination": N_("去向情况说明"), "archive": N_("档案情况说明"), "hukou": N_("户口情况说明")}
DESTINATION_KINDS = {"changed": N_("有变化"), "wrong": N_("有错误")}  # the guide's 毕业去向信息：有变化 / 有错误
STATUS_LABELS = {"unconfirmed": N_("未确认"), "confirmed": N_("已确认"), "error_reported": N_("信息有误，待更新后确认"),
                 "reconfirm": N_("待重新确认")}
MAX_EXPLANATION = 500
DATE_FORMAT = N_("%Y年%m月%d日")  # the guide: 以上毕业去向信息于2023年05月24日通过全国登记系统上报
NOT_AVAILABLE = N_("你还没有生效的毕业去向：毕业去向登记审核通过或协议签约完成后，才能进行去向登记确认。")

# The rows of an archive / hukou record, in the guide's order (seed 001 图40): the field names a registration
# writes (ARC-2, HUK-1) and those an approved agreement copies (ONL-7), which mean the same. Unknown fields are
# shown by name after these rather than hidden; codes and image ids are not shown.
INFO_LABELS = {
    "archive": {"archive_type": N_("档案转递类型"), "archive_unit": N_("档案转递单位名称"), "division_name": N_("档案转递单位所在地"),
                "archive_address": N_("档案转递单位地址"), "archive_postcode": N_("邮编"),
                "archive_contact": N_("联系人/联系部门"), "archive_phone": N_("联系电话"), "note": N_("情况说明")},
    "hukou": {"hukou_type": N_("户口迁移类型"), "division_name": N_("户口迁移所在地"), "hukou_address": N_("户口迁移地址"),
              "note": N_("情况说明")},
}
HIDDEN_INFO_KEYS = {"division_code", "attachment_ids"}


@dataclass
class Section:
    """One block the graduate checks: its rows and when it was reported (CNF-2)."""

    part: str
    title: str
    rows: list[tuple[str, str]]
    reported_at: datetime | None

    def reported_on(self) -> str:
        return china_time(self.reported_at, _(DATE_FORMAT))

    def as_json(self) -> dict[str, Any]:
        return {"part": self.part, "title": self.title, "rows": [{"label": k, "value": v} for k, v in self.rows],
                "reported_at": iso(self.reported_at), "reported_on": self.reported_on()}


@dataclass
class Snapshot:
    """What the page shows of a graduate's destination, archive and hukou info, and a version of it."""

    destination: Section | None
    archive: Section | None
    hukou: Section | None
    hukou_needed: bool  # 户口未转入学校：仅需确认毕业去向及档案信息 (seed 004)
    version: str = field(default="")

    def sections(self) -> list[Section]:
        return [s for s in (self.destination, self.archive, self.hukou) if s is not None]

    def parts(self) -> tuple[str, ...]:
        """The parts that exist, and so may be ticked as wrong (CNF-3)."""
        return tuple(s.part for s in self.sections())


def _agreement_rows(session: Session, agreement: Agreement) -> list[tuple[str, str]]:
    fields = agreement.fields or {}
    employer = session.get(Employer, agreement.employer_id) if agreement.employer_id else None
    category = dicts.destination_category("agreement") or {}
    rows = [("毕业去向", category.get("name", "签就业协议形式就业")),
            ("单位名称", employer.name if employer is not None else str(fields.get("employer_name", ""))),
            ("岗位名称", str(fields.get("position", ""))), ("工作地点", str(fields.get("work_place", "")))]
    if agreement.agreement_no:
        rows.append(("协议编号", agreement.agreement_no))
    return [(k, v) for k, v in rows if v]


def _record_rows(record: DestinationRecord) -> list[tuple[str, str]]:
    dest_type = dicts.destination_type(record.dest_type) or {}
    labels = dicts.destination_fields()
    rows = [("毕业去向", dest_type.get("name", record.dest_type))]
    for name, value in (record.fields or {}).items():
        if value not in (None, "") and name in labels:
            rows.append((labels[name]["label"], str(value)))
    return rows


def destination_section(session: Session, graduate_id: int) -> tuple[Section | None, str]:
    """DST-4: the one effective destination, or None; the second value goes into the version."""
    effective = session.get(EffectiveDestination, graduate_id)
    if effective is None:
        return None, "none"
    rows: list[tuple[str, str]] = []
    touched: datetime | None = None
    if effective.kind == "agreement":
        agreement = session.get(Agreement, effective.record_id)
        if agreement is not None:
            rows, touched = _agreement_rows(session, agreement), agreement.updated_at
    else:
        record = session.get(DestinationRecord, effective.record_id)
        if record is not None:
            rows, touched = _record_rows(record), record.updated_at
    section = Section("destination", "毕业去向", rows, effective.since)
    return section, f"{effective.kind}:{effective.record_id}:{touched}"


def _info_rows(info: RegisteredInfo) -> list[tuple[str, str]]:
    labels = INFO_LABELS.get(info.kind, {})
    fields = {k: v for k, v in (info.fields or {}).items()
              if k not in HIDDEN_INFO_KEYS and v not in (None, "") and not isinstance(v, (list, dict))}
    known = [(labels[k], str(fields[k])) for k in labels if k in fields]
    return known + [(k, str(v)) for k, v in fields.items() if k not in labels]


def info_section(session: Session, graduate_id: int, kind: str) -> tuple[Section | None, str]:
    info = current_info(session, graduate_id, kind)
    if info is None:
        return None, "none"
    title = "档案转递信息" if kind == "archive" else "户口迁移信息"
    return Section(kind, title, _info_rows(info), info.created_at), f"{info.id}:{info.updated_at}"


def snapshot(session: Session, graduate: Graduate) -> Snapshot:
    destination, d_key = destination_section(session, graduate.id)
    archive, a_key = info_section(session, graduate.id, "archive")
    hukou, h_key = info_section(session, graduate.id, "hukou")
    digest = hashlib.sha256(f"{d_key}|{a_key}|{h_key}".encode()).hexdigest()[:16]
    return Snapshot(destination, archive, hukou, hukou_needed=bool(graduate.hukou_in_school) or hukou is not None,
                    version=digest)


# -- state -------------------------------------------------------------------------------------------
def status_of(row: Confirmation | None) -> str:
    if row is None or (row.status == "reconfirm" and row.confirmed_at is None):
        return "unconfirmed"
    return row.status


def missing_updates(row: Confirmation | None) -> list[str]:
    """CNF-3: the parts reported wrong that have not been updated since the report."""
    if row is None or row.status != "error_reported":
        return []
    return [p for p in PARTS if p in (row.error_parts or {}) and p not in (row.changed_parts or [])]


def error_report(row: Confirmation | None) -> list[dict[str, str]]:
    if row is None or row.status != "error_reported":
        return []
    return [{"part": p, "title": PART_LABELS[p], "explanation": str((row.error_parts or {})[p])}
            for p in PARTS if p in (row.error_parts or {})]


def state(session: Session, graduate: Graduate) -> dict[str, Any]:
    """Everything the page and GET /me/confirmation show (CNF-1, CNF-2, CNF-5)."""
    snap = snapshot(session, graduate)
    row = session.get(Confirmation, graduate.id)
    status = status_of(row)
    available = snap.destination is not None
    changed = [p for p in PARTS if p in ((row.changed_parts or []) if row is not None else [])]
    return {
        "snapshot": snap, "row": row, "available": available, "reason": None if available else NOT_AVAILABLE,
        "status": status, "status_label": STATUS_LABELS[status],
        "confirmed_at": row.confirmed_at if row is not None else None,
        "changed_parts": changed, "error_report": error_report(row),
        "error_mobile": row.error_mobile if row is not None and row.status == "error_reported" else None,
        "missing_updates": missing_updates(row),
        "may_confirm": available and status != "confirmed" and not missing_updates(row),
        "may_report_error": available and status != "error_reported",
        "may_revoke": status == "error_reported",
    }


# -- acts -----------------------------------------------------------------------------------------------
def _own(session: Session, actor: Actor, graduate_id: int) -> Graduate:
    if not POLICY.is_graduate(actor) or actor.graduate_id != graduate_id:
        raise Forbidden("只有毕业生本人可以进行去向登记确认")
    graduate = session.get(Graduate, graduate_id)
    if graduate is None or graduate.deleted_at is not None:
        raise Forbidden("只有毕业生本人可以进行去向登记确认")
    return graduate


def _locked_row(session: Session, graduate_id: int) -> Confirmation | None:
    """The row, locked for this step on PostgreSQL (SQLite's step already holds the write lock)."""
    return session.get(Confirmation, graduate_id, with_for_update=True)


def _note(session: Session, actor: Actor, title: str, body: str) -> None:
    """Every confirm / report / revoke leaves a message in the graduate's message centre: the trail."""
    if actor.id is not None:
        session.add(Message(account_id=actor.id, title=title, body=body))


def confirm(session: Session, actor: Actor, graduate_id: int, info_version: str | None = None) -> Confirmation:
    """信息无误，确认登记去向 (CNF-2); again after an update (CNF-3), a revoke (CNF-4) or a change (CNF-5)."""
    graduate = _own(session, actor, graduate_id)
    row = _locked_row(session, graduate_id)
    snap = snapshot(session, graduate)
    if snap.destination is None:
        raise Conflict(NOT_AVAILABLE)  # CNF-1
    status = status_of(row)
    if status == "confirmed":
        raise Conflict("你已确认登记去向，无需重复确认")
    if info_version and info_version != snap.version:
        raise Conflict("你的去向登记信息刚刚有更新，请重新核对后再确认")
    missing = missing_updates(row)
    if missing:
        names = "、".join(PART_LABELS[p] for p in missing)
        raise Conflict(_("你报告有误的%(names)s尚未更新：请先按之前的登记方式更新信息后再确认；如实际信息无误，请点击“实际信息无误，撤销确认”", names=names))
    now = utcnow()
    if row is None:
        row = Confirmation(graduate_id=graduate_id, status="confirmed", confirmed_at=now, error_parts={},
                           changed_parts=[])
        new_row = row
        unique_write(session, lambda: session.add(new_row), "你已确认登记去向，请刷新页面")
    else:
        row.status, row.confirmed_at = "confirmed", now
        row.error_parts, row.error_mobile, row.changed_parts = {}, None, []
    _note(session, actor, "已确认登记去向", f"你已于{china_time(now)}确认毕业去向、档案转递和户口迁移信息无误。"
          "如信息再有变化，需重新确认。")
    return row


def report_error(session: Session, actor: Actor, graduate_id: int, clean: dict[str, Any]) -> Confirmation:
    """信息有误，需更新后确认 (CNF-3): what is wrong, why, and a mobile number."""
    graduate = _own(session, actor, graduate_id)
    row = _locked_row(session, graduate_id)
    snap = snapshot(session, graduate)
    if snap.destination is None:
        raise Conflict(NOT_AVAILABLE)  # CNF-1
    if status_of(row) == "error_reported":
        raise Conflict("你已报告信息有误：请更新信息后再确认；如需改报，请先点击“实际信息无误，撤销确认”")
    errors: dict[str, str] = clean["errors"]
    absent = [p for p in errors if p not in snap.parts()]
    if not errors or absent:
        message = f"{PART_LABELS.get(absent[0], absent[0])}尚未登记，不能选择" if absent else "请选择错误信息情况"
        raise ValidationFailed(message, details={"parts": [message]})
    if row is None:
        row = Confirmation(graduate_id=graduate_id, status="error_reported", confirmed_at=None,
                           error_parts=dict(errors), error_mobile=clean["mobile"], changed_parts=[])
        new_row = row
        unique_write(session, lambda: session.add(new_row), "你的确认状态刚刚有变化，请刷新页面")
    else:
        # From the report on, changed_parts lists what has been updated since (the graduate confirms again then).
        row.status, row.error_parts, row.error_mobile, row.changed_parts = "error_reported", dict(errors), \
            clean["mobile"], []
    body = "；".join(f"{PART_LABELS[p]}：{errors[p]}" for p in PARTS if p in errors)
    _note(session, actor, "已提交去向登记信息有误", f"{body}。请按之前的登记方式更新为正确信息后，再次进行登记确认。")
    return row


def revoke(session: Session, actor: Actor, graduate_id: int) -> Confirmation:
    """实际信息无误，撤销确认 (CNF-4): the error report is withdrawn; the graduate then confirms."""
    _own(session, actor, graduate_id)
    row = _locked_row(session, graduate_id)
    if row is None or row.status != "error_reported":
        raise Conflict("没有可撤销的信息有误报告")
    row.status, row.error_parts, row.error_mobile = "reconfirm", {}, None
    _note(session, actor, "已撤销信息有误的报告", "请重新核对信息，选择“信息无误，确认登记去向”提交。")
    return row

