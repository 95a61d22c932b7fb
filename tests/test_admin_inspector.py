"""The admin's instance inspector (issue 10, items 4–6): the list, one instance in words, and the admin actions
(suspend, resume, terminate, retry a failed timer step)."""
from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden
from engine.models import AuditEvent, OutboxMessage, ProcessInstance, WorkItem
from engine.services import SYSTEM
from engine.timers import fire_due_timers
from processes.agreements import services as signing
from tests.conftest import TERMS, open_items, wait_past
from tests.modules import testkit
from tests.test_browser import browser, live_server  # noqa: F401 - fixtures of the browser test


def invite(runtime, step, actor, graduate, days=7, now=None, employer="hr"):
    e = actor(employer)
    return step(lambda s: signing.invite(s, runtime.runner, e, graduate.id, TERMS, days, now=now))


def answer(runtime, step, actor, user, instance_id, how="accept"):
    a = actor(user)
    return step(lambda s: signing.answer_invitation(s, runtime.runner, a, instance_id, how))


def review(runtime, step, actor, user, instance_id, decision="approve", reason=""):
    from processes.review import services as reviews

    a = actor(user)
    item = open_items(runtime, instance_id, "Department" if user.startswith("dept") else "School")[0]
    return step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, reason))


def instance(runtime, instance_id) -> ProcessInstance:
    with runtime.Session() as s:
        inst = s.get(ProcessInstance, instance_id)
        inst.state  # noqa: B018 - loaded before the expunge: the tests compare it
        s.expunge(inst)
        return inst


def states(page: str) -> dict[str, list[str]]:
    """bpmn id -> the states the element's tasks show, from the 流程元素 table."""
    found: dict[str, list[str]] = {}
    for bpmn_id, row in re.findall(r'<tr class="task [^"]*" data-bpmn-id="([^"]+)">(.*?)</tr>', page, re.S):
        state = re.search(r'<span class="state[^"]*">([^<]+)</span>', row).group(1)
        found.setdefault(bpmn_id, []).append(state)
    return found


def section(page: str, element_id: str) -> str:
    """One card of the page: from its id to the next card."""
    match = re.search(rf'<div class="card[^"]*" id="{element_id}">(.*?)(?=<div class="card|</main>)', page, re.S)
    assert match, element_id
    return match.group(1)


def admin_post(client, instance_id, action, reason="运维处理"):
    return client.post(f"/admin/instances/{instance_id}/{action}", data={"reason": reason})


@pytest.fixture
def admin(client_for, world):
    return client_for("admin")


