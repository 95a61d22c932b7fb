"""The data generator (bench/seed.py, issue 11) at a small size: the counts asked for, and seeded instances that
the real engine opens and steps like its own."""
from __future__ import annotations

from sqlalchemy import func, select

from bench import seed as generator
from domain.accounts import actor_for
from domain.models import Account, DestinationRecord, EffectiveDestination, Graduate
from engine.models import AuditEvent, ProcessInstance, WorkItem
from processes.destination import services as filing
from processes.review import services as reviews

N, OPEN = 120, 30


def _actor(s, account_id):
    return actor_for(s, s.get(Account, account_id))


def _seeded(s, label: str) -> ProcessInstance:
    """A copied (not a template) instance waiting in `label`: the templates are the lowest ids of each label."""
    return s.scalars(select(ProcessInstance).where(ProcessInstance.status_label == label)
                     .order_by(ProcessInstance.id.desc()).limit(1)).one()


def _reviewer(s, role: str, inst: ProcessInstance) -> int:
    column = Account.department_id if role == "department" else Account.school_id
    value = inst.department_id if role == "department" else inst.school_id
    return s.scalar(select(Account.id).where(Account.role == role, column == value))


def test_counts_match_what_was_asked(runtime):
    # rule REV-1: instances waiting at each level; every open item is in its graduate's 院系 and school
    report = generator.build(runtime, N, OPEN, schools=6, provinces=3)
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == N
        open_items = s.scalars(select(WorkItem).where(WorkItem.state == "open", WorkItem.optional.is_(False))).all()
        assert len(open_items) == OPEN
        assert {w.role for w in open_items} == {"Department", "School", "Graduate"}
        graduates = {g.id: g for g in s.scalars(select(Graduate))}
        assert len(graduates) == report.graduates
        for w in open_items:
            g = graduates[w.graduate_id]
            assert (w.department_id, w.school_id, w.subject_name, w.cohort) == (g.department_id, g.school_id,
                                                                                g.name, g.cohort)
        task_ids = list(s.scalars(select(WorkItem.task_id)))
        assert len(set(task_ids)) == len(task_ids) > report.rows["work_item"]  # copies' tasks are their own
        # DST-4: an approved filing is the graduate's one effective destination
        approved = s.scalar(select(func.count()).select_from(ProcessInstance)
                            .where(ProcessInstance.status_label == "审核通过"))
        assert s.scalar(select(func.count()).select_from(EffectiveDestination)) == approved
    assert report.by_kind["dept"] + report.by_kind["school"] + report.by_kind["returned"] == OPEN


def test_seeded_instances_step_through_the_real_engine(runtime):
    # rules REV-2, REV-3, REV-4, DST-3: a seeded item opens and steps, and the step acts on the seeded
    # graduate's own rows
    generator.build(runtime, N, OPEN, schools=4, provinces=2)
    runner = runtime.runner
    with runtime.Session() as s:
        inst = _seeded(s, "等待院系审核")
        item = s.scalar(select(WorkItem.id).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
        data = runner.task_data(s, s.get(WorkItem, item))
        assert data["application"]["dest_type"] == "job_seeking"
        reviews.review(s, runner, _actor(s, _reviewer(s, "department", inst)), item, "approve", "")
        s.commit()
        assert s.get(ProcessInstance, inst.id).status_label == "等待学校审核"
        school_item = s.scalar(select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
        assert (school_item.role, school_item.school_id) == ("School", inst.school_id)
        reviews.review(s, runner, _actor(s, _reviewer(s, "school", inst)), school_item.id, "approve", "")
        s.commit()
        record = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert record.status == "effective" and record.graduate_id == inst.graduate_id
        assert s.get(EffectiveDestination, inst.graduate_id).record_id == record.id

        # a returned one: its graduate submits again, and review starts at the department (REV-3)
        back = _seeded(s, "退回修改（院系退回）")
        grad = _actor(s, s.scalar(select(Account.id).where(Account.id_number == s.get(Graduate, back.graduate_id)
                                                           .id_number)))
        open_item = s.scalar(select(WorkItem).where(WorkItem.instance_id == back.id, WorkItem.state == "open"))
        assert open_item.role == "Graduate" and grad.graduate_id == back.graduate_id
        filing.resubmit(s, runner, grad, s.get(Graduate, back.graduate_id), open_item.id, generator.APPLICATION)
        s.commit()
        assert s.get(ProcessInstance, back.id).status_label == "等待院系审核"

        # an approved one: the graduate voids it (DST-3), which frees the effective destination
        done = _seeded(s, "审核通过")
        owner = s.get(Graduate, done.graduate_id)
        grad = _actor(s, s.scalar(select(Account.id).where(Account.id_number == owner.id_number)))
        filing.void(s, runner, grad, done.id)
        s.commit()
        assert s.get(EffectiveDestination, owner.id) is None
        events = s.scalars(select(AuditEvent).where(AuditEvent.instance_id == done.id)
                           .order_by(AuditEvent.id)).all()
        assert events[-1].action == "void" and events[-1].actor_id == grad.id
        # issue 11: every audit event carries its season, the copies' and the engine's new one alike
        assert {e.cohort for e in events} == {done.cohort} == {2026}
        # the history a copy carries names the copy's own reviewers, not the template's
        dept_id = _reviewer(s, "department", done)
        assert any(e.actor_id == dept_id for e in events)
