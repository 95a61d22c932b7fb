"""Employer self-registration with verification (issue 12): a pending registration and credit-code disputes.

Nothing of an employer exists until its contact has proved the address: `employer_registration` holds the
filled form (the password already hashed) and a 6-digit code sent to the contact's mobile or e-mail; only a
right code within its lifetime creates the `employer` and its `account`. A credit code already registered
cannot be taken again: the verified applicant may file a `credit_code_dispute`, which the province or an
admin approves (the code moves to the applicant) or rejects (it stays).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class EmployerRegistration(Base):
    """One registration attempt, identified to its client by a random `token` (never by its id)."""

    __tablename__ = "employer_registration"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    fields: Mapped[dict] = mapped_column(JSON)  # the employer fields of the form (division_code included)
    username: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(10))  # sms | email
    target: Mapped[str] = mapped_column(String(100))  # the mobile number or e-mail address the code went to
    code_hash: Mapped[str] = mapped_column(String(64))
    code_expires_at: Mapped[datetime] = mapped_column(DateTime)
    code_sent_at: Mapped[datetime] = mapped_column(DateTime)
    codes_sent: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong codes entered for the current code
    verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"))  # set once the account exists
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class CreditCodeDispute(Base):
    """A verified applicant claims a 统一社会信用代码 another account holds; the province or an admin decides."""

    __tablename__ = "credit_code_dispute"
    __table_args__ = (Index("ix_credit_code_dispute_status", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("employer_registration.id"), unique=True)
    credit_code: Mapped[str] = mapped_column(String(18))
    holder_employer_id: Mapped[int] = mapped_column(ForeignKey("employer.id"))  # who held the code when filed
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | rejected
    decided_by: Mapped[int | None] = mapped_column(Integer)  # account id
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str | None] = mapped_column(String(200))
    new_employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"))  # on approval
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditMaintenance(Base):
    """Empty in normal operation. The append-only triggers on the audit tables (migration 0018) let an
    UPDATE or DELETE through only while a row exists here, inside the same transaction: the test cleanup
    and a documented retention job insert one, act, and delete it. The application's PostgreSQL role has no
    grant on this table (docs/BACKUP.md), so it cannot unlock the log."""

    __tablename__ = "audit_maintenance"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(100))