def test_inspector_shows_states_in_words_at_each_step_of_an_online_signing(runtime, world, make_graduate,
                                                                           make_employer, step, actor, admin):
    # rules ONL-1, ONL-2, ONL-6
    grad = make_graduate("g1", name="林晓")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)

    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    s = states(page)
    assert s["start"] == ["已完成"] and s["invite"] == ["已完成"]
    assert s["answer_invitation"] == ["待办理"]
    assert s["answer_deadline_timer"] == ["等待中"]
    assert s["review_call"][0].startswith("未到达")
    assert "BoundaryEventSplit" not in page and "BoundaryEventJoin" not in page  # parser helpers are hidden
    assert "毕业生应约" in page and "应约截止" in page and "登记签约邀请" in page  # element names and ids
    assert not re.search(r">\s*(64|256|16)\s*<", section(page, "tasks"))  # no state numbers
    timers = section(page, "timers")
    deadline = instance(runtime, inst.id).next_timer_at
    assert "应约截止" in timers and (deadline + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in timers  # ONL-2
    items = section(page, "open-items")
    assert "毕业生应约" in items and "毕业生" in items and "林晓" in items
    history = section(page, "history")
    assert "发起" in history and "厦门星海科技有限公司" in page

    answer(runtime, step, actor, "g1", inst.id)
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    s = states(page)
    assert s["answer_invitation"] == ["已完成"] and s["accept"] == ["已完成"]
    assert s["answer_deadline_timer"] == ["已取消"]  # the deadline limits only the answer (ONL-2)
    assert s["department_review"] == ["待办理"] and s["school_review"][0].startswith("未到达")
    assert "院系审核" in section(page, "open-items") and "信息学院" in section(page, "open-items")
    assert "没有等待中的定时器" in section(page, "timers")
    assert "毕业生应约" in section(page, "history") and "接受" in section(page, "history")

    review(runtime, step, actor, "dept_info", inst.id)
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    s = states(page)
    assert s["department_review"] == ["已完成"] and s["school_review"] == ["待办理"]
    assert "学校审核" in section(page, "open-items") and "厦门大学" in section(page, "open-items")
    history = section(page, "history")
    assert "院系审核" in history and "通过" in history and "信息学院审核员" in history

    review(runtime, step, actor, "school", inst.id)
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    s = states(page)
    assert s["school_review"] == ["已完成"] and s["review_call"] == ["已完成"]
    assert "待办理" not in section(page, "tasks") and "没有待办事项" in section(page, "open-items")
    assert "签约审核通过" in page and "已结束" in section(page, "summary")
    assert "已结束，没有可执行的管理操作" in section(page, "actions")
    outbox = section(page, "outbox")
    with runtime.Session() as s_:
        kinds = set(s_.scalars(select(OutboxMessage.kind).where(OutboxMessage.instance_id == inst.id)))
    assert all(kind in outbox for kind in kinds)


def test_history_shows_changes_as_a_table_and_data_as_a_masked_tree(runtime, world, make_graduate, make_employer,
                                                                    step, actor, admin):
    grad = make_graduate("g1", name="林晓")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    with runtime.Session() as s:  # a step whose before/after carries an id number
        s.add(AuditEvent(instance_id=inst.id, actor_name="信息学院审核员", action="edit",
                         data_before={"position": "软件工程师", "id_number": "350203200001011234"},
                         data_after={"position": "测试工程师", "id_number": "350203200001015678"}))
        s.commit()
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    history = section(page, "history")
    assert "审核修改" in history and re.search(r">软件工程师</td><td[^>]*>测试工程师</td>", history)
    assert "350203200001011234" not in page and "3502**********1234" in history
    assert "data_after" not in page and "{&#34;" not in history  # no raw JSON
    data = section(page, "data")
    assert "<details" in data and "invitation" in data and "软件工程师" in data


def test_suspend_blocks_user_steps_and_timers_and_resume_lets_both_run(runtime, world, make_graduate,
                                                                       make_employer, step, actor, admin):
    # rule ONL-2
    grad = make_graduate("g1")
    other = make_graduate("g2")
    make_employer("hr")
    # one invitation whose one-day answer window ends in a second, one with a week to answer
    past = datetime.now(UTC) - timedelta(days=1, seconds=-1)
    due = invite(runtime, step, actor, grad, days=1, now=past)
    open_ = invite(runtime, step, actor, other)
    for inst in (due, open_):
        resp = admin_post(admin, inst.id, "suspend", "核查单位资质")
        assert resp.status_code == 302
        assert instance(runtime, inst.id).status == "suspended"
    with pytest.raises(Conflict, match="该流程已被管理员暂停"):
        answer(runtime, step, actor, "g2", open_.id)
    wait_past(past + timedelta(days=1))
    assert fire_due_timers(runtime.Session, runtime.runner) == 0  # a suspended instance fires no timer
    assert instance(runtime, due.id).status_label == "单位发起邀请 等待应约"
    page = admin.get(f"/admin/instances/{due.id}").get_data(as_text=True)
    assert "已暂停" in section(page, "summary") and 'id="action-resume"' in page and 'id="action-suspend"' not in page

    for inst in (due, open_):
        assert admin_post(admin, inst.id, "resume", "核查完毕").status_code == 302
    assert fire_due_timers(runtime.Session, runtime.runner) == 1
    assert instance(runtime, due.id).status_label == "签约邀请逾期未回应 签约失败"
    answer(runtime, step, actor, "g2", open_.id)
    assert instance(runtime, open_.id).status_label == "等待院系审核"
    with runtime.Session() as s:
        audit = list(s.scalars(select(AuditEvent).where(AuditEvent.instance_id == open_.id,
                                                        AuditEvent.action.in_(["suspend", "resume"]))
                               .order_by(AuditEvent.id)))
        assert [(a.action, a.reason, a.actor_name) for a in audit] == [
            ("suspend", "核查单位资质", "管理员"), ("resume", "核查完毕", "管理员")]
    history = section(admin.get(f"/admin/instances/{open_.id}").get_data(as_text=True), "history")
    assert "暂停流程" in history and "核查单位资质" in history and "恢复流程" in history


def test_terminate_cancels_open_items_and_the_instance_takes_no_step(runtime, world, make_graduate, make_employer,
                                                                     step, actor, admin):
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    assert admin_post(admin, inst.id, "terminate", "").status_code == 302  # a reason is required
    assert instance(runtime, inst.id).status == "running"
    assert admin_post(admin, inst.id, "terminate", "重复发起，作废").status_code == 302
    after = instance(runtime, inst.id)
    assert after.status == "terminated" and after.next_timer_at is None and after.status_label == "已终止"
    assert not open_items(runtime, inst.id)
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)
                        .where(WorkItem.instance_id == inst.id, WorkItem.state == "cancelled")) == 1
        event = s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst.id,
                                                  AuditEvent.action == "terminate"))
        assert event.reason == "重复发起，作废" and event.actor_name == "管理员"
    with pytest.raises(Conflict):
        answer(runtime, step, actor, "g1", inst.id)
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    assert states(page)["answer_invitation"] == ["已取消"] and "已终止" in section(page, "summary")
    assert admin_post(admin, inst.id, "resume", "再试").status_code == 302
    assert instance(runtime, inst.id).status == "terminated"


