"""The one access policy: who may see and act on which rows (ROLE-1 scopes, ROLE-2 module permissions).

Lists ask it for a SQL filter, single reads and steps ask it yes or no. A refusal
looks exactly like a missing row (the caller raises the same 404 either way). The
engine is handed this object and never names a role itself.
"""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from core.errors import Forbidden
from domain.models import Account, Agreement, Attachment, Graduate, School
from engine.models import ProcessInstance, WorkItem
from engine.services import Actor

ADMIN = "Admin"
GRADUATE = "Graduate"
EMPLOYER = "Employer"
DEPARTMENT = "Department"
SCHOOL = "School"
PROVINCE = "Province"
REVIEWER_ROLES = (DEPARTMENT, SCHOOL)

# ROLE-2: the module areas a school account holds a permission on, and the three permissions.
BASIC, ARCHIVE_AREA, HUKOU_AREA = "basic", "archive", "hukou"
AREAS = (BASIC, ARCHIVE_AREA, HUKOU_AREA)
AREA_NAMES = {BASIC: "基本信息和就业信息", ARCHIVE_AREA: "档案信息", HUKOU_AREA: "户口信息"}
RW, RO, NONE = "rw", "ro", "none"
PERMISSION_NAMES = {RW: "读写", RO: "只读", NONE: "无权限"}
# ROLE-2: an account nobody has set keeps these (existing school accounts: basic read-write, the others none).
DEFAULT_PERMISSIONS = {BASIC: RW, ARCHIVE_AREA: NONE, HUKOU_AREA: NONE}
# MOD-1: the platform modules a province enables / a school opens, and the area each belongs to.
MODULE_AREA = {"destination": BASIC, "archive": ARCHIVE_AREA, "hukou": HUKOU_AREA}


def permissions_of(account: Account) -> dict[str, str] | None:
    """ROLE-2 permissions of a school or department account (defaults filled in); None for other roles."""
    if account.role not in ("school", "department"):
        return None
    stored = account.module_permissions or {}
    found: dict[str, str] = {}
    for area in AREAS:
        value = stored.get(area)
        found[area] = value if isinstance(value, str) and value in PERMISSION_NAMES else DEFAULT_PERMISSIONS[area]
    return found
# ROLE-1: the row column that must equal the actor's own scope, per role (lane).
SCOPE_COLUMN = {GRADUATE: "graduate_id", DEPARTMENT: "department_id", SCHOOL: "school_id", EMPLOYER: "employer_id"}


def _scope_value(actor: Actor) -> tuple[str, int] | None:
    column = SCOPE_COLUMN.get(actor.role)
    if column is None:
        return None
    value = getattr(actor, column)
    return (column, value) if value is not None else None


def _assigned_to(actor: Actor, item: WorkItem) -> bool:
    """An open item an admin reassigned is seen and worked only by its assignee (issue 10)."""
    return item.assignee_id is None or item.assignee_id == actor.id or item.state != "open"


