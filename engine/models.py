"""Engine tables: process versions, instances, the inbox projection, audit, outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigId, Timestamped, utcnow


class ProcessVersion(Base):
    """One deployed version of a process: the sha256 of the files it needs, and their text."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    files: Mapped[dict[str, str]] = mapped_column(JSON)  # {filename: bpmn text}
    deployed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProcessInstance(Timestamped, Base):
    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    graduate_id: Mapped[int | None] = mapped_column(Integer, index=True)
    employer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    school_id: Mapped[int | None] = mapped_column(Integer, index=True)
    department_id: Mapped[int | None] = mapped_column(Integer, index=True)
    cohort: Mapped[int | None] = mapped_column(Integer, index=True)  # the season (届) it belongs to
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)  # running|suspended|completed|terminated
    status_label: Mapped[str] = mapped_column(String(100), default="")
    category: Mapped[str] = mapped_column(String(100), default="")  # e.g. destination type, for lists
    subject_name: Mapped[str] = mapped_column(String(100), default="")  # graduate's name, copied to work items
    subject_no: Mapped[str] = mapped_column(String(50), default="")  # 学号
    serialized: Mapped[str] = mapped_column(Text)
    next_timer_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    process_version: Mapped[ProcessVersion] = relationship()

    __mapper_args__ = {"version_id_col": version}
    # The timer job asks for the earliest due running instance: served by one index scan.
    __table_args__ = (Index("ix_process_instance_due", "status", "next_timer_at"),)


class WorkItem(Base):
    """The inbox projection: one row per user task that is or was open."""

    __tablename__ = "work_item"
    __table_args__ = (
        # a department's / a school's inbox page in created_at order straight from an index (issue 10)
        Index("ix_work_item_department", "role", "state", "department_id", "created_at", "id"),
        Index("ix_work_item_school", "role", "state", "school_id", "created_at", "id"),
        Index("ix_work_item_graduate", "graduate_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    task_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))  # lane: Graduate, Department, School, Employer
    form_key: Mapped[str] = mapped_column(String(100), default="")
    status_label: Mapped[str] = mapped_column(String(100), default="")
    optional: Mapped[bool] = mapped_column(default=False)  # an offered action, not a to-do
    state: Mapped[str] = mapped_column(String(20), default="open")  # open|completed|cancelled
    graduate_id: Mapped[int | None] = mapped_column(Integer)
    employer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    school_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    cohort: Mapped[int | None] = mapped_column(Integer)  # copied from the instance
    subject_name: Mapped[str] = mapped_column(String(100), default="")  # graduate's name, for search
    subject_no: Mapped[str] = mapped_column(String(50), default="")  # 学号
    category: Mapped[str] = mapped_column(String(100), default="")
    process_id: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_by: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(20))
    # An admin's reassignment (issue 10): only this account of the item's scope sees and works it while open;
    # None: every account of the scope does.
    assignee_id: Mapped[int | None] = mapped_column(Integer)


class AuditEvent(Base):
    """Append-only: one row per step (and per reviewer edit), never updated."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(50))  # start|complete|withdraw|timer|edit|void
    task_name: Mapped[str] = mapped_column(String(100), default="")
    task_title: Mapped[str] = mapped_column(String(200), default="")
    decision: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    data_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    data_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class OutboxMessage(Base):
    """A side effect written in the step's transaction and delivered later, once.

    Rows with the same `ordering_key` (e.g. ``graduate:42`` for the PRV-3 data sync) are delivered in id
    order: a row waits while an earlier one of its key is undelivered. `failed_at` marks a row the deliverer
    gave up on (an admin may retry it); a row whose sender retries forever never gets it.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_ordering_key_id", "ordering_key", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    ordering_key: Mapped[str | None] = mapped_column(String(60))
    sequence: Mapped[int | None] = mapped_column(Integer)  # the n-th row of its ordering key (1, 2, ...)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime)