def test_a_failing_timer_step_is_an_incident_and_retry_completes_it_once(runtime, world, step, admin, monkeypatch):
    monkeypatch.setitem(testkit.BROKEN, "on", True)
    monkeypatch.setattr(testkit, "CALLS", [])
    due = datetime.now(UTC) + timedelta(seconds=1)
    inst = step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                               data={"due_at": due.isoformat(), "flaky": True}))
    before = instance(runtime, inst.id)
    wait_past(due)
    assert fire_due_timers(runtime.Session, runtime.runner) == 0
    failed = instance(runtime, inst.id)
    assert failed.status == "running" and failed.serialized == before.serialized  # the step left nothing behind
    assert failed.next_timer_at is None and failed.status_label == before.status_label
    assert failed.last_error.startswith("流程执行出错：测试处理程序故障")
    assert "Traceback" in failed.last_error and "HandlerBroken" in failed.last_error  # the stack trace is kept
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert fire_due_timers(runtime.Session, runtime.runner) == 0  # the job does not retry it by itself

    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    assert "测试处理程序故障" in section(page, "incident") and "HandlerBroken" in page
    assert 'id="action-retry"' in page
    listed = admin.get("/admin/instances?status=failed").get_data(as_text=True)
    assert f'data-id="{inst.id}"' in listed

    # retry while the handler is still broken: still an incident, nothing completed
    assert admin_post(admin, inst.id, "retry", "重试").status_code == 302
    again = instance(runtime, inst.id)
    assert again.status == "running" and "HandlerBroken" in again.last_error and testkit.CALLS == []

    testkit.BROKEN["on"] = False  # the handler is fixed
    assert admin_post(admin, inst.id, "retry", "网关已恢复").status_code == 302
    done = instance(runtime, inst.id)
    assert done.status == "completed" and done.status_label == "已触发" and done.last_error is None
    assert testkit.CALLS == [inst.id]
    assert admin_post(admin, inst.id, "retry", "再来一次").status_code == 302  # nothing left to retry
    assert fire_due_timers(runtime.Session, runtime.runner) == 0
    assert testkit.CALLS == [inst.id]
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.kind == "test.ping")) == 1  # exactly once
        retries = list(s.scalars(select(AuditEvent.reason).where(AuditEvent.instance_id == inst.id,
                                                                 AuditEvent.action == "retry")))
        assert retries == ["网关已恢复"]


def _instances(runtime, world, make_graduate, make_employer, step, actor):
    """Three online signings (two employers, three graduates) at different steps, plus two test timers."""
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    a = invite(runtime, step, actor, make_graduate("g1", name="林晓"))
    b = invite(runtime, step, actor, make_graduate("g2", name="王芳"), employer="hr2")
    answer(runtime, step, actor, "g2", b.id)
    c = invite(runtime, step, actor, make_graduate("g3", name="陈诚"))
    answer(runtime, step, actor, "g3", c.id, "refuse")
    later = datetime.now(UTC) + timedelta(days=3)
    t1 = step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                             data={"due_at": later.isoformat(), "batch": "甲"}))
    t2 = step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                             data={"due_at": later.isoformat(), "batch": "乙"}))
    return a, b, c, t1, t2


def ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', page)]


def test_list_filters_counts_and_sorting(runtime, world, make_graduate, make_employer, step, actor, admin):
    a, b, c, t1, t2 = _instances(runtime, world, make_graduate, make_employer, step, actor)
    admin_post(admin, t2.id, "suspend", "暂停")
    get = lambda query="": admin.get("/admin/instances" + query).get_data(as_text=True)  # noqa: E731
    page = get()
    assert ids(page) == [t2.id, t1.id, c.id, b.id, a.id] and "共 5 个实例" in page
    counts = dict(re.findall(r'data-status="(\w+)"[^>]*>[^<]*<b>(\d+)</b>', page))
    assert counts == {"running": "3", "suspended": "1", "failed": "0", "completed": "1", "terminated": "0"}
    lanes = dict(re.findall(r'data-lane="(\w+)"[^>]*>[^<]*<b>(\d+)</b>', page))
    assert lanes == {"Graduate": "1", "Employer": "0", "Department": "1", "School": "0"}

    assert ids(get("?status=running")) == [t1.id, b.id, a.id]
    assert ids(get("?status=suspended")) == [t2.id]
    assert ids(get("?status=completed")) == [c.id]
    assert ids(get("?lane=Department")) == [b.id]
    assert ids(get("?lane=Graduate")) == [a.id]
    assert ids(get("?process=timer_outbox")) == [t2.id, t1.id]
    version = instance(runtime, a.id).version_id
    assert set(ids(get(f"?version={version}"))) == {a.id, b.id, c.id}
    assert ids(get("?label=" + "等待院系审核")) == [b.id]
    assert ids(get("?q=王芳")) == [b.id] and ids(get("?q=王")) == [b.id]
    number = instance(runtime, c.id).subject_no
    assert ids(get(f"?q={number}")) == [c.id]
    assert ids(get("?employer=泉州")) == [b.id]
    assert set(ids(get(f"?school={world.school.id}"))) == {a.id, b.id, c.id}
    today = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d")
    tomorrow = (datetime.now(UTC) + timedelta(days=1, hours=8)).strftime("%Y-%m-%d")
    assert len(ids(get(f"?created_from={today}&created_to={today}"))) == 5
    assert ids(get(f"?updated_from={tomorrow}")) == []
    assert ids(get("?data=batch=乙")) == [t2.id]
    assert ids(get("?data=employer_name=泉州某制造公司")) == [b.id]
    assert ids(get("?data=invitation.position=软件工程师&employer=厦门")) == [c.id, a.id]
    assert ids(get("?data=batch=丙")) == []
    # counts follow the other filters
    page = get("?process=timer_outbox")
    counts = dict(re.findall(r'data-status="(\w+)"[^>]*>[^<]*<b>(\d+)</b>', page))
    assert counts["running"] == "1" and counts["suspended"] == "1" and counts["completed"] == "0"

    assert ids(get("?sort=id")) == [a.id, b.id, c.id, t1.id, t2.id]
    assert ids(get("?sort=-process"))[:2] == [t2.id, t1.id]
    assert ids(get("?sort=process"))[-2:] == [t1.id, t2.id]
    assert ids(get("?sort=-updated"))[0] == t2.id  # suspended last
    assert ids(get("?sort=created")) == [a.id, b.id, c.id, t1.id, t2.id]


