"""Archive registration and change (ARC-5, ARC-6) as services, on the rules of domain.transfers.

Views parse input with the module's forms and call these; each runs inside the caller's
transaction and leaves the commit to the caller.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import transfers
from domain.access import POLICY
from domain.models import Graduate
from domain.transfers import ARCHIVE_KIND as KIND
from engine.models import ProcessInstance
from engine.runner import Runner
from engine.services import Actor

REGISTRATION_ID = "archive_registration"  # 档案信息登记
CHANGE_ID = "archive_change"  # 档案信息修改
PROCESS_IDS = (REGISTRATION_ID, CHANGE_ID)
FORM_KEY = "archive"
PROCESS_OF = {transfers.REGISTRATION: REGISTRATION_ID, transfers.CHANGE: CHANGE_ID}


def start(session: Session, runner: Runner, actor: Actor, graduate: Graduate, action: str,
          clean: dict[str, Any]) -> ProcessInstance:
    """档案信息登记 (no valid record yet) or 档案信息修改 (the old record stays valid until approved)."""
    return transfers.start(session, runner, actor, graduate, KIND, action, process_id=PROCESS_OF[action],
                           form_key=FORM_KEY, clean=clean)


def resubmit(session: Session, runner: Runner, actor: Actor, graduate: Graduate, work_item_id: int,
             clean: dict[str, Any]) -> ProcessInstance:
    return transfers.resubmit(session, runner, actor, graduate, KIND, form_key=FORM_KEY, work_item_id=work_item_id,
                              clean=clean)


def records(session: Session, actor: Actor) -> list[ProcessInstance]:
    """申请记录: the actor's archive applications, newest first."""
    return list(session.scalars(select(ProcessInstance).where(POLICY.instance_filter(actor),
                                                              ProcessInstance.process_id.in_(PROCESS_IDS))
                                .order_by(ProcessInstance.id.desc()).limit(100)))
