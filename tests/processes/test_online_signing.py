"""Online signing (ONL), read like the guide: the employer invites, the graduate answers, two-level review."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.errors import Conflict
from domain.models import Account, Agreement, EffectiveDestination, Message
from engine.models import ProcessInstance
from engine.timers import fire_due_timers
from processes.agreements import services as signing
from tests.conftest import TERMS, open_items, wait_past


def invite(runtime, step, actor, employer_user, graduate, days=7, now=None):
    e = actor(employer_user)
    return step(lambda s: signing.invite(s, runtime.runner, e, graduate.id, TERMS, days, now=now))


def answer(runtime, step, actor, user, instance_id, how):
    a = actor(user)
    return step(lambda s: signing.answer_invitation(s, runtime.runner, a, instance_id, how))


def review(runtime, step, actor, user, instance_id, decision, reason=""):
    from processes.review import services as reviews

    a = actor(user)
    item = open_items(runtime, instance_id, "Department" if user.startswith("dept") else "School")[0]
    return step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, reason))


def agreement(runtime, instance_id) -> Agreement:
    with runtime.Session() as s:
        return s.scalar(select(Agreement).where(Agreement.instance_id == instance_id))


def label(runtime, instance_id):
    with runtime.Session() as s:
        return s.get(ProcessInstance, instance_id).status_label


def test_invite_accept_and_two_approvals_sign_with_a_number(runtime, world, make_graduate, make_employer, step, actor):
    # rules ONL-1, ONL-2, ONL-6, AGR-1, DST-4, NOTE-1
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    assert inst.status_label == "单位发起邀请 等待应约"
    a = agreement(runtime, inst.id)
    assert a.status == "invited" and a.fields["position"] == "软件工程师"
    assert a.answer_deadline - datetime.utcnow() > timedelta(days=6, hours=23)
    with runtime.Session() as s:
        assert any("新的签约邀请" in m.title for m in s.scalars(select(Message)))
    answer(runtime, step, actor, "g1", inst.id, "accept")
    assert label(runtime, inst.id) == "等待院系审核"
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    assert label(runtime, inst.id) == "等待学校审核"
    review(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "签约审核通过"
    a = agreement(runtime, inst.id)
    assert a.status == "signed" and a.signed_at is not None
    assert len(a.agreement_no) == 19 and a.agreement_no.isdigit()
    assert a.agreement_no[:4] == str(datetime.utcnow().year) and a.agreement_no[4:6] == "35"
    with runtime.Session() as s:
        eff = s.get(EffectiveDestination, grad.id)
        assert eff.kind == "agreement" and eff.record_id == a.id


def test_refusal_fails_the_signing_and_the_employer_may_invite_again(runtime, world, make_graduate, make_employer, step,
                                                                      actor):
    # rules ONL-2, ONL-5
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    with pytest.raises(Conflict, match="不能重复邀请"):
        invite(runtime, step, actor, "hr", grad)  # still open
    answer(runtime, step, actor, "g1", inst.id, "refuse")
    assert label(runtime, inst.id) == "学生已拒绝签约 签约失败"
    assert agreement(runtime, inst.id).status == "refused"
    again = invite(runtime, step, actor, "hr", grad)
    assert again.status_label == "单位发起邀请 等待应约"


def test_two_employers_may_invite_and_signing_does_not_stop_invitations(runtime, world, make_graduate, make_employer,
                                                                        step, actor):
    # rules ONL-3, ONL-4
    grad = make_graduate("g1")
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    first = invite(runtime, step, actor, "hr", grad)
    second = invite(runtime, step, actor, "hr2", grad)
    answer(runtime, step, actor, "g1", first.id, "accept")
    with pytest.raises(Conflict, match="只能查看"):
        answer(runtime, step, actor, "g1", second.id, "accept")
    assert label(runtime, second.id) == "单位发起邀请 等待应约"  # view-only, unchanged
    review(runtime, step, actor, "dept_info", first.id, "approve")
    review(runtime, step, actor, "school", first.id, "approve")
    # ONL-4: a signed graduate can still be invited by others
    make_employer("hr3", name="漳州某公司")
    third = invite(runtime, step, actor, "hr3", grad)
    assert third.status_label == "单位发起邀请 等待应约"
    with pytest.raises(Conflict):
        answer(runtime, step, actor, "g1", third.id, "accept")


def test_school_rejection_fails_and_the_employer_invites_again(runtime, world, make_graduate, make_employer, step, actor):
    # rules ONL-6, REV-4, ONL-3
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    answer(runtime, step, actor, "g1", inst.id, "accept")
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "reject", "岗位与专业不符")
    assert label(runtime, inst.id) == "签约审核不通过（学校审核不通过）"
    a = agreement(runtime, inst.id)
    assert a.status == "rejected" and a.failure_reason == "岗位与专业不符" and a.agreement_no is None
    again = invite(runtime, step, actor, "hr", grad)
    answer(runtime, step, actor, "g1", again.id, "accept")  # the one-agreement claim was released
    assert label(runtime, again.id) == "等待院系审核"


def test_signing_review_offers_no_return(runtime, world, make_graduate, make_employer, step, actor):
    # rules REV-1, ONL-6
    from core.errors import ValidationFailed

    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    answer(runtime, step, actor, "g1", inst.id, "accept")
    with pytest.raises(ValidationFailed, match="不允许退回"):
        review(runtime, step, actor, "dept_info", inst.id, "return", "改")


def test_invitation_expires_when_the_timer_job_fires(runtime, world, make_graduate, make_employer, step, actor):
    # rules ONL-2, ONL-5
    grad = make_graduate("g1")
    make_employer("hr")
    # the employer invited a day and a bit ago with a one-day answer window: time has moved past the deadline
    past = datetime.now(UTC) - timedelta(days=1, seconds=-2)
    inst = invite(runtime, step, actor, "hr", grad, days=1, now=past)
    assert label(runtime, inst.id) == "单位发起邀请 等待应约"
    with runtime.Session() as s:
        assert s.get(ProcessInstance, inst.id).next_timer_at is not None
    wait_past(past + timedelta(days=1))
    with pytest.raises(Conflict, match="应约截止时间"):
        answer(runtime, step, actor, "g1", inst.id, "accept")  # before the job runs, accepting is refused
    assert fire_due_timers(runtime.Session, runtime.runner) == 1
    assert label(runtime, inst.id) == "签约邀请逾期未回应 签约失败"
    assert agreement(runtime, inst.id).status == "expired"
    assert not open_items(runtime, inst.id)
    again = invite(runtime, step, actor, "hr", grad)  # ONL-5: after an expiry it can invite again
    assert again.status_label == "单位发起邀请 等待应约"


def test_deadline_limits_only_the_answer_not_the_review(runtime, world, make_graduate, make_employer, step, actor):
    # rule ONL-2
    grad = make_graduate("g1")
    make_employer("hr")
    past = datetime.now(UTC) - timedelta(days=1, seconds=-2)
    inst = invite(runtime, step, actor, "hr", grad, days=1, now=past)
    answer(runtime, step, actor, "g1", inst.id, "accept")
    wait_past(past + timedelta(days=1))
    assert fire_due_timers(runtime.Session, runtime.runner) == 0
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    assert label(runtime, inst.id) == "签约审核通过"


def test_accepting_two_invitations_at_the_same_instant_gives_one_agreement(runtime, world, make_graduate, make_employer,
                                                                           step, actor):
    # rule ONL-3
    grad = make_graduate("g1")
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    invitations = [invite(runtime, step, actor, "hr", grad), invite(runtime, step, actor, "hr2", grad)]
    g = actor("g1")
    barrier = threading.Barrier(2)
    results = []

    def accept(instance_id):
        with runtime.Session() as s:
            barrier.wait()
            try:
                s.connection(execution_options={"sqlite_immediate": True})
                signing.answer_invitation(s, runtime.runner, g, instance_id, "accept")
                s.commit()
                results.append("ok")
            except Conflict as exc:
                s.rollback()
                results.append(exc.message)

    threads = [threading.Thread(target=accept, args=(i.id,)) for i in invitations]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert sorted(r == "ok" for r in results) == [False, True], results
    with runtime.Session() as s:
        accepted = s.scalar(select(func.count()).select_from(Agreement).where(
            Agreement.graduate_id == grad.id, Agreement.status == "accepted"))
        assert accepted == 1


def test_two_approvals_never_produce_the_same_number(runtime, world, make_graduate, make_employer, step, actor):
    # rule AGR-1
    make_employer("hr")
    instances = []
    for i in range(2):
        grad = make_graduate(f"g{i}")
        inst = invite(runtime, step, actor, "hr", grad)
        answer(runtime, step, actor, f"g{i}", inst.id, "accept")
        review(runtime, step, actor, "dept_info", inst.id, "approve")
        instances.append(inst)
    school = actor("school")
    barrier = threading.Barrier(2)
    errors = []

    def approve(instance_id):
        from processes.review import services as reviews

        item = open_items(runtime, instance_id, "School")[0]
        with runtime.Session() as s:
            barrier.wait()
            try:
                s.connection(execution_options={"sqlite_immediate": True})
                reviews.review(s, runtime.runner, school, item.id, "approve", "")
                s.commit()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i.id,)) for i in instances]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert not errors, errors
    numbers = [agreement(runtime, i.id).agreement_no for i in instances]
    assert len(set(numbers)) == 2 and all(len(n) == 19 for n in numbers)
    assert sorted(int(n[6:]) for n in numbers) == [1, 2]


def test_directed_graduate_cannot_be_invited(runtime, world, make_graduate, make_employer, step, actor):
    # rules GRAD-6, ONL-1
    grad = make_graduate("d1", training_mode="定向", directed_unit="某单位")
    make_employer("hr")
    with pytest.raises(Conflict, match="定向/委培"):
        invite(runtime, step, actor, "hr", grad)


def test_graduate_with_an_effective_destination_cannot_accept(runtime, world, make_graduate, make_employer, step, actor):
    # rule DST-4
    grad = make_graduate("g1")
    make_employer("hr")
    step(lambda s: s.add(EffectiveDestination(graduate_id=grad.id, kind="destination", record_id=1)))
    inst = invite(runtime, step, actor, "hr", grad)
    with pytest.raises(Conflict, match="生效的毕业去向"):
        answer(runtime, step, actor, "g1", inst.id, "accept")


def test_archive_and_hukou_details_reach_open_modules_once_signed(runtime, world, make_graduate, make_employer, step,
                                                                  actor):
    # rules ONL-7, ARC-7, MOD-5
    from domain.models import RegisteredInfo

    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules",
                           ["destination", "archive", "hukou"]))
    grad = make_graduate("g1")
    grad2 = make_graduate("g2", hukou_in_school=False)
    make_employer("hr")
    for user, g in (("g1", grad), ("g2", grad2)):
        inst = invite(runtime, step, actor, "hr", g)
        with runtime.Session() as s:
            assert s.scalar(select(func.count()).select_from(RegisteredInfo)
                            .where(RegisteredInfo.graduate_id == g.id)) == 0
        answer(runtime, step, actor, user, inst.id, "accept")
        review(runtime, step, actor, "dept_info", inst.id, "approve")
        review(runtime, step, actor, "school", inst.id, "approve")
    with runtime.Session() as s:
        rows = {(r.graduate_id, r.kind): r for r in s.scalars(select(RegisteredInfo).where(RegisteredInfo.active))}
        assert rows[(grad.id, "archive")].fields["archive_type"] == "签约单位接收"
        assert rows[(grad.id, "hukou")].source == "agreement"
        assert (grad2.id, "archive") in rows and (grad2.id, "hukou") not in rows  # hukou not moved to the school


def test_details_are_not_copied_when_the_modules_are_closed(runtime, world, make_graduate, make_employer, step, actor):
    # rules ONL-7, MOD-4
    from domain.models import RegisteredInfo

    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, "hr", grad)
    answer(runtime, step, actor, "g1", inst.id, "accept")
    review(runtime, step, actor, "dept_info", inst.id, "approve")
    review(runtime, step, actor, "school", inst.id, "approve")
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(RegisteredInfo)) == 0


def test_invitations_expiring_in_one_batch_each_notify_their_own_employer(runtime, world, make_graduate, make_employer,
                                                                          step, actor):
    # rules ONL-2, NOTE-1
    from domain import seed
    from domain.models import Employer
    from engine.models import OutboxMessage

    grads = [make_graduate(f"g{k}") for k in range(4)]
    first = make_employer("hr", "厦门星海科技有限公司")
    make_employer("hr2", "福州海峡贸易有限公司", mobile="")  # no mobile: no SMS for it
    with runtime.Session() as s:
        seed.make_account(s, "hr_b", "employer", "星海招聘二", employer_id=first.id)  # a second account
        s.commit()
    past = datetime.now(UTC) - timedelta(days=1, seconds=-2)
    ids = [invite(runtime, step, actor, "hr" if k % 2 == 0 else "hr2", g, days=1, now=past).id
           for k, g in enumerate(grads)]
    wait_past(past + timedelta(days=1))
    queries: list[str] = []
    from sqlalchemy import event

    def record(_c, _cur, statement, *_a):
        queries.append(statement)

    event.listen(runtime.db, "before_cursor_execute", record)
    try:
        assert fire_due_timers(runtime.Session, runtime.runner, batch=10) == 4  # one batch, one transaction
    finally:
        event.remove(runtime.db, "before_cursor_execute", record)
    # the batch read the agreements and the employers' accounts once, not once per instance
    assert sum(q.lstrip().upper().startswith("SELECT") and "FROM agreement" in q for q in queries) == 1
    assert sum(q.lstrip().upper().startswith("SELECT") and "FROM account" in q for q in queries) == 1
    with runtime.Session() as s:
        assert {a.status for a in s.scalars(select(Agreement).where(Agreement.instance_id.in_(ids)))} == {"expired"}
        got = s.execute(select(Message.account_id, Message.instance_id).where(
            Message.instance_id.in_(ids), Message.title.like("签约邀请已逾期失效%"))).all()
        accounts = {a.username: a.id for a in s.scalars(select(Account).where(
            Account.username.in_(["hr", "hr_b", "hr2"])))}
        sms = [r for r in s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id.in_(ids),
                                                                OutboxMessage.kind == "notify.sms"))
               if r.payload["title"].startswith("签约邀请已逾期失效")]
        mobile = s.get(Employer, first.id).mobile
    mine = {accounts["hr"]: set(ids[0::2]), accounts["hr_b"]: set(ids[0::2]), accounts["hr2"]: set(ids[1::2])}
    assert {acc: {i for a, i in got if a == acc} for acc in mine} == mine  # each its own, never the other's
    assert len(got) == 6
    assert sorted(r.instance_id for r in sms) == sorted(ids[0::2])  # SMS only to the employer with a mobile
    assert {r.payload["to"] for r in sms} == {mobile}