def test_list_pages_keep_every_filter(runtime, world, make_graduate, make_employer, step, actor, admin):
    for n in range(23):
        step(lambda s, n=n: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={}, business_key=f"K-{n:02d}",
                                                 data={"due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}))
    page = admin.get("/admin/instances?process=timer_outbox&status=running&sort=id&per_page=20").get_data(
        as_text=True)
    assert len(ids(page)) == 20 and "共 23 个实例" in page and "第 1 / 2 页" in page
    pager = re.search(r'<nav class="pager" id="pager">(.*?)</nav>', page, re.S).group(1)
    link = html.unescape(re.search(r'href="([^"]+)" rel="next"', pager).group(1))
    for part in ("process=timer_outbox", "status=running", "sort=id", "per_page=20", "page=2"):
        assert part in link
    second = admin.get(link).get_data(as_text=True)
    assert len(ids(second)) == 3 and "第 2 / 2 页" in second
    assert len(ids(admin.get("/admin/instances?per_page=50").get_data(as_text=True))) == 23
    assert ids(admin.get("/admin/instances?business_key=K-2").get_data(as_text=True)) == sorted(
        ids(admin.get("/admin/instances?business_key=K-2").get_data(as_text=True)), reverse=True)
    assert len(ids(admin.get("/admin/instances?business_key=K-2").get_data(as_text=True))) == 3
    # a page past the end shows the last page
    assert len(ids(admin.get("/admin/instances?per_page=20&page=9").get_data(as_text=True))) == 3


def test_csv_export_streams_the_filtered_list(runtime, world, make_graduate, make_employer, step, actor, admin):
    a, b, c, t1, t2 = _instances(runtime, world, make_graduate, make_employer, step, actor)
    resp = admin.get("/admin/instances.csv?process=online_signing&sort=id")
    assert resp.status_code == 200 and resp.mimetype == "text/csv" and resp.is_streamed
    assert "attachment" in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["ID", "流程", "版本"]
    assert [int(r[0]) for r in rows[1:]] == [a.id, b.id, c.id]
    by_id = {int(r[0]): r for r in rows[1:]}
    assert by_id[b.id][4] == "王芳" and by_id[b.id][6] == "泉州某制造公司" and by_id[b.id][7] == "厦门大学"
    assert by_id[b.id][8] == "运行中" and by_id[b.id][9] == "等待院系审核" and by_id[c.id][8] == "已结束"
    only = admin.get("/admin/instances.csv?q=陈诚").get_data(as_text=True)
    assert len(list(csv.reader(io.StringIO(only.lstrip("\ufeff"))))) == 2


@pytest.mark.parametrize("query", [
    "?status=bogus", "?page=abc", "?page=-1", "?page=99999999999999", "?per_page=7", "?version=x",
    "?school=1%27", "?created_from=2026-13-45", "?updated_to=yesterday", "?sort=serialized", "?lane=Admin",
    "?data=nokey", "?data=__class__=x", "?data=a.b..c=1", "?q=" + "x" * 80, "?employer=%25", "?label=%25_",
    "?business_key=%00", "?status=running&status=completed", "?sort=-",
])
def test_bad_list_parameters_are_ignored_never_a_500(runtime, world, admin, query):
    resp = admin.get("/admin/instances" + query)
    assert resp.status_code == 200, query
    export = admin.get("/admin/instances.csv" + query)
    assert export.status_code == 200 and export.get_data(as_text=True).startswith("\ufeff")


def test_bad_parameters_are_named(runtime, world, admin):
    page = admin.get("/admin/instances?status=bogus&page=abc&created_from=2026-13-45").get_data(as_text=True)
    note = re.search(r'id="ignored-params">([^<]+)<', page).group(1)
    assert "status" in note and "page" in note and "created_from" in note


def test_bad_action_requests(runtime, world, make_graduate, make_employer, step, actor, admin):
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    assert admin.post(f"/admin/instances/{inst.id}/delete", data={"reason": "x"}).status_code == 404
    assert admin.post("/admin/instances/999999/suspend", data={"reason": "x"}).status_code == 404
    assert admin.get(f"/admin/instances/{inst.id}/suspend").status_code == 405
    assert admin.get("/admin/instances/999999").status_code == 404
    resp = admin_post(admin, inst.id, "resume", "不是暂停的")  # not suspended: a clear message
    assert resp.status_code == 302
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    assert "只有已暂停的流程可以恢复" in page
    assert admin_post(admin, inst.id, "suspend", "x" * 501).status_code == 302
    assert instance(runtime, inst.id).status == "running"


def test_actions_need_the_csrf_token(runtime, world, make_graduate, make_employer, step, actor):
    from domain.seed import DEMO_PASSWORD
    from webapp import create_app

    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    app = create_app(runtime, TESTING=True)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token})
    resp = client.post(f"/admin/instances/{inst.id}/suspend", data={"reason": "无令牌"})
    assert resp.status_code in (302, 400)
    assert instance(runtime, inst.id).status == "running"
    page = client.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post(f"/admin/instances/{inst.id}/suspend", data={"reason": "有令牌", "csrf_token": token})
    assert instance(runtime, inst.id).status == "suspended"


