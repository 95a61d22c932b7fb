"""The e-agreement PDF of one agreement (DOC-1): its context, its cache, and who may read it.

Rendering runs from the outbox (kind `agreement.render_pdf`, written by the step that approves the
agreement): inline in the embedded default, as the task `gradflow.render_agreement` on the `documents`
queue in production, so renders never hold up notifications; the result is cached per content key, so a
change of fields, number or template renders again and an unchanged one never does.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import public_base_url
from core.errors import Conflict, NotFound
from core.timefmt import china_date
from domain import blobs, dicts
from domain.access import POLICY
from domain.models import Agreement, AgreementDocument, Employer, Graduate
from engine.models import OutboxMessage
from engine.services import Actor, Offloaded, Sender

from .documents import render_agreement_pdf, template_version


def check_url(agreement: Agreement) -> str:
    """The public 协议核验 page for this agreement (the QR code opens it with the number filled in)."""
    return f"{public_base_url()}/agreements/check?no={agreement.agreement_no}"


DOWNLOADABLE = {"agreement_approved", "signing_review", "signed", "terminated"}


def context(session: Session, agreement: Agreement) -> dict[str, Any]:
    graduate = session.get(Graduate, agreement.graduate_id)
    assert graduate is not None, "agreement.graduate_id is a foreign key"
    f = agreement.fields or {}
    employer: dict[str, Any]
    if agreement.employer_id:
        e = session.get(Employer, agreement.employer_id)
        assert e is not None, "agreement.employer_id is a foreign key"
        employer = {"name": e.name, "credit_code": e.credit_code,
                    "nature": dicts.name_of(dicts.unit_natures(), e.nature) or e.nature,
                    "industry": dicts.name_of(dicts.industries(), e.industry) or e.industry, "address": e.address,
                    "contact": e.contact, "phone": e.phone or "", "mobile": e.mobile, "email": e.email or ""}
    else:
        employer = {"name": f.get("employer_name", ""), "credit_code": f.get("credit_code", ""),
                    "nature": f.get("nature_name", ""), "industry": f.get("industry_name", ""),
                    "address": f.get("employer_address", ""), "contact": f.get("contact", ""),
                    "phone": f.get("landline", ""), "mobile": f.get("mobile", ""), "email": f.get("email", "")}
    job = {k: str(f.get(k, "") if f.get(k) is not None else "") for k in (
        "position", "work_place", "trial_months", "salary_trial", "salary_regular", "penalty", "report_place",
        "report_deadline", "archive_type", "archive_unit", "archive_address", "archive_contact", "archive_phone",
        "archive_postcode", "hukou_type", "hukou_address",
        "supplement")}
    job["job_category"] = f.get("job_category_name") or f.get("job_category", "")
    return {
        "agreement_type": agreement.agreement_type or graduate.school.province.agreement_type,
        "agreement_no": agreement.agreement_no or "",
        "graduate": {"name": graduate.name, "gender": graduate.gender, "id_number": graduate.id_number,
                     "school_name": graduate.school.name, "education": graduate.education, "major": graduate.major,
                     "student_no": graduate.student_no, "phone": graduate.phone or "", "email": graduate.email or "",
                     "origin": graduate.origin_name},
        "employer": employer,
        "school": {"name": graduate.school.name, "department": graduate.department.name},
        "job": job,
        "signed_at": china_date(agreement.signed_at),  # the date in Beijing, not UTC
        "verify_line": (f"协议编号 {agreement.agreement_no}，凭协议编号和毕业生姓名在 {check_url(agreement)} 核验"
                        if agreement.agreement_no else ""),
    }


def content_key(ctx: dict[str, Any]) -> str:
    raw = json.dumps(ctx, ensure_ascii=False, sort_keys=True) + template_version()
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def cached(session: Session, agreement: Agreement) -> AgreementDocument | None:
    key = content_key(context(session, agreement))
    return session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id,
                                                          AgreementDocument.content_key == key))


def render_and_cache(session: Session, agreement_id: int) -> AgreementDocument:
    """Idempotent: a second call for unchanged content returns the cached document."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound("协议不存在")
    ctx = context(session, agreement)
    key = content_key(ctx)
    found = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id,
                                                           AgreementDocument.content_key == key))
    if found is not None:
        return found
    started = time.perf_counter()
    pdf = render_agreement_pdf(ctx)
    doc = AgreementDocument(agreement_id=agreement.id, content_key=key, storage_key=blobs.put(session, pdf),
                            render_ms=int((time.perf_counter() - started) * 1000))
    try:
        with session.begin_nested():
            session.add(doc)
    except IntegrityError:  # another worker cached the same content meanwhile
        other = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id,
                                                                AgreementDocument.content_key == key))
        assert other is not None, "the unique (agreement_id, content_key) that refused ours is the other's row"
        return other
    return doc


def readable(session: Session, actor: Actor, agreement_id: int) -> Agreement:
    """Preview/download: the graduate, the employer of an online agreement, and reviewers in scope."""
    agreement = POLICY.agreement(session, actor, agreement_id)
    if agreement.kind == "paper":
        raise Conflict("纸质协议没有电子就业协议书，请查看上传的协议书图片")
    if agreement.status not in DOWNLOADABLE:
        raise Conflict("协议审核通过后才能下载就业协议书")
    return agreement


def render_from_outbox(row: OutboxMessage, session: Session) -> None:
    render_and_cache(session, row.payload["agreement_id"])


# production: the deliverer queues `gradflow.render_agreement` (queue `documents`) instead of rendering
SENDERS: dict[str, Sender] = {"agreement.render_pdf": Offloaded("gradflow.render_agreement",
                                                                lambda row: (row.payload["agreement_id"],),
                                                                inline=render_from_outbox,
                                                                on_demand=True)}  # first download renders too
