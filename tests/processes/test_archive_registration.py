"""Scenario tests for 档案信息登记 and 档案信息修改 (seed 000 §4, seed 001 §5, seed 004), read like the guides."""
from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden, ValidationFailed
from domain import transfers
from domain.graduate_info import current_info, register_info
from domain.models import Confirmation, Graduate, Message, RegisteredInfo, TransferApplication
from engine.models import AuditEvent, OutboxMessage, ProcessInstance, WorkItem
from processes.archive.kind import SPEC as ARCHIVE
from processes.review import services as reviews
from processes.transfers import services
from tests.conftest import open_items, png_bytes
from tests.processes import transfer_steps

BACK_HOME = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
             "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
             "archive_phone": "0592-1234567", "note": "", "attachment_ids": []}
EMPLOYER = {**BACK_HOME, "archive_type": "签约单位接收", "archive_unit": "厦门星海科技有限公司", "division_code": "350206",
            "archive_address": "软件园二期望海路1号", "archive_contact": "陈经理", "archive_phone": "13912345678"}


def proof(step, graduate_id, n=1):
    from domain.attachments import store_images

    return step(lambda s: [a.id for a in store_images(s, graduate_id, None,
                                                      [(f"{i}.png", png_bytes((i * 50, 9, 9))) for i in range(n)])])


start = partial(transfer_steps.start, ARCHIVE, default=BACK_HOME)
decide = partial(transfer_steps.decide, ARCHIVE)
reviewer_edit = partial(transfer_steps.reviewer_edit, ARCHIVE)
approve_all = partial(transfer_steps.approve_all, ARCHIVE)
info = partial(transfer_steps.info, ARCHIVE)
label, counts = transfer_steps.label, transfer_steps.counts


def test_registration_approved_by_department_then_school_shows_in_the_archive_column(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-1, ARC-2, ARC-5, REV-1, REV-2
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    assert inst.title == "档案信息登记" and inst.category == "转回生源地"
    assert inst.status_label == "等待院系审核"
    decide(runtime, step, actor, "dept_info", inst.id, "approve")
    assert label(runtime, inst.id) == "等待学校审核"
    assert info(runtime, grad.id) is None  # nothing is valid before the last approval
    decide(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "审核通过"
    source, fields = info(runtime, grad.id)
    assert source == "registration"
    assert fields["archive_type"] == "转回生源地" and fields["division_name"] == "福建省厦门市思明区"
    assert fields["archive_postcode"] == "361000" and "attachment_ids" not in fields
    with runtime.Session() as s:
        row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst.id))
        assert row.status == "approved" and row.open_key is None and row.action == "registration"


def test_rejected_registration_changes_nothing_and_the_graduate_registers_again(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-5, REV-4, NOTE-1
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    decide(runtime, step, actor, "dept_info", inst.id, "reject", "单位名称有误")
    assert label(runtime, inst.id) == "审核不通过（院系审核不通过）"
    assert info(runtime, grad.id) is None
    with runtime.Session() as s:
        row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst.id))
        assert row.status == "rejected" and row.reason == "单位名称有误"
        assert any("单位名称有误" in m.body for m in s.scalars(select(Message)))
    again = start(runtime, step, actor, "g1")
    assert again.id != inst.id and again.status_label == "等待院系审核"


def test_archive_review_offers_approve_or_reject_only(runtime, world, make_graduate, modules_open, step, actor):
    # rules REV-1, ARC-5
    make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    with pytest.raises(ValidationFailed, match="不允许退回"):
        decide(runtime, step, actor, "dept_info", inst.id, "return", "请补充")
    assert label(runtime, inst.id) == "等待院系审核"


def test_back_to_origin_needs_no_proof_but_every_other_type_does(runtime, world, make_graduate, modules_open,
                                                                step, actor):
    # rules ARC-1, ARC-4
    grad = make_graduate("g1")
    for transfer_type in ("签约单位接收", "上级主管单位接收", "托管单位接收", "升学本校接收", "升学外校接收"):
        before = counts(runtime)
        with pytest.raises(ValidationFailed, match="需要上传证明材料") as exc:
            start(runtime, step, actor, "g1", {**EMPLOYER, "archive_type": transfer_type})
        assert transfers.PROOFS[transfer_type] in exc.value.message
        assert counts(runtime) == before
    inst = start(runtime, step, actor, "g1", {**EMPLOYER, "attachment_ids": proof(step, grad.id)})
    assert inst.status_label == "等待院系审核" and inst.category == "签约单位接收"