@pytest.mark.parametrize("username", ["g1", "dept_info", "school", "hr"])
def test_other_roles_get_404_on_every_admin_route_and_action(runtime, world, make_graduate, make_employer, step,
                                                             actor, client_for, username):
    # rule ROLE-1
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    client = client_for(username)
    for path in ("/admin/instances", "/admin/instances?status=failed", "/admin/instances.csv",
                 f"/admin/instances/{inst.id}"):
        assert client.get(path).status_code in (403, 404), path
    for action in ("suspend", "resume", "terminate", "retry"):
        assert admin_post(client, inst.id, action).status_code in (403, 404), action
    after = instance(runtime, inst.id)
    assert after.status == "running"
    with runtime.Session() as s:
        assert not s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(["suspend", "resume", "terminate", "retry"])))


def test_an_admin_still_completes_no_work_item(runtime, world, make_graduate, make_employer, step, actor):
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)
    admin_actor = actor("admin")
    item = open_items(runtime, inst.id, "Graduate")[0]
    with pytest.raises(Forbidden, match="无权|不存在"):
        step(lambda s: runtime.runner.complete(s, item.id, admin_actor, {"answer": "accept"}))
    assert instance(runtime, inst.id).status_label == "单位发起邀请 等待应约"


@pytest.mark.browser
@pytest.mark.service
def test_admin_pages_in_a_browser(live_server, browser, runtime, world, make_graduate, make_employer,  # noqa: F811
                                  step, actor, monkeypatch):
    """The list and the instance page at desktop and 390 px wide, with CSRF on. Screenshots: test-output/admin/."""
    from playwright.sync_api import expect

    from tests.test_browser import DESKTOP, PHONE, Recorder, login, output_dir

    base = live_server
    a, b, c, t1, t2 = _instances(runtime, world, make_graduate, make_employer, step, actor)
    review(runtime, step, actor, "dept_info", b.id)
    monkeypatch.setitem(testkit.BROKEN, "on", True)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    failing = step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                                  data={"due_at": soon.isoformat(), "flaky": True}))
    wait_past(soon)
    fire_due_timers(runtime.Session, runtime.runner)
    rec = Recorder(output_dir("admin"))
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(**size)
        page = rec.watch(context.new_page(), f"admin-{name}")
        login(page, base, "admin", rec, f"admin_{name}")
        page.goto(base + "/admin/instances")
        expect(page.locator("#instance-table tbody tr")).to_have_count(6)
        rec.shot(page, f"{name}_list")
        page.click(".filter-box > summary")
        page.select_option("#f-process", "online_signing")
        page.fill("#f-q", "王芳")
        page.click("#instance-filters button[type=submit]")
        expect(page.locator("#instance-table tbody tr")).to_have_count(1)
        rec.shot(page, f"{name}_list_filtered")
        page.click(f'#instance-table a[href$="/instances/{b.id}"]')
        expect(page.locator("#tasks")).to_contain_text("学校审核")
        rec.shot(page, f"{name}_instance_school_review")
        page.goto(base + f"/admin/instances/{failing.id}")
        expect(page.locator("#incident")).to_contain_text("测试处理程序故障")
        page.click("#incident summary")
        rec.shot(page, f"{name}_instance_incident")
        context.close()
    context = browser.new_context(**DESKTOP)
    page = rec.watch(context.new_page(), "admin-actions")
    login(page, base, "admin", rec, "admin_actions")
    page.goto(base + f"/admin/instances/{a.id}")
    page.fill("#reason-suspend", "核查单位资质")
    page.click("#action-suspend button")
    expect(page.locator(".flash")).to_contain_text("流程已暂停")
    expect(page.locator("#instance-status")).to_have_text("已暂停")
    rec.shot(page, "desktop_suspended")
    context.close()
    assert not rec.problems, "\n".join(rec.problems)
    assert not rec.overflow, "\n".join(rec.overflow)
