"""The one access policy: who may see and act on which rows (ROLE-1; room for ROLE-2 and the province).

Lists ask it for a SQL filter, single reads and steps ask it yes or no. A refusal
looks exactly like a missing row (the caller raises the same 404 either way). The
engine is handed this object and never names a role itself.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, true
from sqlalchemy.orm import Session

from core.errors import Forbidden
from domain.models import Agreement, Attachment, Graduate
from engine.models import ProcessInstance, WorkItem
from engine.services import Actor

ADMIN = "Admin"
GRADUATE = "Graduate"
EMPLOYER = "Employer"
DEPARTMENT = "Department"
SCHOOL = "School"
REVIEWER_ROLES = (DEPARTMENT, SCHOOL)
# ROLE-1: the row column that must equal the actor's own scope, per role (lane).
SCOPE_COLUMN = {GRADUATE: "graduate_id", DEPARTMENT: "department_id", SCHOOL: "school_id", EMPLOYER: "employer_id"}


def _scope_value(actor: Actor) -> tuple[str, int] | None:
    column = SCOPE_COLUMN.get(actor.role)
    if column is None:
        return None
    value = getattr(actor, column)
    return (column, value) if value is not None else None


class AccessPolicy:
    """ROLE-1 scopes: a graduate their own rows, a department its graduates, a school its graduates,
    an employer its own agreements; an admin reads everything and acts on nothing."""

    # -- work items (the engine asks these) -------------------------------------------
    def may_see_item(self, actor: Actor, item: WorkItem) -> bool:
        if actor.role == ADMIN:
            return True
        scope = _scope_value(actor)
        return scope is not None and item.role == actor.role and getattr(item, scope[0]) == scope[1]

    def may_complete(self, actor: Actor, item: WorkItem) -> bool:
        return actor.role != ADMIN and self.may_see_item(actor, item)

    def item_filter(self, actor: Actor) -> ColumnElement[bool]:
        """The inbox rows this actor works: their role's lane, their scope."""
        scope = _scope_value(actor)
        if scope is None:
            return false()
        return and_(WorkItem.role == actor.role, getattr(WorkItem, scope[0]) == scope[1])

    # -- process instances ----------------------------------------------------------------
    def may_see_instance(self, actor: Actor, instance: ProcessInstance) -> bool:
        if actor.role == ADMIN:
            return True
        scope = _scope_value(actor)
        return scope is not None and getattr(instance, scope[0]) == scope[1]

    def instance_filter(self, actor: Actor) -> ColumnElement[bool]:
        if actor.role == ADMIN:
            return true()
        scope = _scope_value(actor)
        if scope is None:
            return false()
        return getattr(ProcessInstance, scope[0]) == scope[1]

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

POLICY = AccessPolicy()
