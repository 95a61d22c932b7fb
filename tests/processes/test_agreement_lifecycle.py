"""Terminations (TRM, OFT), offline signing (OFF) and paper registration (PAP), read like the guides."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import Conflict, Forbidden, ValidationFailed
from domain.attachments import store_images
from domain.models import Agreement, AssistLink, EffectiveDestination, Graduate, Message, Termination
from engine.models import OutboxMessage, ProcessInstance
from processes.agreements import services as signing
from processes.destination import services as filing
from processes.review import services as reviews
from processes.terminations import services as terminations
from tests.conftest import OFFLINE, TERMS, open_items, png_bytes
from tests.processes.test_online_signing import agreement, answer, invite, label, review

REASON = {"reason": "other_offer", "reason_name": "毕业生另有就业选择", "explanation": "双方协商一致"}


def signed_online(runtime, step, actor, grad_user, grad, employer_user="hr"):
    inst = invite(runtime, step, actor, employer_user, grad)
    answer(runtime, step, actor, grad_user, inst.id, "accept")
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    return agreement(runtime, inst.id)


def images(step, actor, user, n=1):
    a = actor(user)
    return step(lambda s: [x.id for x in store_images(s, a.graduate_id, a.id,
                                                      [(f"{i}.png", png_bytes((i * 50, 9, 9))) for i in range(n)])])


def test_graduate_starts_employer_accepts_review_terminates(runtime, world, make_graduate, make_employer, step, actor):
    # rules TRM-1, TRM-2, TRM-3, NOTE-1
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    g = actor("g1")
    term = step(lambda s: terminations.start_online_termination(s, runtime.runner, g, a.id, REASON))
    assert term.status_label == "等待用人单位回应"
    assert [i.role for i in open_items(runtime, term.id)] == ["Employer"]
    hr = actor("hr")
    step(lambda s: terminations.answer_termination(s, runtime.runner, hr, term.id, "accept"))
    assert label(runtime, term.id) == "等待院系审核"
    review(runtime, step, actor, "dept_info", term.id, "approve")
    review(runtime, step, actor, "school", term.id, "approve")
    assert label(runtime, term.id) == "解约审核通过"
    with runtime.Session() as s:
        row = s.get(Agreement, a.id)
        assert row.status == "terminated" and row.terminated_at is not None
        assert s.get(EffectiveDestination, grad.id) is None
        assert s.get(ProcessInstance, row.instance_id).status_label == "已解约"
    # the graduate may sign again or file another destination
    inst = filing.start_filing
    assert inst  # the filing path is open again:
    step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                       {"dest_type": "job_seeking", "fields": {}}))


def test_employer_starts_and_the_graduate_is_told_then_refuses(runtime, world, make_graduate, make_employer, step, actor):
    # rules TRM-1, TRM-2, NOTE-1
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    hr = actor("hr")
    term = step(lambda s: terminations.start_online_termination(s, runtime.runner, hr, a.id, REASON))
    assert term.status_label == "等待毕业生回应"
    with runtime.Session() as s:
        assert any("用人单位发起解约申请" in m.title for m in s.scalars(select(Message)))
    g = actor("g1")
    step(lambda s: terminations.answer_termination(s, runtime.runner, g, term.id, "refuse"))
    assert label(runtime, term.id) == "对方拒绝解约 解约失败"
    with runtime.Session() as s:
        assert s.get(Agreement, a.id).status == "signed"  # stays valid
        assert s.get(EffectiveDestination, grad.id).record_id == a.id


def test_rejected_termination_keeps_the_agreement(runtime, world, make_graduate, make_employer, step, actor):
    # rules TRM-3, TRM-4
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    g, hr = actor("g1"), actor("hr")
    term = step(lambda s: terminations.start_online_termination(s, runtime.runner, g, a.id, REASON))
    with pytest.raises(Conflict, match="正在办理"):
        step(lambda s: terminations.start_online_termination(s, runtime.runner, hr, a.id, REASON))  # TRM-4
    step(lambda s: terminations.answer_termination(s, runtime.runner, hr, term.id, "accept"))
    review(runtime, step, actor, "dept_info", term.id, "reject", "请先与单位确认违约金")
    assert label(runtime, term.id) == "解约审核不通过（院系审核不通过）"
    with runtime.Session() as s:
        assert s.get(Agreement, a.id).status == "signed"
    # once that one is over, a new termination may start
    again = step(lambda s: terminations.start_online_termination(s, runtime.runner, hr, a.id, REASON))
    assert again.status_label == "等待毕业生回应"


def test_termination_of_an_unsigned_agreement_is_refused(runtime, world, make_graduate, make_employer, step, actor):
    # rule TRM-1
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    a = agreement(runtime, inst.id)
    g = actor("g1")
    with pytest.raises(Conflict, match="只有线上签约且已生效"):
        step(lambda s: terminations.start_online_termination(s, runtime.runner, g, a.id, REASON))
    make_graduate("g2")
    other = actor("g2")
    with pytest.raises(Forbidden):
        step(lambda s: terminations.start_online_termination(s, runtime.runner, other, a.id, REASON))


def offline_signed(runtime, step, actor, user="g1"):
    g = actor(user)
    grad_id = g.graduate_id
    inst = step(lambda s: signing.save_offline_draft(s, runtime.runner, g, s.get(Graduate, grad_id),
                                                     {**OFFLINE, "position": "草稿"}))
    assert inst.status_label == "协议信息待提交"
    step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, grad_id), OFFLINE, inst.id))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "就业协议审核通过"
    ids = images(step, actor, user, 2)
    step(lambda s: signing.upload_stamped(s, runtime.runner, g, inst.id, ids))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    return inst


def test_offline_signing_draft_review_download_upload_review(runtime, world, make_graduate, step, actor):
    # rules OFF-1, OFF-2, OFF-3, OFF-4, AGR-1
    grad = make_graduate("g1")
    inst = offline_signed(runtime, step, actor)
    assert label(runtime, inst.id) == "签约审核通过"
    a = agreement(runtime, inst.id)
    assert a.kind == "offline" and a.status == "signed" and len(a.agreement_no) == 19
    assert a.fields["employer_name"] == "福州海峡贸易有限公司" and a.fields["position"] == "软件工程师"
    assert len(a.attachment_ids) == 2
    with runtime.Session() as s:
        assert s.get(EffectiveDestination, grad.id).record_id == a.id
        kinds = [o.kind for o in s.scalars(select(OutboxMessage))]
        assert kinds.count("agreement.render_pdf") >= 1  # the e-agreement is rendered once approved


def test_offline_agreement_return_then_reject_voids(runtime, world, make_graduate, step, actor):
    # rules OFF-2, REV-3
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))
    review(runtime, step, actor, "dept_info", inst.id, "return", "单位地址不完整")
    assert label(runtime, inst.id) == "协议审核待提交（老师退回）"
    item = open_items(runtime, inst.id, "Graduate")[0]
    fixed = {**OFFLINE, "employer_address": "福州市鼓楼区五四路1号"}
    step(lambda s: runtime.runner.complete(s, item.id, g, {"application": {"fields": fixed}}))
    assert label(runtime, inst.id) == "等待院系审核"
    review(runtime, step, actor, "dept_info", inst.id, "reject", "单位信息不实")
    assert label(runtime, inst.id) == "就业协议审核不通过"
    a = agreement(runtime, inst.id)
    assert a.status == "void" and a.active_key is None
    # the graduate may apply again
    again = step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))
    assert again.status_label == "等待院系审核"


def test_withdraw_applies_to_both_offline_submissions(runtime, world, make_graduate, step, actor):
    # rules OFF-5, REV-6
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))
    step(lambda s: reviews.withdraw(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "协议审核待提交（已撤回）"
    item = open_items(runtime, inst.id, "Graduate")[0]
    step(lambda s: runtime.runner.complete(s, item.id, g, {"application": {"fields": OFFLINE}}))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    ids = images(step, actor, "g1")
    step(lambda s: signing.upload_stamped(s, runtime.runner, g, inst.id, ids))
    step(lambda s: reviews.withdraw(s, runtime.runner, g, inst.id))
    assert label(runtime, inst.id) == "协议书回传待提交（已撤回）"


def test_signing_review_return_asks_for_a_new_upload_and_reject_voids(runtime, world, make_graduate, step, actor):
    # rule OFF-4
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    ids = images(step, actor, "g1")
    step(lambda s: signing.upload_stamped(s, runtime.runner, g, inst.id, ids))
    review(runtime, step, actor, "dept_info", inst.id, "return", "公章不清晰")
    assert label(runtime, inst.id) == "协议书回传待提交（老师退回）"
    more = images(step, actor, "g1")
    step(lambda s: signing.upload_stamped(s, runtime.runner, g, inst.id, more))
    review(runtime, step, actor, "dept_info", inst.id, "reject", "盖章单位与协议不符")
    assert label(runtime, inst.id) == "签约审核不通过（院系审核不通过）"
    assert agreement(runtime, inst.id).status == "void"


def test_employer_assist_link_works_once_and_expires(runtime, world, make_graduate, step, actor):
    # rule OFF-3
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    token = step(lambda s: signing.create_assist_link(s, g, inst.id))
    with runtime.Session() as s:
        sms = [o for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.sms"))
               if o.payload["title"] == "请协助回传就业协议书"][0]
        assert sms.payload["to"] == OFFLINE["mobile"] and token in sms.payload["body"]
    with pytest.raises(ValidationFailed):
        step(lambda s: signing.upload_by_assist_link(s, runtime.runner, token, []))
    step(lambda s: signing.upload_by_assist_link(s, runtime.runner, token, [("stamped.png", png_bytes())]))
    assert label(runtime, inst.id) == "等待院系审核"
    with pytest.raises(Forbidden, match="链接无效"):  # works once
        step(lambda s: signing.upload_by_assist_link(s, runtime.runner, token, [("x.png", png_bytes())]))
    with pytest.raises(Forbidden, match="链接无效"):  # unknown
        step(lambda s: signing.upload_by_assist_link(s, runtime.runner, "forged", [("x.png", png_bytes())]))
    # an expired link is refused the same way
    review(runtime, step, actor, "dept_info", inst.id, "return", "重新回传")
    token2 = step(lambda s: signing.create_assist_link(s, g, inst.id))
    with runtime.Session() as s:
        for link in s.scalars(select(AssistLink).where(AssistLink.used_at.is_(None))):
            link.expires_at = datetime.utcnow() - timedelta(minutes=1)
        s.commit()
    with pytest.raises(Forbidden, match="链接无效"):
        step(lambda s: signing.upload_by_assist_link(s, runtime.runner, token2, [("x.png", png_bytes())]))
    assert label(runtime, inst.id) == "协议书回传待提交（老师退回）"


def test_offline_termination_with_letter_return_and_approval(runtime, world, make_graduate, step, actor):
    # rules OFT-1, OFT-2, TRM-4
    grad = make_graduate("g1")
    inst = offline_signed(runtime, step, actor)
    a = agreement(runtime, inst.id)
    g = actor("g1")
    with pytest.raises(ValidationFailed):  # the letter is required
        step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id), a.id,
                                                          REASON, []))
    letter = images(step, actor, "g1")
    term = step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                             a.id, REASON, letter))
    assert term.status_label == "等待院系审核"
    with pytest.raises(Conflict):
        step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                          a.id, REASON, letter))
    review(runtime, step, actor, "dept_info", term.id, "return", "请上传单位盖章的解约函")
    assert label(runtime, term.id) == "解约申请待提交（老师退回）"
    item = open_items(runtime, term.id, "Graduate")[0]
    letter2 = images(step, actor, "g1")
    step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id), a.id,
                                                      REASON, letter2, work_item_id=item.id))
    review(runtime, step, actor, "dept_info", term.id, "approve")
    review(runtime, step, actor, "school", term.id, "approve")
    assert label(runtime, term.id) == "解约审核通过"
    with runtime.Session() as s:
        assert s.get(Agreement, a.id).status == "terminated"
        assert s.get(EffectiveDestination, grad.id) is None
        assert s.scalar(select(Termination.status).where(Termination.instance_id == term.id)) == "approved"


def test_offline_termination_rejected_keeps_the_agreement(runtime, world, make_graduate, step, actor):
    # rule OFT-2
    make_graduate("g1")
    inst = offline_signed(runtime, step, actor)
    a = agreement(runtime, inst.id)
    g = actor("g1")
    letter = images(step, actor, "g1")
    term = step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                             a.id, REASON, letter))
    review(runtime, step, actor, "dept_info", term.id, "reject", "单位未同意")
    assert label(runtime, term.id) == "解约审核不通过（院系审核不通过）"
    with runtime.Session() as s:
        assert s.get(Agreement, a.id).status == "signed"


def test_online_agreement_cannot_use_offline_termination(runtime, world, make_graduate, make_employer, step, actor):
    # rules OFT-1, TRM-1
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    g = actor("g1")
    letter = images(step, actor, "g1")
    with pytest.raises(Conflict, match="线下签约"):
        step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                          a.id, REASON, letter))


def test_paper_registration_review_and_termination_through_oft(runtime, world, make_graduate, step, actor):
    # rules PAP-1, PAP-2, OFT-1, AGR-1
    grad = make_graduate("g1")
    g = actor("g1")
    with pytest.raises(ValidationFailed):  # stamped images are required
        step(lambda s: signing.submit_paper(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE, []))
    ids = images(step, actor, "g1", 2)
    inst = step(lambda s: signing.submit_paper(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE, ids))
    assert inst.status_label == "等待院系审核"
    review(runtime, step, actor, "dept_info", inst.id, "return", "请补充第二页")
    assert label(runtime, inst.id) == "登记待提交（老师退回）"
    item = open_items(runtime, inst.id, "Graduate")[0]
    step(lambda s: signing.submit_paper(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE, ids,
                                        work_item_id=item.id))
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "登记审核通过"
    a = agreement(runtime, inst.id)
    assert a.kind == "paper" and a.status == "signed" and a.attachment_ids == ids and len(a.agreement_no) == 19
    with runtime.Session() as s:
        assert s.get(EffectiveDestination, grad.id).record_id == a.id
    letter = images(step, actor, "g1")
    term = step(lambda s: terminations.submit_offline_termination(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                             a.id, REASON, letter))
    assert term.status_label == "等待院系审核"


def test_paper_registration_rejected_is_void(runtime, world, make_graduate, step, actor):
    # rule PAP-2
    make_graduate("g1")
    g = actor("g1")
    ids = images(step, actor, "g1")
    inst = step(lambda s: signing.submit_paper(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE, ids))
    review(runtime, step, actor, "dept_info", inst.id, "reject", "协议书不完整")
    assert label(runtime, inst.id) == "登记审核不通过（院系审核不通过）"
    assert agreement(runtime, inst.id).status == "void"


def test_terms_carry_over_to_the_agreement(runtime, world, make_graduate, make_employer, step, actor):
    # rule ONL-1
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online(runtime, step, actor, "g1", grad)
    for key in ("position", "salary_regular", "penalty", "archive_type", "hukou_type", "supplement"):
        assert a.fields[key] == TERMS[key]
