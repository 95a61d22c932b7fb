"""Tables of 核验授权 (VER): the graduate's reports, the school's transfer codes, every public look-up,
and the rendered report PDFs (migration 0008)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamped, utcnow


class VerificationReport(Timestamped, Base):
    """One verification report (核验报告) of one kind, archive or hukou (VER-1, VER-2).

    Its validity is worked out when it is read (services.report_state): closed, past its date, or
    suspended while the graduate's confirmation does not hold (VER-6). A closed or replaced report
    stays, for history; `active_key` ("graduate:kind") is set while it is not, so a unique key allows
    one current report per graduate and kind.
    """

    __tablename__ = "verification_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # archive | hukou
    code: Mapped[str] = mapped_column(String(15), unique=True)  # 核验编号
    valid_until: Mapped[date] = mapped_column(Date)  # 有效期至, through 23:59:59 China time
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | closed | replaced
    active_key: Mapped[str | None] = mapped_column(String(30), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class TransferCode(Timestamped, Base):
    """A 转递编号 the school issues when it sends a graduate's archive (VER-7); one per graduate."""

    __tablename__ = "transfer_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), unique=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)
    valid_until: Mapped[date] = mapped_column(Date)  # 31 March of the year after graduation
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


class VerificationLookup(Base):
    """Every public look-up (VER-8): who asked, for which code (as a digest), and what was answered."""

    __tablename__ = "verification_lookup"
    __table_args__ = (Index("ix_verification_lookup_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64))  # the client address
    code_digest: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the code as entered
    report_id: Mapped[int | None] = mapped_column(Integer, index=True)
    transfer_code_id: Mapped[int | None] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String(10))  # page | pdf
    outcome: Mapped[str] = mapped_column(String(10))  # found | none
    # Why none (never shown to the asker): unknown | name | closed | expired | suspended | no_info
    reason: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VerificationDocument(Base):
    """A rendered report PDF (DOC-2), keyed by its content: a change of info or template renders again."""

    __tablename__ = "verification_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), index=True)
    content_key: Mapped[str] = mapped_column(String(64), unique=True)
    storage_key: Mapped[str | None] = mapped_column(String(64))  # the PDF in the blob store (domain.blobs)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)  # only on rows from before 0019
    render_ms: Mapped[int] = mapped_column(Integer, default=0)
    rendered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