def test_back_to_origin_may_change_city_and_district_but_not_the_province(runtime, world, make_graduate,
                                                                         modules_open, step, actor):
    # rule ARC-3
    grad = make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    with runtime.Session() as s:
        assert transfers.prefill(transfers.ARCHIVE_KIND, s.get(Graduate, grad.id), "转回生源地") == {
            "archive_type": "转回生源地", "division_code": "350203"}
    before = counts(runtime)
    with pytest.raises(ValidationFailed, match="不能修改省级地址") as exc:
        start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "110108"})  # 北京市海淀区
    assert "福建省" in exc.value.message and "请选择其他档案转递类型" in exc.value.message
    assert counts(runtime) == before
    inst = start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "350102"})  # 福州市鼓楼区: same province
    assert inst.status_label == "等待院系审核"


def test_without_an_origin_nothing_is_prefilled_and_the_graduate_fills_everything(runtime, world, make_graduate,
                                                                                modules_open, step, actor):
    # rule ARC-3
    grad = make_graduate("g1", origin_code="", origin_name="")
    with runtime.Session() as s:
        assert transfers.prefill(transfers.ARCHIVE_KIND, s.get(Graduate, grad.id), "转回生源地") == {}
    inst = start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "110108"})
    assert inst.status_label == "等待院系审核"


def test_division_must_be_a_known_district(runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-2, DICT-2
    make_graduate("g1")
    with pytest.raises(ValidationFailed, match="请选择档案转递单位所在地"):
        start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "999999"})
    with pytest.raises(ValidationFailed, match="区（县）一级"):
        start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "350200"})


