"""Termination services: online (TRM, the other party answers) and offline with the letter (OFT).
Each runs inside the caller's transaction."""
from __future__ import annotations

from sqlalchemy.orm import Session

from core.errors import Conflict, Forbidden, ValidationFailed
from domain.access import POLICY
from domain.models import Agreement, Graduate
from domain.schools import module_closed_reason
from engine.models import ProcessInstance
from engine.runner import Runner
from engine.services import Actor
from processes.agreements.services import check_images, open_item, scope_of, start_form_process

TITLES = {"online_termination": "线上解约", "offline_termination": "线下解约"}


def start_online_termination(session: Session, runner: Runner, actor: Actor, agreement_id: int,
                             clean: dict) -> ProcessInstance:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise Forbidden("协议不存在或无权访问")  # the same answer as out of scope (ROLE-1)
    if actor.role == "Graduate" and agreement.graduate_id == actor.graduate_id:
        initiator = "graduate"
    elif actor.role == "Employer" and agreement.employer_id == actor.employer_id:
        initiator = "employer"
    else:
        raise Forbidden("协议不存在或无权访问")
    graduate = session.get(Graduate, agreement.graduate_id)
    assert graduate is not None, "agreement.graduate_id is a foreign key"
    return runner.start(
        session, "online_termination", actor, scope=scope_of(graduate, agreement.employer_id),
        data={"termination": {"agreement_id": agreement.id, "initiator": initiator, **clean},
              "initiator": initiator, "review_levels": graduate.school.review_levels},
        title=TITLES["online_termination"], category=clean.get("reason_name") or "", subject_name=graduate.name,
        subject_no=graduate.student_no,
    )


def answer_termination(session: Session, runner: Runner, actor: Actor, instance_id: int, answer: str) -> ProcessInstance:
    """TRM-2: the other side accepts or refuses, without a time limit."""
    instance = POLICY.instance(session, actor, instance_id)
    if answer not in {"accept", "refuse"}:
        raise ValidationFailed("请选择接受或拒绝")
    item = open_item(session, instance.id, "termination_answer")
    return runner.complete(session, item.id, actor, {"answer": answer}, decision=answer)


def submit_offline_termination(session: Session, runner: Runner, actor: Actor, graduate: Graduate, agreement_id: int,
                               clean: dict, attachment_ids: list[int],
                               work_item_id: int | None = None) -> ProcessInstance:
    """OFT-1."""
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or agreement.graduate_id != graduate.id:
        raise Forbidden("协议不存在或无权访问")
    check_images(session, graduate, list(attachment_ids), "解约函等材料")
    reason = module_closed_reason(graduate)
    if reason:
        raise Conflict(reason)
    application = {"agreement_id": agreement.id, **clean, "attachment_ids": list(attachment_ids)}
    if work_item_id is None:
        if agreement.kind not in {"offline", "paper"} or agreement.status != "signed":
            raise Conflict("只有线下签约或已登记的纸质协议才能申请线下解约")
        return start_form_process(session, runner, actor, graduate, "offline_termination",
                                  {"review_levels": graduate.school.review_levels}, clean.get("reason_name") or "",
                                  title=TITLES["offline_termination"],
                                  submit=("termination_letter", {"application": application}))
    return runner.complete(session, work_item_id, actor, {"application": application}, audit_action="submit")