class AccessPolicy:
    """ROLE-1 scopes: a graduate their own rows, a department its graduates, a school its graduates,
    an employer its own agreements, a province the schools of its province (read only); an admin reads
    everything and acts on nothing. ROLE-2: a school or department account works a process only with
    read-write on its area, sees it with read-only, and not at all with none."""

    def __init__(self) -> None:
        self.areas: dict[str, str] = {}  # process id -> ROLE-2 area (the modules declare it)

    def use_areas(self, areas: Mapping[str, str]) -> None:
        self.areas.update(areas)

    # -- ROLE-2 ---------------------------------------------------------------------------
    def area_of(self, process_id: str) -> str:
        return self.areas.get(process_id, BASIC)

    @staticmethod
    def permission(actor: Actor, area: str) -> str:
        """rw / ro / none of this actor on an area. A province and an admin read; others have no area."""
        if actor.role in REVIEWER_ROLES:
            return (actor.permissions or DEFAULT_PERMISSIONS).get(area, NONE)
        if actor.role in (PROVINCE, ADMIN):
            return RO
        return NONE

    def may_read_area(self, actor: Actor, area: str) -> bool:
        return self.permission(actor, area) in (RW, RO)

    def may_write_area(self, actor: Actor, area: str) -> bool:
        return self.permission(actor, area) == RW

    def require_area(self, actor: Actor, area: str, write: bool = False) -> None:
        """Forbidden unless the actor may read (or write) the area; the page looks missing either way."""
        if not (self.may_write_area(actor, area) if write else self.may_read_area(actor, area)):
            raise Forbidden("页面不存在或无权访问")

    def _hidden_processes(self, actor: Actor) -> list[str]:
        """Processes of areas the actor has no permission on (ROLE-2 none)."""
        if actor.role not in REVIEWER_ROLES:
            return []
        return [pid for pid, area in self.areas.items() if self.permission(actor, area) == NONE]

    def _process_visible(self, actor: Actor, process_id: str) -> bool:
        return actor.role not in REVIEWER_ROLES or self.permission(actor, self.area_of(process_id)) != NONE

    # -- work items (the engine asks these) -------------------------------------------
    def may_see_item(self, actor: Actor, item: WorkItem) -> bool:
        if actor.role == ADMIN:
            return True
        scope = _scope_value(actor)
        return (scope is not None and item.role == actor.role and getattr(item, scope[0]) == scope[1]
                and self._process_visible(actor, item.process_id) and _assigned_to(actor, item))

    def may_complete(self, actor: Actor, item: WorkItem) -> bool:
        if actor.role == ADMIN or not self.may_see_item(actor, item):
            return False
        # ROLE-2: a read-only reviewer sees the item and cannot decide it
        return actor.role not in REVIEWER_ROLES or self.may_write_area(actor, self.area_of(item.process_id))

    def item_filter(self, actor: Actor) -> ColumnElement[bool]:
        """The inbox rows this actor works: their role's lane, their scope, areas they may enter."""
        scope = _scope_value(actor)
        if scope is None:
            return false()
        clause = and_(WorkItem.role == actor.role, getattr(WorkItem, scope[0]) == scope[1],
                      # an open item an admin reassigned is the assignee's alone (issue 10)
                      or_(WorkItem.assignee_id.is_(None), WorkItem.assignee_id == actor.id, WorkItem.state != "open"))
        hidden = self._hidden_processes(actor)
        return and_(clause, WorkItem.process_id.notin_(hidden)) if hidden else clause

    # -- process instances ----------------------------------------------------------------
    def may_see_instance(self, actor: Actor, instance: ProcessInstance) -> bool:
        if actor.role == ADMIN:
            return True
        if actor.role == PROVINCE:
            return actor.province_id is not None and instance.school_id in self.province_schools(actor)
        scope = _scope_value(actor)
        return (scope is not None and getattr(instance, scope[0]) == scope[1]
                and self._process_visible(actor, instance.process_id))

    def instance_filter(self, actor: Actor) -> ColumnElement[bool]:
        if actor.role == ADMIN:
            return true()
        if actor.role == PROVINCE:
            return ProcessInstance.school_id.in_(self.province_school_ids(actor))
        scope = _scope_value(actor)
        if scope is None:
            return false()
        clause = getattr(ProcessInstance, scope[0]) == scope[1]
        hidden = self._hidden_processes(actor)
        return and_(clause, ProcessInstance.process_id.notin_(hidden)) if hidden else clause

    # -- province scope -------------------------------------------------------------------
    @staticmethod
    def province_school_ids(actor: Actor):
        """A subquery: the ids of the schools in the actor's province (nothing for other roles)."""
        return select(School.id).where(School.province_id == (actor.province_id if actor.role == PROVINCE else -1))

    @staticmethod
    def province_schools(actor: Actor) -> frozenset[int]:
        """The province's school ids, read when the actor was made (domain.accounts.actor_for)."""
        return frozenset(actor.school_ids) if actor.role == PROVINCE else frozenset()

    def graduate_filter(self, actor: Actor) -> ColumnElement[bool]:
        """ROLE-1 for lists of graduates: a school its own, a department its 院系, a province its schools'."""
        if actor.role == ADMIN:
            return true()
        if actor.role == PROVINCE:
            return Graduate.school_id.in_(self.province_school_ids(actor))
        if actor.role == SCHOOL and actor.school_id is not None:
            return Graduate.school_id == actor.school_id
        if actor.role == DEPARTMENT and actor.department_id is not None:
            return Graduate.department_id == actor.department_id
        if actor.role == GRADUATE and actor.graduate_id is not None:
            return Graduate.id == actor.graduate_id
        return false()

    def school_filter(self, actor: Actor) -> ColumnElement[bool]:
        """The schools an actor's lists and statistics cover."""
        if actor.role == ADMIN:
            return true()
        if actor.role == PROVINCE and actor.province_id is not None:
            return School.province_id == actor.province_id
        if actor.role in REVIEWER_ROLES and actor.school_id is not None:
            return School.id == actor.school_id
        return false()

    # -- accounts (ROLE-2) ----------------------------------------------------------------
    def may_manage_account(self, session: Session, actor: Actor, account: Account) -> bool:
        """A province manages its schools' school accounts; a school (basic read-write) its departments'."""
        if actor.role == PROVINCE and account.role == "school" and account.school_id is not None:
            school = session.get(School, account.school_id)
            return school is not None and school.province_id == actor.province_id
        if actor.role == SCHOOL and account.role == "department":
            return account.school_id == actor.school_id and self.may_write_area(actor, BASIC)
        return False

    def instance(self, session: Session, actor: Actor, instance_id: int) -> ProcessInstance:
        """One instance, or the same Forbidden whether it is missing or outside the scope."""
        instance = session.get(ProcessInstance, instance_id)
        if instance is None or not self.may_see_instance(actor, instance):
            raise Forbidden("记录不存在或无权访问")
        return instance

    # -- domain rows that hang off an instance or a graduate ------------------------------
    def may_see_graduate(self, actor: Actor, graduate: Graduate) -> bool:
        """A graduate's own files: themselves, their department, their school, an admin."""
        if actor.role == ADMIN:
            return True
        if actor.role == GRADUATE:
            return actor.graduate_id is not None and actor.graduate_id == graduate.id
        if actor.role == DEPARTMENT:
            return actor.department_id is not None and actor.department_id == graduate.department_id
        if actor.role == SCHOOL:
            return actor.school_id is not None and actor.school_id == graduate.school_id
        if actor.role == PROVINCE:
            return actor.province_id is not None and graduate.school_id in self.province_schools(actor)
        return False

    def may_see_attachment(self, session: Session, actor: Actor, attachment: Attachment) -> bool:
        if attachment.graduate_id is None:
            return False
        graduate = session.get(Graduate, attachment.graduate_id)
        return graduate is not None and self.may_see_graduate(actor, graduate)

    def may_see_agreement(self, session: Session, actor: Actor, agreement: Agreement) -> bool:
        """An agreement's scope is its signing instance's scope (graduate, employer, 院系, school)."""
        instance = session.get(ProcessInstance, agreement.instance_id)
        return instance is not None and self.may_see_instance(actor, instance)

    def agreement(self, session: Session, actor: Actor, agreement_id: int) -> Agreement:
        agreement = session.get(Agreement, agreement_id)
        if agreement is None or not self.may_see_agreement(session, actor, agreement):
            raise Forbidden("协议不存在或无权访问")
        return agreement

    # -- who is who ---------------------------------------------------------------------------
    @staticmethod
    def is_graduate(actor: Actor) -> bool:
        return actor.role == GRADUATE and actor.graduate_id is not None

    @staticmethod
    def is_employer(actor: Actor) -> bool:
        return actor.role == EMPLOYER and actor.employer_id is not None

    @staticmethod
    def is_reviewer(actor: Actor) -> bool:
        return actor.role in REVIEWER_ROLES

    @staticmethod
    def is_admin(actor: Actor) -> bool:
        return actor.role == ADMIN

    @staticmethod
    def is_province(actor: Actor) -> bool:
        return actor.role == PROVINCE and actor.province_id is not None

POLICY = AccessPolicy()
