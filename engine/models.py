"""Engine tables: process versions, instances, the inbox projection, audit, outbox."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, make_transient_to_detached, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from core.db import Base, BigId, Timestamped, utcnow
from engine.serialization import decode_state, encode_state


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
    next_timer_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    process_version: Mapped[ProcessVersion] = relationship()
    # The workflow state lives in its own row (issue 11): a query over instances never reads it, a step loads it
    # by primary key when it needs the workflow.
    state: Mapped[InstanceState | None] = relationship(back_populates="instance", cascade="all, delete-orphan",
                                                       uselist=False)

    __mapper_args__ = {"version_id_col": version}
    # The timer job asks for the earliest due running instance: served by one index scan.
    __table_args__ = (Index("ix_process_instance_due", "status", "next_timer_at"),)

    @property
    def serialized(self) -> str:
        """The workflow as spec-less JSON (engine.serialization), decoded from the state row."""
        return decode_state(self.state.data) if self.state is not None else "{}"

    @serialized.setter
    def serialized(self, text: str) -> None:
        """Store new state: compacted once the instance has finished. The instance row is touched too, so its
        optimistic version moves with every change of state (the runner's workflow cache relies on it)."""
        data = encode_state(text, finished=self.status in FINISHED)
        state = self._state_to_overwrite()
        if state is None:
            self.state = InstanceState(data=data, size=len(data))
        else:
            state.data, state.size = data, len(data)
        self.updated_at = utcnow()

    def _state_to_overwrite(self) -> InstanceState | None:
        """The state row to write over, without reading it when it is not loaded (a step that took its workflow
        from the runner's cache): every stored instance has one, so an UPDATE by key that matches no row is an
        error (StaleDataError), never a lost write."""
        insp = sa_inspect(self)
        session = insp.session
        if "state" in insp.dict or session is None or not insp.persistent:
            return self.state
        key = identity_key(InstanceState, (self.id,))
        state = session.identity_map.get(key)
        if state is None:
            state = InstanceState(instance_id=self.id)
            make_transient_to_detached(state)
            session.add(state)
        set_committed_value(self, "state", state)
        return state


FINISHED = ("completed", "terminated")


class InstanceState(Base):
    """The stored workflow of one instance: zlib of the compact spec-less JSON (engine.serialization)."""

    __tablename__ = "instance_state"

    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)  # len(data): what the instance costs in storage
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)

    instance: Mapped[ProcessInstance] = relationship(back_populates="state")


INBOX_INCLUDE = ["optional", "assignee_id", "process_id"]  # what the inbox counts filter by besides the keys


class WorkItem(Base):
    """The inbox projection: one row per user task that is or was open."""

    __tablename__ = "work_item"
    __table_args__ = (
        # a department's / a school's inbox page in created_at order straight from an index (issue 10); the
        # counts read only the index (PostgreSQL INCLUDE, migration 0023); the 已审核 tab in decision order
        Index("ix_work_item_department", "role", "state", "department_id", "created_at", "id",
              postgresql_include=INBOX_INCLUDE),
        Index("ix_work_item_school", "role", "state", "school_id", "created_at", "id",
              postgresql_include=[*INBOX_INCLUDE, "department_id"]),
        Index("ix_work_item_department_done", "role", "department_id", "state", "completed_at", "id"),
        Index("ix_work_item_school_done", "role", "school_id", "state", "completed_at", "id"),
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
    cohort: Mapped[int | None] = mapped_column(Integer)  # the instance's 届: a season's partition key (0023)


@event.listens_for(AuditEvent, "before_insert")
def _audit_cohort(mapper: Any, connection: Connection, event_row: AuditEvent) -> None:
    """An audit event carries its instance's cohort, from the session when the instance is there (every step
    has it loaded), else read by key: no caller has to remember it."""
    if event_row.cohort is not None:
        return
    session = sa_inspect(event_row).session
    instance = session.identity_map.get(identity_key(ProcessInstance, (event_row.instance_id,))) if session else None
    event_row.cohort = (instance.cohort if instance is not None else connection.scalar(
        select(ProcessInstance.cohort).where(ProcessInstance.id == event_row.instance_id)))


OUTBOX_PENDING = "delivered_at IS NULL AND failed_at IS NULL"
OUTBOX_DELIVERED = "delivered_at IS NOT NULL"


class OutboxMessage(Base):
    """A side effect written in the step's transaction and delivered later, once.

    Rows with the same `ordering_key` (e.g. ``graduate:42`` for the PRV-3 data sync) are delivered in id
    order: a row waits while an earlier one of its key is undelivered. `failed_at` marks a row the deliverer
    gave up on (an admin may retry it); a row whose sender retries forever never gets it.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_ordering_key_id", "ordering_key", "id"),
                      # the backlog only (migration 0026): the deliverer reads it in id order
                      Index("ix_outbox_message_pending", "id", postgresql_where=text(OUTBOX_PENDING),
                            sqlite_where=text(OUTBOX_PENDING)),
                      Index("ix_outbox_message_delivered", "delivered_at",  # the retention purge
                            postgresql_where=text(OUTBOX_DELIVERED), sqlite_where=text(OUTBOX_DELIVERED)))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    instance_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    ordering_key: Mapped[str | None] = mapped_column(String(60))
    sequence: Mapped[int | None] = mapped_column(Integer)  # the n-th row of its ordering key (1, 2, ...)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime)
