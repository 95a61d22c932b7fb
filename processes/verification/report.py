"""The verification report (去向登记信息表, seed 001 图45; rules VER-3, DOC-2): its sections for the web
page and the PDF, the PDF itself with its QR code, and the PDF cache.

Sections: basic info, the effective destination, and the archive transfer info (档案登记信息表) or the
hukou migration info (户口登记信息表); a section with nothing registered is left out. The content is read
when the report is shown — what the graduate confirmed, since a change suspends the report (VER-6).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import public_base_url
from domain import blobs, dicts
from domain import pdf as shared_pdf
from domain.graduate_info import current_info
from domain.models import Agreement, DestinationRecord, EffectiveDestination, Employer, Graduate

from .models import VerificationDocument
from .services import ARCHIVE, HUKOU

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates_pdf"
TITLE = "全国普通高等学校毕业生去向登记信息"
SUBTITLES = {ARCHIVE: "档案登记信息表", HUKOU: "户口登记信息表"}
AGREEMENT_DESTINATION = "签就业协议形式就业"

Row = tuple[str, str]


@dataclass
class Section:
    title: str
    rows: list[Row]
    element_id: str

    def pairs(self) -> list[list[Row]]:
        """Rows two to a line, as 图45 lays them out; long values (names, addresses) take a line alone."""
        out: list[list[Row]] = []
        pending: list[Row] = []
        for label, value in self.rows:
            if len(value) > 12 or label in WIDE:
                if pending:
                    out.append(pending)
                    pending = []
                out.append([(label, value)])
            else:
                pending.append((label, value))
                if len(pending) == 2:
                    out.append(pending)
                    pending = []
        if pending:
            out.append(pending)
        return out


WIDE = {"毕业院校", "生源所在地", "单位名称", "单位所在地", "详细地址", "升学院校", "户口迁移地址", "户口迁移所在地"}


@dataclass
class ReportContent:
    kind: str
    code_label: str  # 核验编号 | 转递编号
    code: str
    valid_until: str
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return TITLE

    @property
    def subtitle(self) -> str:
        return SUBTITLES[self.kind]

    @property
    def check_url(self) -> str:
        """What the QR code holds: the public check page with this code filled in."""
        return check_url(self.code)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "subtitle": self.subtitle, "code_label": self.code_label,
                "code": self.code, "valid_until": self.valid_until, "check_url": self.check_url,
                "sections": [{"title": s.title, "rows": [list(r) for r in s.rows]} for s in self.sections],
                "notes": self.notes}


def check_url(code: str) -> str:
    return f"{public_base_url()}/verify?{urlencode({'code': code})}"


def _rows(pairs: list[tuple[str, Any]]) -> list[Row]:
    return [(label, str(value).strip()) for label, value in pairs if value is not None and str(value).strip()]


def basic_section(graduate: Graduate) -> Section:
    return Section("基本信息", _rows([
        ("姓名", graduate.name), ("性别", graduate.gender), ("毕业院校", graduate.school.name),
        ("毕业时间", graduate.graduates_on), ("学制", graduate.duration), ("专业", graduate.major),
        ("学历", graduate.education), ("生源所在地", graduate.origin_name),
    ]), "section-basic")


def destination_section(session: Session, graduate: Graduate) -> Section | None:
    """The effective destination (DST-4): an approved agreement or an approved other destination."""
    effective = session.get(EffectiveDestination, graduate.id)
    if effective is None:
        return None
    rows: list[tuple[str, Any]] = []
    if effective.kind == "agreement":
        agreement = session.get(Agreement, effective.record_id)
        if agreement is None:
            return None
        f = agreement.fields or {}
        employer = session.get(Employer, agreement.employer_id) if agreement.employer_id else None
        rows = [("毕业去向", AGREEMENT_DESTINATION),
                ("单位名称", employer.name if employer is not None else f.get("employer_name")),
                ("单位所在地", f.get("work_place") or (employer.address if employer is not None
                                                       else f.get("employer_address")))]
    else:
        record = session.get(DestinationRecord, effective.record_id)
        if record is None:
            return None
        f = record.fields or {}
        kind = dicts.destination_type(record.dest_type)
        rows = [("毕业去向", kind["name"] if kind else record.dest_type)]
        if f.get("school_name"):
            rows += [("升学院校", f.get("school_name")), ("升学专业", f.get("major"))]
        rows += [("单位名称", f.get("unit_name")), ("单位所在地", f.get("unit_address")),
                 ("国家（地区）", f.get("country"))]
    section = Section("毕业去向信息", _rows(rows), "section-destination")
    return section if section.rows else None


def archive_section(session: Session, graduate: Graduate) -> Section | None:
    info = current_info(session, graduate.id, ARCHIVE)
    if info is None:
        return None
    f = info.fields or {}
    place = f.get("division_name") or f.get("archive_address")
    section = Section("档案转递信息", _rows([
        ("档案转递类型", f.get("archive_type")), ("单位名称", f.get("archive_unit")), ("单位所在地", place),
        ("详细地址", f.get("archive_address") if f.get("division_name") else None),
        ("单位邮编", f.get("archive_postcode")), ("联系人/联系部门", f.get("archive_contact")),
        ("联系电话", f.get("archive_phone")),
    ]), "section-archive")
    return section if section.rows else None


def hukou_section(session: Session, graduate: Graduate) -> Section | None:
    info = current_info(session, graduate.id, HUKOU)
    if info is None:
        return None
    f = info.fields or {}
    section = Section("户口迁移信息", _rows([
        ("户口迁移类型", f.get("hukou_type")),
        ("户口迁移所在地", f.get("division_name")),
        ("户口迁移地址", f.get("hukou_address")),
    ]), "section-hukou")
    return section if section.rows else None


def notes(code_label: str) -> list[str]:
    until = ("通过转递编号查询核验服务时间截止到毕业生毕业时间的第二年3月31日。" if code_label == "转递编号"
             else "查询核验服务时间截止到毕业生的毕业时间加六个月。")
    return [
        "登记信息由毕业去向登记与网上签约平台提供。",
        f"核验方式：①前往 {public_base_url()}/verify，正确输入毕业生姓名和{code_label}进行核验；"
        "②扫描本表二维码，输入毕业生姓名进行核验。",
        "登记信息来自于毕业生离校时上报的信息，如有问题请联系毕业生核实。",
        until,
    ]


def content(session: Session, graduate: Graduate, kind: str, code: str, valid_until: date,
            code_label: str = "核验编号") -> ReportContent:
    sections = [basic_section(graduate), destination_section(session, graduate),
                archive_section(session, graduate) if kind == ARCHIVE else hukou_section(session, graduate)]
    return ReportContent(kind=kind, code_label=code_label, code=code,
                         valid_until=f"{valid_until.isoformat()} 23:59:59",
                         sections=[s for s in sections if s is not None], notes=notes(code_label))


# -- the PDF (DOC-2) ---------------------------------------------------------------------------------------
_env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


qr_data_uri = shared_pdf.qr_data_uri


def render_html(report: ReportContent) -> str:
    return _env.get_template("report.html").render(
        report=report, sections=report.sections, qr=qr_data_uri(report.check_url),
        font_family=shared_pdf.FONT_NAME)


def render_pdf(report: ReportContent) -> bytes:
    return shared_pdf.html_to_pdf(render_html(report), "verification report PDF")


def content_key(report: ReportContent) -> str:
    raw = json.dumps(report.as_dict(), ensure_ascii=False, sort_keys=True)
    raw += shared_pdf.template_digest(TEMPLATE_DIR, shared_pdf.find_cjk_font())
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def pdf_of(session: Session, graduate_id: int, report: ReportContent) -> bytes:
    """The cached PDF of this content, rendered once (a change of info, code or template renders again)."""
    key = content_key(report)
    found = session.execute(select(VerificationDocument.storage_key, VerificationDocument.pdf)
                            .where(VerificationDocument.content_key == key)).first()
    if found is not None:
        return blobs.read(session, found.storage_key, found.pdf)
    started = time.perf_counter()
    data = render_pdf(report)
    doc = VerificationDocument(graduate_id=graduate_id, content_key=key, storage_key=blobs.put(session, data),
                               render_ms=int((time.perf_counter() - started) * 1000))
    try:
        with session.begin_nested():
            session.add(doc)
    except IntegrityError:  # another request cached the same content meanwhile
        pass
    return data