def test_one_open_application_at_a_time(runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-5, ARC-6
    make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    before = counts(runtime)
    with pytest.raises(Conflict, match="正在办理中"):
        start(runtime, step, actor, "g1")
    assert counts(runtime) == before
    approve_all(runtime, step, actor, inst.id)
    with pytest.raises(Conflict, match="无需再次登记"):  # registered: a change, not a second registration
        start(runtime, step, actor, "g1")
    change = start(runtime, step, actor, "g1", {**BACK_HOME, "archive_unit": "思明区人社局"}, transfers.CHANGE)
    with pytest.raises(Conflict, match="正在办理中"):
        start(runtime, step, actor, "g1", BACK_HOME, transfers.CHANGE)
    assert change.title == "档案信息修改"


def test_a_change_needs_a_registered_record(runtime, world, make_graduate, modules_open, step, actor):
    # rule ARC-6
    make_graduate("g1")
    with pytest.raises(Conflict, match="请先进行档案信息登记"):
        start(runtime, step, actor, "g1", BACK_HOME, transfers.CHANGE)


def test_approved_change_replaces_the_record_and_a_rejected_one_leaves_it_valid(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-6, CNF-5
    grad = make_graduate("g1")
    approve_all(runtime, step, actor, start(runtime, step, actor, "g1").id)
    step(lambda s: s.add(Confirmation(graduate_id=grad.id, status="confirmed", error_parts={}, changed_parts=[])))
    rejected = start(runtime, step, actor, "g1", {**BACK_HOME, "archive_unit": "错误的单位"}, transfers.CHANGE)
    assert info(runtime, grad.id)[1]["archive_unit"] == "厦门市思明区人才服务中心"  # the old one stays valid
    decide(runtime, step, actor, "dept_info", rejected.id, "approve")
    decide(runtime, step, actor, "school", rejected.id, "reject", "不属实")
    assert label(runtime, rejected.id) == "审核不通过（学校审核不通过）"
    assert info(runtime, grad.id)[1]["archive_unit"] == "厦门市思明区人才服务中心"
    with runtime.Session() as s:
        assert s.get(Confirmation, grad.id).status == "confirmed"  # nothing changed
    changed = start(runtime, step, actor, "g1", {**BACK_HOME, "archive_unit": "思明区人社局"}, transfers.CHANGE)
    approve_all(runtime, step, actor, changed.id)
    assert label(runtime, changed.id) == "审核通过"
    assert info(runtime, grad.id)[1]["archive_unit"] == "思明区人社局"
    with runtime.Session() as s:
        rows = list(s.scalars(select(RegisteredInfo).where(RegisteredInfo.graduate_id == grad.id)
                              .order_by(RegisteredInfo.id)))
        assert [r.active for r in rows] == [False, True]  # the old one stays, for history
        assert s.get(Confirmation, grad.id).status == "reconfirm"  # CNF-5


def test_info_from_an_agreement_or_the_school_is_shown_and_only_a_change_is_offered(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-7, ARC-6
    grad = make_graduate("g1")
    g = actor("g1")
    with runtime.Session() as s:
        assert transfers.offered_action(s, s.get(Graduate, grad.id), transfers.ARCHIVE_KIND) == "registration"
    step(lambda s: register_info(s, grad.id, "archive", {"archive_type": "签约单位接收", "archive_unit": "厦门人才中心"},
                                 "agreement", 1))
    with runtime.Session() as s:
        assert transfers.offered_action(s, s.get(Graduate, grad.id), transfers.ARCHIVE_KIND) == "change"
    with pytest.raises(Conflict, match="无需再次登记"):
        step(lambda s: services.start(ARCHIVE, s, runtime.runner, g, s.get(Graduate, grad.id), "registration", dict(BACK_HOME)))
    inst = start(runtime, step, actor, "g1", BACK_HOME, transfers.CHANGE)
    approve_all(runtime, step, actor, inst.id)
    assert info(runtime, grad.id)[1]["archive_unit"] == "厦门市思明区人才服务中心"


def test_the_school_registers_archive_info_directly(runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-7, NOTE-3
    grad = make_graduate("g1")
    school = actor("school")
    step(lambda s: transfers.register_by_school(s, school, grad.id, transfers.ARCHIVE_KIND, dict(EMPLOYER)))
    source, fields = info(runtime, grad.id)
    assert source == "school" and fields["archive_unit"] == "厦门星海科技有限公司"
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)) == 0  # no review
        sms = [o for o in s.scalars(select(OutboxMessage)) if o.kind == "notify.sms"]
        assert sms and "学校已登记你的档案信息" in sms[0].payload["title"]
    # the graduate need not register; a correction by the school replaces the record
    step(lambda s: transfers.register_by_school(s, school, grad.id, transfers.ARCHIVE_KIND,
                                                {**EMPLOYER, "archive_phone": "0592-7654321"}))
    assert info(runtime, grad.id)[1]["archive_phone"] == "0592-7654321"


def test_only_the_graduates_own_school_registers_directly(runtime, world, make_graduate, modules_open, step, actor):
    # rules ARC-7, ROLE-1
    from domain import seed

    grad = make_graduate("g1")

    def other_school(s):
        other = seed.make_school(s, s.get(type(world.province), world.province.id), code="10386", name="集美大学")
        seed.make_account(s, "school2", "school", "集美大学就业指导中心", school_id=other.id)

    step(other_school)
    before = counts(runtime)
    for username in ("school2", "dept_info", "g1"):
        a = actor(username)
        with pytest.raises(Forbidden):
            step(lambda s, a=a: transfers.register_by_school(s, a, grad.id, transfers.ARCHIVE_KIND, dict(EMPLOYER)))
    assert counts(runtime) == before


def test_withdraw_before_review_then_edit_and_resubmit(runtime, world, make_graduate, modules_open, step, actor):
    # rules REV-6, ARC-5
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    g = actor("g1")
    step(lambda s: reviews.withdraw(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "已撤回 待重新提交"
    item = open_items(runtime, inst.id, "Graduate")[0]
    assert item.form_key == "archive"
    with pytest.raises(Conflict, match="正在办理中"):  # still the one open application
        start(runtime, step, actor, "g1")
    step(lambda s: services.resubmit(ARCHIVE, s, runtime.runner, g, s.get(Graduate, grad.id), item.id,
                                     {**BACK_HOME, "archive_unit": "思明区人社局"}))
    assert label(runtime, inst.id) == "等待院系审核"
    with runtime.Session() as s:
        row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst.id))
        assert row.fields["archive_unit"] == "思明区人社局" and row.status == "pending"


def test_reviewer_edit_is_audited_mirrored_and_sent_to_the_graduate_by_sms(runtime, world, make_graduate,
                                                                         modules_open, step, actor):
    # rules REV-5, NOTE-3, NOTE-1, ARC-5
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    edited = reviewer_edit(runtime, grad.id, inst.id, {"archive_postcode": "361001"})
    decide(runtime, step, actor, "dept_info", inst.id, "approve", edits=edited)
    with runtime.Session() as s:
        edit = s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst.id, AuditEvent.action == "edit"))
        assert edit.actor_name == "信息学院审核员"
        assert edit.data_before["archive_postcode"] == "361000" and edit.data_after["archive_postcode"] == "361001"
        row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst.id))
        assert row.fields["archive_postcode"] == "361001"  # shown at once
        sms = [o for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.sms"))
               if "修改了你的登记信息" in o.payload["title"]]
        assert len(sms) == 1 and sms[0].payload["to"] == grad.phone
        assert "档案转递单位邮编：361000 → 361001" in sms[0].payload["body"]
    decide(runtime, step, actor, "school", inst.id, "approve")
    assert info(runtime, grad.id)[1]["archive_postcode"] == "361001"


def test_reviewer_edit_cannot_move_a_back_to_origin_record_to_another_province(runtime, world, make_graduate,
                                                                             modules_open, step, actor):
    # rules ARC-3, REV-5
    grad = make_graduate("g1")
    start(runtime, step, actor, "g1")
    with runtime.Session() as s, pytest.raises(ValidationFailed, match="不能修改省级地址"):
        transfers.build_application(transfers.ARCHIVE_KIND, s.get(Graduate, grad.id),
                                    {**BACK_HOME, "division_code": "440305"}, require_proof=False)


