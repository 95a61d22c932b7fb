"""Registration and change of one kind (ARC-5, ARC-6, HUK-1) as services, on the rules of domain.transfers.

Views parse input with the kind's forms and call these; each runs inside the caller's transaction and
leaves the commit to the caller.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import transfers
from domain.access import POLICY
from domain.models import Graduate
from engine.models import ProcessInstance
from engine.runner import Runner
from engine.services import Actor

from .spec import TransferSpec


def start(spec: TransferSpec, session: Session, runner: Runner, actor: Actor, graduate: Graduate, action: str,
          clean: dict[str, Any]) -> ProcessInstance:
    """档案信息登记 / 户口信息登记 (no valid record yet) or …修改 (the old record stays valid until approved)."""
    return transfers.start(session, runner, actor, graduate, spec.kind, action, process_id=spec.process_of(action),
                           form_key=spec.form_key, clean=clean)


def resubmit(spec: TransferSpec, session: Session, runner: Runner, actor: Actor, graduate: Graduate,
             work_item_id: int, clean: dict[str, Any]) -> ProcessInstance:
    return transfers.resubmit(session, runner, actor, graduate, spec.kind, form_key=spec.form_key,
                              work_item_id=work_item_id, clean=clean)


def records(spec: TransferSpec, session: Session, actor: Actor) -> list[ProcessInstance]:
    """申请记录: the actor's applications of this kind, newest first."""
    return list(session.scalars(select(ProcessInstance).where(POLICY.instance_filter(actor),
                                                              ProcessInstance.process_id.in_(spec.process_ids))
                                .order_by(ProcessInstance.id.desc()).limit(100)))
