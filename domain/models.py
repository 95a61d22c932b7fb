"""Domain tables: organisations, graduates, accounts, destinations, attachments, messages."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from core.db import Base, BigId, Timestamped, utcnow


class Province(Timestamped, Base):
    __tablename__ = "province"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)  # GB/T 2260, e.g. 350000
    name: Mapped[str] = mapped_column(String(50))
    agreement_type: Mapped[str] = mapped_column(String(20), default="three_party")  # MOD-3
    enabled_modules: Mapped[list] = mapped_column(JSON, default=list)  # MOD-2


class Cohort(Timestamped, Base):
    """A 届别 (GRAD-4): one graduating year with its season's dates. Graduates, instances, work items and
    agreements carry its year, so a season can be listed, partitioned and archived on its own."""

    __tablename__ = "cohort"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # e.g. 2026 (2026届)
    name: Mapped[str] = mapped_column(String(20))  # 2026届
    starts_on: Mapped[date] = mapped_column(Date)  # the season opens (registration begins)
    ends_on: Mapped[date] = mapped_column(Date)  # the season closes (after that the cohort is history)


class School(Timestamped, Base):
    __tablename__ = "school"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    province_id: Mapped[int] = mapped_column(ForeignKey("province.id"), index=True)
    # MOD-6: department_school (院系及学校审核, default) or school_only.
    review_levels: Mapped[str] = mapped_column(String(30), default="department_school")
    open_modules: Mapped[list] = mapped_column(JSON, default=list)  # MOD-4, settings completed

    province: Mapped[Province] = relationship()


class Department(Timestamped, Base):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Graduate(Timestamped, Base):
    """One graduate's basic information for one cohort (GRAD-1)."""

    __tablename__ = "graduate"
    __table_args__ = (
        UniqueConstraint("school_id", "cohort", "id_number"),
        Index("ix_graduate_school_student_no", "school_id", "student_no"),
        # every graduate request finds the current record by 身份证号; employers find one by name + 考生号
        Index("ix_graduate_id_number", "id_number"),
        Index("ix_graduate_name_exam_no", "name", "exam_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    cohort: Mapped[int] = mapped_column(ForeignKey("cohort.year"))  # 届 (GRAD-4), e.g. 2026
    exam_no: Mapped[str] = mapped_column(String(20))  # 考生号
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(String(18))
    education: Mapped[str] = mapped_column(String(20))  # 学历
    gender: Mapped[str] = mapped_column(String(4))
    ethnicity: Mapped[str] = mapped_column(String(20))
    political_status: Mapped[str] = mapped_column(String(20))
    training_mode: Mapped[str] = mapped_column(String(10), default="非定向")  # 非定向 / 定向 / 委培
    directed_unit: Mapped[str | None] = mapped_column(String(200))  # GRAD-6, uploaded by the school
    directed_unit_address: Mapped[str | None] = mapped_column(String(200))  # GRAD-6, uploaded by the school
    origin_code: Mapped[str] = mapped_column(String(6), default="")  # 生源所在地 GB/T 2260
    origin_name: Mapped[str] = mapped_column(String(100), default="")
    enrolled_on: Mapped[str] = mapped_column(String(6))  # YYYYMM
    graduates_on: Mapped[str] = mapped_column(String(6))  # YYYYMM
    student_no: Mapped[str] = mapped_column(String(30))
    major: Mapped[str] = mapped_column(String(100))
    duration: Mapped[str] = mapped_column(String(4))  # 学制
    archive_in_school: Mapped[bool] = mapped_column(Boolean, default=False)
    hukou_in_school: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)  # GRAD-3
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)  # GRAD-5, never physically deleted

    school: Mapped[School] = relationship()
    department: Mapped[Department] = relationship()

    @property
    def directed(self) -> bool:
        return self.training_mode in {"定向", "委培"}


# Loader options: a graduate with the school (and its province) and 院系 that module checks (MOD-2/MOD-4), the
# agreement JSON and the graduate's pages read next, in the same statement (issue 11: three lazy loads before).
WITH_SCHOOL = (joinedload(Graduate.school).joinedload(School.province), joinedload(Graduate.department))