def test_module_closed_by_the_province_or_the_school_says_why(runtime, world, make_graduate, step, actor):
    # rules MOD-2, MOD-4
    grad = make_graduate("g1")  # the school has not opened the archive module
    with pytest.raises(Conflict, match="学校尚未完成"):
        start(runtime, step, actor, "g1")
    step(lambda s: setattr(s.get(type(world.province), world.province.id), "enabled_modules", ["destination"]))
    with runtime.Session() as s:
        reason = transfers.closed_reason(s.get(Graduate, grad.id), transfers.ARCHIVE_KIND)
    assert reason == "省级主管部门尚未开通“档案信息登记”模块，暂不能使用。"


def test_unconfirmed_graduate_cannot_register(runtime, world, make_graduate, modules_open, step, actor):
    # rule GRAD-3
    make_graduate("g1", confirmed=False)
    with pytest.raises(Conflict, match="信息确认无误"):
        start(runtime, step, actor, "g1")


def test_deleting_basic_info_invalidates_records_and_ends_pending_applications(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules GRAD-5, ARC-8, HUK-2
    from processes.hukou.kind import SPEC as HUKOU

    grad = make_graduate("g1")
    approve_all(runtime, step, actor, start(runtime, step, actor, "g1").id)
    under_review = start(runtime, step, actor, "g1", BACK_HOME, transfers.CHANGE)
    g = actor("g1")
    hukou_app = step(lambda s: services.start(HUKOU, s, runtime.runner, g, s.get(Graduate, grad.id), "registration", {
        "hukou_type": "转回生源地", "division_code": "350203", "hukou_address": "湖滨南路1号", "attachment_ids": []}))
    step(lambda s: reviews.withdraw(s, runtime.runner, g, hukou_app.id))  # the graduate is editing it
    assert label(runtime, hukou_app.id) == "已撤回 待重新提交"
    school = actor("school")
    result = step(lambda s: transfers.delete_basic_info(s, runtime.runner, school, grad.id))
    assert sorted(result["ended_instances"]) == sorted([under_review.id, hukou_app.id]) and result["invalidated"] == 1
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is not None  # marked, not deleted
        assert current_info(s, grad.id, "archive") is None
        assert s.scalar(select(func.count()).select_from(RegisteredInfo)) == 1  # the record stays, inactive
        for inst_id in (under_review.id, hukou_app.id):
            inst = s.get(ProcessInstance, inst_id)
            assert inst.status == "completed" and inst.status_label == "审核不通过（学校审核不通过）"
            row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst_id))
            assert row.status == "rejected" and row.reason == "学校已删除毕业生基本信息" and row.open_key is None
            assert not s.scalars(select(WorkItem).where(WorkItem.instance_id == inst_id,
                                                        WorkItem.state == "open")).first()
            assert s.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst_id,
                                                      AuditEvent.action == "basic_info_deleted")).first()
        assert any(m.body == "原因：学校已删除毕业生基本信息" for m in s.scalars(select(Message)))
        reason = transfers.closed_reason(s.get(Graduate, grad.id), transfers.ARCHIVE_KIND)
    assert "学校已删除你的毕业生基本信息" in reason
    # GRAD-2: the graduate can no longer enter; after the school re-uploads, they register again
    step(lambda s: setattr(s.get(Graduate, grad.id), "deleted_at", None))
    with runtime.Session() as s:
        assert transfers.offered_action(s, s.get(Graduate, grad.id), transfers.ARCHIVE_KIND) == "registration"


def test_only_the_own_school_deletes_basic_info(runtime, world, make_graduate, modules_open, step, actor):
    # rules GRAD-5, ROLE-1
    grad = make_graduate("g1")
    for username in ("dept_info", "g1", "admin"):
        a = actor(username)
        with pytest.raises(Forbidden):
            step(lambda s, a=a: transfers.delete_basic_info(s, runtime.runner, a, grad.id))
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is None


def test_the_one_open_application_holds_even_if_the_guard_races(runtime, world, make_graduate, modules_open, step,
                                                                actor, monkeypatch):
    # rule ARC-5 (design: one open application per kind is a unique key)
    make_graduate("g1")
    start(runtime, step, actor, "g1")
    monkeypatch.setattr(transfers, "open_application", lambda *a, **kw: None)  # a second step passed the guard
    before = counts(runtime)
    with pytest.raises(Conflict, match="正在办理中"):
        start(runtime, step, actor, "g1")
    assert counts(runtime) == before  # the whole step rolled back
