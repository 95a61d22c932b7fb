"""Scenario tests for other-destination filing and the shared review, read like the guides."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from core.errors import Conflict, ValidationFailed
from domain.access import POLICY
from domain.models import DestinationRecord, EffectiveDestination, Graduate, Message
from engine.models import AuditEvent, ProcessInstance, WorkItem
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import FREELANCE, open_items, with_proof


def submit(runtime, step, actor, username, clean=FREELANCE):
    a = actor(username)
    return step(lambda s: filing.start_filing(s, runtime.runner, a, s.get(Graduate, a.graduate_id),
                                              with_proof(s, a.graduate_id, clean)))


def decide(runtime, step, actor, username, instance_id, decision, reason="", edits=None):
    a = actor(username)
    role = "Department" if username.startswith("dept") else "School"
    item = open_items(runtime, instance_id, role)[0]
    return step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, reason, edits))


def label(runtime, instance_id):
    with runtime.Session() as s:
        return s.get(ProcessInstance, instance_id).status_label


def test_department_then_school_approval_makes_the_destination_effective(runtime, world, make_graduate, step, actor):
    # rules DST-1, REV-1, REV-2, DST-4
    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    assert inst.status_label == "等待院系审核"
    assert [i.role for i in open_items(runtime, inst.id)] == ["Department"]
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    assert label(runtime, inst.id) == "等待学校审核"
    assert [i.role for i in open_items(runtime, inst.id)] == ["School"]
    decide(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "审核通过"
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.status == "effective" and rec.dest_type == "freelance"
        eff = s.get(EffectiveDestination, grad.id)
        assert eff.kind == "destination" and eff.record_id == rec.id


def test_school_only_review_skips_the_department(runtime, world, make_graduate, step, actor):
    # rules REV-1, MOD-6
    make_graduate("g1")
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "review_levels", "school_only"))
    inst = submit(runtime, step, actor, "g1")
    assert inst.status_label == "等待学校审核"
    assert [i.role for i in open_items(runtime, inst.id)] == ["School"]
    decide(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "审核通过"


def test_setting_change_applies_to_new_instances_only(runtime, world, make_graduate, step, actor):
    # rule MOD-6
    make_graduate("g1")
    make_graduate("g2")
    first = submit(runtime, step, actor, "g1")
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "review_levels", "school_only"))
    second = submit(runtime, step, actor, "g2")
    assert [i.role for i in open_items(runtime, first.id)] == ["Department"]
    decide(runtime, step, actor, "dept_info", first.id, "approve")
    assert label(runtime, first.id) == "等待学校审核"
    assert [i.role for i in open_items(runtime, second.id)] == ["School"]


def test_return_sends_it_back_and_review_restarts_at_the_first_level(runtime, world, make_graduate, step, actor):
    # rules REV-3, DST-2
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    decide(runtime, step, actor, "school", inst.id, "return", "证明材料不清晰")
    assert label(runtime, inst.id) == "退回修改（学校退回）"
    item = open_items(runtime, inst.id, "Graduate")[0]
    assert item.form_key == "destination"
    g = actor("g1")
    with runtime.Session() as s:
        assert runtime.runner.task_data(s, item)["reason"] == "证明材料不清晰"
    fixed = {"dest_type": "freelance", "fields": {"note": "重新上传"}, "attachment_ids": []}
    step(lambda s: filing.resubmit(s, runtime.runner, g, s.get(Graduate, g.graduate_id), item.id,
                                   with_proof(s, g.graduate_id, fixed)))
    assert label(runtime, inst.id) == "等待院系审核"  # starts again at the first level
    with runtime.Session() as s:
        assert s.scalar(select(DestinationRecord.fields).where(DestinationRecord.instance_id == inst.id)) == {"note": "重新上传"}


def test_reject_ends_the_application_with_the_reason(runtime, world, make_graduate, step, actor):
    # rules REV-4, DST-2, NOTE-1
    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "reject", "不属于自由职业")
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        assert row.status == "completed" and row.status_label == "审核不通过（院系审核不通过）"
        assert s.scalar(select(DestinationRecord.status).where(DestinationRecord.instance_id == inst.id)) == "rejected"
        assert s.get(EffectiveDestination, grad.id) is None
        assert not open_items(runtime, inst.id)
        bodies = [m.body for m in s.scalars(select(Message))]
        assert any("不属于自由职业" in b for b in bodies)
    # a new application must be started, and can be
    again = submit(runtime, step, actor, "g1")
    assert again.id != inst.id and again.status_label == "等待院系审核"


def test_reason_is_required_for_return_and_reject(runtime, world, make_graduate, step, actor):
    # rule REV-1
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    with pytest.raises(ValidationFailed):
        decide(runtime, step, actor, "dept_info", inst.id, "reject", "  ")
    assert label(runtime, inst.id) == "等待院系审核"


def test_reviewer_edit_is_recorded_and_the_graduate_told(runtime, world, make_graduate, step, actor):
    # rules REV-5, DST-2, NOTE-1
    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    edits = {"dest_type": "labor_contract", "category": "other_employment", "type_name": "签劳动合同就业",
             "fields": {"unit_name": "厦门某科技有限公司", "unit_address": "厦门市思明区"}}
    decide(runtime, step, actor, "dept_info", inst.id, "approve", edits=edits)
    with runtime.Session() as s:
        edit = s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst.id, AuditEvent.action == "edit"))
        assert edit.actor_name == "信息学院审核员"
        assert edit.data_before["dest_type"] == "freelance"
        assert edit.data_after["dest_type"] == "labor_contract"
        assert edit.created_at is not None
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.dest_type == "labor_contract" and rec.fields["unit_name"] == "厦门某科技有限公司"
        titles = [m.title for m in s.scalars(select(Message).where(Message.instance_id == inst.id))]
        assert any("修改了你的登记信息" in t for t in titles)
    # the school sees the edited data and approving keeps it
    with runtime.Session() as s:
        item = open_items(runtime, inst.id, "School")[0]
        assert runtime.runner.task_data(s, item)["application"]["dest_type"] == "labor_contract"
    decide(runtime, step, actor, "school", inst.id, "approve")
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.status == "effective" and rec.dest_type == "labor_contract"
        assert s.get(EffectiveDestination, grad.id).record_id == rec.id


def test_withdraw_before_review_then_edit_and_resubmit(runtime, world, make_graduate, step, actor):
    # rule REV-6
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    g = actor("g1")
    step(lambda s: reviews.withdraw(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "已撤回 待重新提交"
    assert [i.role for i in open_items(runtime, inst.id)] == ["Graduate"]
    with runtime.Session() as s:
        cancelled = s.scalar(select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.role == "Department"))
        assert cancelled.state == "cancelled"
    item = open_items(runtime, inst.id, "Graduate")[0]
    step(lambda s: filing.resubmit(s, runtime.runner, g, s.get(Graduate, g.graduate_id), item.id,
                                         with_proof(s, g.graduate_id)))
    assert label(runtime, inst.id) == "等待院系审核"


def test_withdraw_is_refused_after_the_first_reviewer_acted(runtime, world, make_graduate, step, actor):
    # rule REV-6
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    g = actor("g1")
    with pytest.raises(Conflict, match="已开始审核"):
        step(lambda s: reviews.withdraw(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "等待学校审核"


def test_void_after_approval_needs_no_review_and_reviewers_see_it(runtime, world, make_graduate, step, actor):
    # rules DST-3, DST-4
    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    decide(runtime, step, actor, "school", inst.id, "approve")
    g = actor("g1")
    with pytest.raises(Conflict):  # one effective destination: cannot file another meanwhile
        submit(runtime, step, actor, "g1")
    step(lambda s: filing.void(s, runtime.runner, g, inst.id))
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        assert row.status_label == "已作废" and row.status == "completed"
        assert s.get(EffectiveDestination, grad.id) is None
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.status == "voided" and rec.voided_at is not None
        # no review step was created for the void
        assert not s.scalar(select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
    # the department reviewer can still open the voided record
    dept = actor("dept_info")
    with runtime.Session() as s:
        assert POLICY.instance(s, dept, inst.id).status_label == "已作废"
    # and the graduate may file again
    assert submit(runtime, step, actor, "g1").status_label == "等待院系审核"


def test_void_is_refused_before_approval(runtime, world, make_graduate, step, actor):
    # rule DST-3
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    g = actor("g1")
    with pytest.raises(Conflict):
        step(lambda s: filing.void(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "等待院系审核"


def test_two_effective_destinations_are_impossible_even_if_guards_race(runtime, world, make_graduate, step, actor):
    # rule DST-4
    grad = make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    # another source (say an approved agreement) claimed the graduate's destination meanwhile
    step(lambda s: s.add(EffectiveDestination(graduate_id=grad.id, kind="agreement", record_id=999)))
    with pytest.raises(Conflict, match="已有生效的毕业去向"):
        decide(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "等待学校审核"  # the step rolled back entirely


def test_directed_graduate_can_only_file_the_directed_type(runtime, world, make_graduate, step, actor):
    # rules GRAD-6, DST-5
    make_graduate("d1", training_mode="定向", directed_unit="福建省漳州市教育局")
    with pytest.raises(ValidationFailed, match="定向/委培"):
        submit(runtime, step, actor, "d1")
    inst = submit(runtime, step, actor, "d1", {"dest_type": "directed",
                                                 "fields": {"unit_name": "别的单位", "unit_address": "漳州"}})
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.fields["unit_name"] == "福建省漳州市教育局"  # the school's unit, not the graduate's


def test_non_directed_graduate_cannot_pick_the_directed_type(runtime, world, make_graduate, step, actor):
    # rule GRAD-6
    make_graduate("g1")
    with pytest.raises(ValidationFailed):
        submit(runtime, step, actor, "g1", {"dest_type": "directed", "fields": {}})


def test_every_review_result_reaches_the_graduate(runtime, world, make_graduate, step, actor):
    # rules NOTE-1, NOTE-2
    make_graduate("g1")
    inst = submit(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    decide(runtime, step, actor, "school", inst.id, "approve")
    from engine.models import OutboxMessage

    with runtime.Session() as s:
        titles = [m.title for m in s.scalars(select(Message).order_by(Message.id))]
        assert titles == ["其他毕业去向登记：院系审核通过", "其他毕业去向登记：学校审核通过"]
        kinds = sorted(o.kind for o in s.scalars(select(OutboxMessage)) if o.kind.startswith("notify."))
        assert kinds == ["notify.email", "notify.email", "notify.sms", "notify.sms"]


def test_unconfirmed_graduate_cannot_file(runtime, world, make_graduate, step, actor):
    # rule GRAD-3
    make_graduate("g1", confirmed=False)
    with pytest.raises(Conflict, match="信息确认无误"):
        submit(runtime, step, actor, "g1")


def test_module_not_open_says_why(runtime, world, make_graduate, step, actor):
    # rule MOD-4
    make_graduate("g1")
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules", []))
    with pytest.raises(Conflict, match="学校尚未完成"):
        submit(runtime, step, actor, "g1")
