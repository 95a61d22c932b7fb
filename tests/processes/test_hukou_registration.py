"""Scenario tests for 户口信息登记 and 户口信息修改 (seed 000 §5, seed 001 §6), read like the guides."""
from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import select

from core.errors import Conflict, ValidationFailed
from domain import transfers
from domain.models import Graduate
from engine.models import AuditEvent, OutboxMessage
from processes.hukou.kind import SPEC as HUKOU
from processes.transfers import services
from tests.conftest import png_bytes
from tests.processes import transfer_steps

BACK_HOME = {"hukou_type": "转回生源地", "division_code": "350203", "hukou_address": "思明区湖滨南路1号",
             "note": "", "attachment_ids": []}


start = partial(transfer_steps.start, HUKOU, default=BACK_HOME)
decide = partial(transfer_steps.decide, HUKOU)
reviewer_edit = partial(transfer_steps.reviewer_edit, HUKOU)
approve_all = partial(transfer_steps.approve_all, HUKOU)
info = partial(transfer_steps.info, HUKOU)
label, counts = transfer_steps.label, transfer_steps.counts


def test_hukou_registration_approved_shows_in_the_hukou_column(runtime, world, make_graduate, modules_open,
                                                              step, actor):
    # rules HUK-1, ARC-5, REV-1, REV-2
    grad = make_graduate("g1", hukou_in_school=True)
    inst = start(runtime, step, actor, "g1")
    assert inst.title == "户口信息登记" and inst.status_label == "等待院系审核"
    approve_all(runtime, step, actor, inst.id)
    assert label(runtime, inst.id) == "审核通过"
    source, fields = info(runtime, grad.id)
    assert source == "registration"
    assert fields == {"hukou_type": "转回生源地", "division_code": "350203", "division_name": "福建省厦门市思明区",
                      "hukou_address": "思明区湖滨南路1号", "note": ""}


def test_hukou_types_are_the_archive_types_and_proof_is_needed_but_for_back_to_origin(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules HUK-1, ARC-1, ARC-4
    from domain.attachments import store_images

    grad = make_graduate("g1")
    assert transfers.TRANSFER_TYPES[:4] == ("签约单位接收", "上级主管单位接收", "托管单位接收", "转回生源地")
    before = counts(runtime)
    with pytest.raises(ValidationFailed, match="需要上传证明材料"):
        start(runtime, step, actor, "g1", {**BACK_HOME, "hukou_type": "升学外校接收", "division_code": "110108"})
    assert counts(runtime) == before
    ids = step(lambda s: [a.id for a in store_images(s, grad.id, None, [("letter.png", png_bytes())])])
    inst = start(runtime, step, actor, "g1", {**BACK_HOME, "hukou_type": "升学外校接收", "division_code": "110108",
                                              "attachment_ids": ids})
    assert inst.category == "升学外校接收"


def test_hukou_registration_by_a_graduate_whose_hukou_is_not_at_the_school_is_refused(
        runtime, world, make_graduate, modules_open, step, actor):
    # rules HUK-2, MOD-5
    grad = make_graduate("g1", hukou_in_school=False)
    before = counts(runtime)
    with pytest.raises(Conflict, match="户口未转入学校"):
        start(runtime, step, actor, "g1")
    assert counts(runtime) == before
    school = actor("school")
    with pytest.raises(Conflict, match="户口未转入学校"):  # nor does the school register it
        step(lambda s: transfers.register_by_school(s, school, grad.id, transfers.HUKOU_KIND, dict(BACK_HOME)))
    assert counts(runtime) == before
    with runtime.Session() as s:
        assert transfers.offered_action(s, s.get(Graduate, grad.id), transfers.HUKOU_KIND) is None


def test_back_to_origin_hukou_cannot_move_to_another_province(runtime, world, make_graduate, modules_open,
                                                             step, actor):
    # rules HUK-1, ARC-3
    make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    before = counts(runtime)
    with pytest.raises(ValidationFailed, match="不能修改省级地址") as exc:
        start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "440305"})
    assert "请选择其他户口迁移类型" in exc.value.message
    assert counts(runtime) == before


def test_hukou_change_replaces_the_record_only_when_approved(runtime, world, make_graduate, modules_open,
                                                            step, actor):
    # rules HUK-1, ARC-6
    grad = make_graduate("g1")
    approve_all(runtime, step, actor, start(runtime, step, actor, "g1").id)
    rejected = start(runtime, step, actor, "g1", {**BACK_HOME, "hukou_address": "错误地址"}, transfers.CHANGE)
    assert rejected.title == "户口信息修改"
    decide(runtime, step, actor, "dept_info", rejected.id, "reject", "地址不属实")
    assert info(runtime, grad.id)[1]["hukou_address"] == "思明区湖滨南路1号"  # the old one stays valid
    approved = start(runtime, step, actor, "g1", {**BACK_HOME, "division_code": "350102",
                                                  "hukou_address": "鼓楼区某路1号"}, transfers.CHANGE)
    approve_all(runtime, step, actor, approved.id)
    fields = info(runtime, grad.id)[1]
    assert fields["division_name"] == "福建省福州市鼓楼区" and fields["hukou_address"] == "鼓楼区某路1号"


def test_reviewer_edit_of_hukou_info_sends_an_sms(runtime, world, make_graduate, modules_open, step, actor):
    # rules NOTE-3, REV-5, HUK-1
    grad = make_graduate("g1")
    inst = start(runtime, step, actor, "g1")
    edited = reviewer_edit(runtime, grad.id, inst.id, {"hukou_address": "思明区湖滨南路2号"})
    decide(runtime, step, actor, "dept_info", inst.id, "approve", edits=edited)
    with runtime.Session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst.id, AuditEvent.action == "edit"))
        sms = [o.payload for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.sms"))
               if "修改了你的登记信息" in o.payload["title"]]
        assert sms and sms[0]["to"] == grad.phone and "户口迁移详细地址" in sms[0]["body"]


def test_one_open_hukou_application_and_archive_is_independent(runtime, world, make_graduate, modules_open,
                                                               step, actor):
    # rules HUK-1, ARC-5
    from processes.archive.kind import SPEC as ARCHIVE

    make_graduate("g1")
    start(runtime, step, actor, "g1")
    with pytest.raises(Conflict, match="正在办理中"):
        start(runtime, step, actor, "g1")
    g = actor("g1")
    archive_app = step(lambda s: services.start(ARCHIVE, s, runtime.runner, g, s.get(Graduate, g.graduate_id), "registration", {
        "archive_type": "转回生源地", "archive_unit": "人才中心", "division_code": "350203", "archive_address": "某路",
        "archive_postcode": "361000", "archive_contact": "档案室", "archive_phone": "0592-1234567"}))
    assert archive_app.status_label == "等待院系审核"  # one open application per kind, not per graduate