class Account(Timestamped, Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))  # graduate|department|school|province|admin|employer
    province_id: Mapped[int | None] = mapped_column(ForeignKey("province.id"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    # A graduate logs in as a person (身份证号); the cohort record is looked up at login.
    id_number: Mapped[str | None] = mapped_column(String(18), index=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"), index=True)
    # Unused since migration 0009 (tokens live in api_token, several per account, expiring); kept, emptied.
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(5), default="zh")
    # ROLE-2: per module area (basic, archive, hukou) one of rw (读写), ro (只读), none (无权限), for school and
    # department accounts; missing areas take the ROLE-2 defaults (domain.access.DEFAULT_PERMISSIONS).
    module_permissions: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    # Stored in the login session; logout and a password change bump it, so every older session cookie
    # (a copy kept from before the logout) is refused by the user loader (issue 12).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SettingChange(Base):
    """An audited change of accounts, permissions or module settings (ROLE-2, MOD-2..6), append-only."""

    __tablename__ = "setting_change"
    __table_args__ = (Index("ix_setting_change_target", "target", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(Integer)  # who changed it
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(50))  # e.g. enable_module, set_permissions, create_account
    target: Mapped[str] = mapped_column(String(20))  # province | school | account | graduate
    target_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class ApiToken(Base):
    """An API access token (POST /api/v1/token): only its SHA-256 is kept; it expires and can be revoked."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class DestinationRecord(Timestamped, Base):
    """An other-destination filing (DST); the process instance carries its steps."""

    __tablename__ = "destination_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    category: Mapped[str] = mapped_column(String(30))
    dest_type: Mapped[str] = mapped_column(String(30))
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    attachment_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|effective|rejected|voided
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime)


class EffectiveDestination(Base):
    """DST-4: at most one effective destination per graduate, enforced by a unique key.

    An approved agreement or an approved other destination claims the row; voiding
    or terminating releases it. Two concurrent approvals cannot both claim it.
    """

    __tablename__ = "effective_destination"

    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # destination|agreement
    record_id: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Attachment(Base):
    __tablename__ = "attachment"
    # the periodic sweep looks for uploads no form took up: unused ones, oldest first
    __table_args__ = (Index("ix_attachment_unused", "used_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int | None] = mapped_column(ForeignKey("graduate.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    filename: Mapped[str] = mapped_column(String(200), default="")
    mime: Mapped[str] = mapped_column(String(30))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # the bytes live in the blob store under storage_key (domain.blobs); data only on rows from before 0019
    storage_key: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # set when a submitted form first names the image; an upload still unused a day later is swept (issue 12)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class Message(Base):
    """The in-app message centre (NOTE-1, NOTE-2)."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_account_read", "account_id", "read_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    instance_id: Mapped[int | None] = mapped_column(Integer)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccessLog(Base):
    """Append-only (migration 0018) access events, by `kind` (issue 12 must-hold 6): refusal (out of scope, ROLE-1,
    and refused logins), login, logout, lookup (the public agreement check; verification look-ups have their own
    verification_lookup), step (a write no audit_event or setting_change row records)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default="refusal", server_default="refusal")
    path: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Employer(Timestamped, Base):
    """A registered organisation (用人单位), identified by its 统一社会信用代码."""

    __tablename__ = "employer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    nature: Mapped[str] = mapped_column(String(10))  # 单位性质 code (DICT-2)
    industry: Mapped[str] = mapped_column(String(4))  # GB/T 4754 section
    division_code: Mapped[str] = mapped_column(String(6))  # GB/T 2260
    address: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(20))  # 座机
    mobile: Mapped[str] = mapped_column(String(11))
    email: Mapped[str | None] = mapped_column(String(100))


class Agreement(Timestamped, Base):
    """An employment agreement (就业协议) in any of its ways: online, offline e-agreement, paper.

    Status: invited → accepted → signed (or refused / expired / rejected / void);
    signed → terminated. The process instance that created it carries its steps.
    """

    __tablename__ = "agreement"
    __table_args__ = (Index("ix_agreement_graduate_status", "graduate_id", "status"),
                      Index("ix_agreement_employer_graduate", "employer_id", "graduate_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"))
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"))  # None: offline/paper
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # online | offline | paper
    cohort: Mapped[int | None] = mapped_column(Integer, index=True)  # the graduate's 届 (GRAD-4)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    fields: Mapped[dict] = mapped_column(JSON, default=dict)  # ONL-1 / OFF-1 fields
    attachment_ids: Mapped[list] = mapped_column(JSON, default=list)  # stamped agreement images
    agreement_no: Mapped[str | None] = mapped_column(String(19), unique=True)  # AGR-1
    agreement_type: Mapped[str] = mapped_column(String(20), default="three_party")  # MOD-3 at signing
    answer_deadline: Mapped[datetime | None] = mapped_column(DateTime)  # ONL-2 应约截止时间 (UTC)
    # ONL-5: "employer:graduate" while the invitation is open; unique, so a second open one cannot exist.
    open_invite_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    # ONL-3: the graduate's id while this agreement is accepted, under review or signed; unique.
    active_key: Mapped[int | None] = mapped_column(Integer, unique=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(200))


class AgreementSequence(Base):
    """AGR-1: one counter per (year, province); taken with a row lock so numbers never repeat."""

    __tablename__ = "agreement_sequence"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    province_code: Mapped[str] = mapped_column(String(2), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Termination(Timestamped, Base):
    """A termination request (TRM online, OFT offline) of one agreement."""

    __tablename__ = "termination"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # online | offline
    initiator: Mapped[str] = mapped_column(String(10))  # graduate | employer
    reason: Mapped[str] = mapped_column(String(50))
    explanation: Mapped[str] = mapped_column(String(200), default="")
    attachment_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|approved|refused|rejected|withdrawn
    # TRM-4: set while open; the unique key allows one open termination per agreement.
    open_key: Mapped[int | None] = mapped_column(Integer, unique=True)


class AssistLink(Base):
    """OFF-3: a one-time, expiring link for the employer to upload the stamped agreement."""

    __tablename__ = "assist_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    work_item_id: Mapped[int] = mapped_column(BigId)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AgreementDocument(Base):
    """Cached e-agreement PDF (DOC-1), keyed by content: re-rendered when fields or template change."""

    __tablename__ = "agreement_document"
    __table_args__ = (UniqueConstraint("agreement_id", "content_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    content_key: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(64))  # the PDF in the blob store (domain.blobs)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)  # only on rows from before 0019
    rendered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    render_ms: Mapped[int] = mapped_column(Integer, default=0)


class RegisteredInfo(Timestamped, Base):
    """A graduate's current archive (档案) or hukou (户口) information (ARC-7, ONL-7).

    One active row per graduate and kind; it may come from an approved agreement,
    a registration or the school directly. Older rows stay for history.
    """

    __tablename__ = "registered_info"
    __table_args__ = (Index("ix_registered_info_graduate_kind", "graduate_id", "kind", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"))
    kind: Mapped[str] = mapped_column(String(10))  # archive | hukou
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(20))  # agreement | registration | school
    source_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Confirmation(Timestamped, Base):
    """A graduate's 去向登记确认 (CNF): confirmed, an error reported, or to be confirmed again after a change.

    Verification reports (VER-6) are valid only while this row says confirmed, so a change to the
    destination, archive or hukou info suspends them at once, in the same transaction as the change.
    """

    __tablename__ = "confirmation"

    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # confirmed | error_reported | reconfirm
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    error_parts: Mapped[dict] = mapped_column(JSON, default=dict)  # part -> explanation (CNF-3)
    error_mobile: Mapped[str | None] = mapped_column(String(20))
    changed_parts: Mapped[list] = mapped_column(JSON, default=list)  # what changed since the last confirmation


class TransferApplication(Timestamped, Base):
    """A graduate's archive (档案) or hukou (户口) registration or change application (ARC-5/6, HUK-1).

    The process instance carries its steps; this row mirrors what was submitted (or edited by a
    reviewer, REV-5) so record pages and lists never deserialize a workflow. ``open_key`` is set
    while the application is open: unique, so a graduate has one open application per kind.
    """

    __tablename__ = "transfer_application"
    __table_args__ = (Index("ix_transfer_application_graduate_kind", "graduate_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # archive | hukou
    action: Mapped[str] = mapped_column(String(20))  # registration | change
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    attachment_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending (also while withdrawn)|approved|rejected
    reason: Mapped[str | None] = mapped_column(String(200))  # why it was rejected
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    open_key: Mapped[str | None] = mapped_column(String(30), unique=True)  # "kind:graduate_id" while open


# --- GRAD-1 bulk import of graduates' basic information (processes/roster) ------------------------------------


class GraduateImportJob(Base):
    """One uploaded basic-info file (GRAD-1), imported in the background in batches.

    Each batch commits its rows and ``processed_rows`` together, so a crashed job resumes exactly where it
    stopped (``heartbeat_at`` tells a stale running job); the file itself is kept until the job ends."""

    __tablename__ = "graduate_import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(Integer)  # who uploaded it
    filename: Mapped[str] = mapped_column(String(200), default="")
    file_kind: Mapped[str] = mapped_column(String(10))  # xlsx | csv
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # the file, emptied when the job ends
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|failed
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_rows: Mapped[int] = mapped_column(Integer, default=0)
    updated_rows: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_rows: Mapped[int] = mapped_column(Integer, default=0)
    revived_rows: Mapped[int] = mapped_column(Integer, default=0)  # GRAD-5: deleted earlier, uploaded again
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))  # why the job failed
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class GraduateImportError(Base):
    """One bad cell (or row) of an import: the error report lists these (GRAD-1)."""

    __tablename__ = "graduate_import_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("graduate_import_job.id"), index=True)
    row: Mapped[int] = mapped_column(Integer)  # the row number in the file (the header is row 1)
    column: Mapped[str] = mapped_column(String(30))  # the Chinese header, empty for the whole row
    value: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(300))
