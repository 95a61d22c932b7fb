"""The admin's diagrams (issue 10, items 5 and 7): the marks an instance's BPMN diagram shows at each step of an
online signing, the process dashboard's counts and step times from SQL, and reassigning an open work item."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from domain.access import POLICY
from domain.accounts import actor_for
from engine.models import AuditEvent, ProcessInstance, WorkItem
from tests.conftest import open_items
from tests.test_admin_inspector import admin_post, answer, invite, review, section


@pytest.fixture
def admin(client_for, world):
    return client_for("admin")


def marks(admin, instance_id, process_id):
    resp = admin.get(f"/admin/instances/{instance_id}/marks/{process_id}.json")
    assert resp.status_code == 200
    return resp.get_json()


def states(data) -> dict[str, str]:
    return {k: v["state"] for k, v in data["elements"].items()}


def test_the_diagram_marks_each_step_of_an_online_signing(runtime, world, make_graduate, make_employer, step, actor,
                                                          admin):
    # rules ONL-1, ONL-2, ONL-6
    grad = make_graduate("g1", name="林晓")
    make_employer("hr")
    inst = invite(runtime, step, actor, grad)

    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    diagram = section(page, "diagram")
    assert f'data-xml-url="/admin/versions/{inst.version_id}/processes/online_signing.bpmn"' in diagram
    assert f'data-marks-url="/admin/instances/{inst.id}/marks/online_signing.json"' in diagram
    assert "<script>" not in page and "/vendor/bpmn-viewer.js" in page and "/static/diagram.js" in page
    xml = admin.get(f"/admin/versions/{inst.version_id}/processes/online_signing.bpmn")
    assert xml.mimetype == "application/xml" and b'<bpmn:process id="online_signing"' in xml.data
    assert b"bpmndi:BPMNShape" in xml.data  # the diagram interchange the browser draws

    top = marks(admin, inst.id, "online_signing")
    assert states(top) == {"start": "completed", "options": "completed", "invite": "completed",
                           "answer_invitation": "active", "answer_deadline_timer": "waiting"}
    assert top["elements"]["answer_invitation"]["active"] == 1 and top["elements"]["invite"]["completed"] == 1
    assert marks(admin, inst.id, "review")["elements"] == {}  # the review has not started

    answer(runtime, step, actor, "g1", inst.id)
    top = marks(admin, inst.id, "online_signing")
    s = states(top)
    assert s["answer_invitation"] == "completed" and s["accept"] == "completed"
    assert s["answer_deadline_timer"] == "cancelled"  # ONL-2: the deadline limits only the answer
    assert s["review_call"] == "active" and top["links"] == {"review_call": "#diagram-review"}
    sub = marks(admin, inst.id, "review")
    assert states(sub) == {"review_start": "completed", "levels_gateway": "completed",
                           "department_review": "active"}
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    assert 'id="diagram-review"' in page and "/admin/versions/" in section(page, "diagram")
    assert f'data-marks-url="/admin/instances/{inst.id}/marks/review.json"' in page  # the called process too

    review(runtime, step, actor, "dept_info", inst.id)
    sub = states(marks(admin, inst.id, "review"))
    assert sub["department_review"] == "completed" and sub["department_gateway"] == "completed"
    assert sub["school_review"] == "active"

    review(runtime, step, actor, "school", inst.id)
    top = states(marks(admin, inst.id, "online_signing"))
    assert set(top.values()) <= {"completed", "cancelled"}
    assert top["review_call"] == "completed" and top["sign"] == "completed" and top["end_signed"] == "completed"
    assert "end_rejected" not in top and "refuse" not in top  # the paths not taken carry no mark
    assert states(marks(admin, inst.id, "review"))["school_decided"] == "completed"


def test_a_suspended_and_an_expired_invitation_are_marked_as_they_stand(runtime, world, make_graduate,
                                                                        make_employer, step, actor, admin):
    # rule ONL-2
    make_employer("hr")
    inst = invite(runtime, step, actor, make_graduate("g1"))
    admin_post(admin, inst.id, "suspend", "核查")
    assert states(marks(admin, inst.id, "online_signing"))["answer_deadline_timer"] == "waiting"
    admin_post(admin, inst.id, "terminate", "作废")
    s = states(marks(admin, inst.id, "online_signing"))
    assert s["answer_invitation"] == "cancelled" and s["answer_deadline_timer"] == "cancelled"


def test_diagram_routes_are_for_admins_only(runtime, world, make_graduate, make_employer, step, actor, client_for):
    # rule ROLE-1
    make_employer("hr")
    inst = invite(runtime, step, actor, make_graduate("g1"))
    reviewer = client_for("dept_info")
    for url in (f"/admin/instances/{inst.id}/marks/online_signing.json",
                f"/admin/versions/{inst.version_id}/processes/online_signing.bpmn",
                f"/admin/versions/{inst.version_id}", "/admin/processes",
                f"/admin/versions/{inst.version_id}/migrate"):
        assert reviewer.get(url).status_code == 404, url
    admin = client_for("admin")
    assert admin.get(f"/admin/versions/{inst.version_id}/processes/nope.bpmn").status_code == 404
    assert admin.get("/admin/versions/99999/processes/online_signing.bpmn").status_code == 404


def test_the_dashboard_counts_where_instances_wait_and_the_time_per_step(runtime, world, make_graduate,
                                                                         make_employer, step, actor, admin):
    make_employer("hr")
    ids = []
    for i in range(4):
        inst = invite(runtime, step, actor, make_graduate(f"g{i}"))
        ids.append(inst.id)
    for i in range(3):
        answer(runtime, step, actor, f"g{i}", ids[i])
    review(runtime, step, actor, "dept_info", ids[0])
    # the answers took 1, 2 and 10 hours (created_at moved back: the durations are the database's)
    with runtime.Session() as s:
        for iid, hours in zip(ids[:3], (1, 2, 10), strict=True):
            item = s.scalar(select(WorkItem).where(WorkItem.instance_id == iid,
                                                   WorkItem.task_name == "answer_invitation"))
            s.execute(update(WorkItem).where(WorkItem.id == item.id)
                      .values(created_at=item.completed_at - timedelta(hours=hours)))
        s.commit()
        version_id = s.get(ProcessInstance, ids[0]).version_id

    listing = admin.get("/admin/processes").get_data(as_text=True)
    row = re.search(rf'<tr data-version="{version_id}">(.*?)</tr>', listing, re.S).group(1)
    assert re.search(r'data-status="running"><a [^>]*>4</a>', row)

    top = admin.get(f"/admin/versions/{version_id}/marks/online_signing.json").get_json()
    assert top["elements"]["answer_invitation"] == {"state": "active", "active": 1, "completed": 3,
                                                    "waiting": 0, "cancelled": 0, "error": 0}
    assert top["links"] == {"review_call": "#diagram-review"}
    assert top["elements"]["review_call"]["active"] == 3  # the instances waiting inside the shared review
    sub = admin.get(f"/admin/versions/{version_id}/marks/review.json").get_json()["elements"]
    assert sub["department_review"]["active"] == 2 and sub["department_review"]["completed"] == 1
    assert sub["school_review"]["active"] == 1

    page = admin.get(f"/admin/versions/{version_id}").get_data(as_text=True)
    waiting = section(page, "waiting")
    assert re.search(r'data-step="department_review">.*?class="count">2<', waiting, re.S)
    times = section(page, "step-times")
    answer_row = re.search(r'<tr data-step="answer_invitation">(.*?)</tr>', times, re.S).group(1)
    assert ">3<" in answer_row and 'class="median">2小时<' in answer_row and 'class="p90">10小时<' in answer_row
    assert f'data-marks-url="/admin/versions/{version_id}/marks/review.json"' in section(page, "diagram")
    assert "等待院系审核" in waiting and section(page, "summary").count("<b>4</b>") == 1


def test_reassign_an_open_item_to_another_reviewer_of_its_department(runtime, world, make_graduate, make_employer,
                                                                     step, actor, admin, client_for):
    from domain import seed
    from domain.models import Account

    with runtime.Session() as s:
        seed.make_account(s, "dept_info2", "department", "信息学院审核员二", school_id=world.school.id,
                          department_id=world.info.id, module_permissions=seed.ALL_READ_WRITE)
        seed.make_account(s, "dept_info_ro", "department", "信息学院只读", school_id=world.school.id,
                          department_id=world.info.id, module_permissions={"basic": "ro"})
        s.commit()
    make_employer("hr")
    inst = invite(runtime, step, actor, make_graduate("g1", name="林晓"))
    answer(runtime, step, actor, "g1", inst.id)
    item = open_items(runtime, inst.id, "Department")[0]

    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    assert f'id="reassign-{item.id}"' in page and "信息学院审核员二（dept_info2）" in page  # the candidates

    def post(username, reason="工作调整"):
        return admin.post(f"/admin/work-items/{item.id}/reassign", data={"username": username, "reason": reason},
                          follow_redirects=True).get_data(as_text=True)

    refused = post("dept_econ")  # another department: out of scope
    assert "“经济学院审核员”不在该事项的办理范围内：此事项只能改派给信息学院的院系账号" in refused
    assert "不在该事项的办理范围内" in post("dept_info_ro")  # ROLE-2: read-only cannot decide
    assert "不在该事项的办理范围内" in post("school")  # another lane
    assert "账号“nobody”不存在或已停用" in post("nobody")
    assert "请填写原因" in post("dept_info2", reason="")
    with runtime.Session() as s:
        assert s.get(WorkItem, item.id).assignee_id is None

    done = post("dept_info2")
    assert "已改派给 信息学院审核员二" in done
    assert "信息学院审核员二" in section(done, "open-items")
    with runtime.Session() as s:
        new = s.scalar(select(Account).where(Account.username == "dept_info2"))
        old = s.scalar(select(Account).where(Account.username == "dept_info"))
        assert s.get(WorkItem, item.id).assignee_id == new.id
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "reassign"))
        assert (event.actor_name, event.reason, event.task_name) == ("管理员", "工作调整", "department_review")
        assert event.data_after["assignee"] == "信息学院审核员二（dept_info2）"
        assert event.data_before["assignee"] == "信息学院院系（全部账号）"

        def inbox(account):
            return list(s.scalars(select(WorkItem.id).where(POLICY.item_filter(actor_for(s, account)),
                                                             WorkItem.state == "open")))

        assert inbox(new) == [item.id] and inbox(old) == []  # rule ROLE-1: the assignee alone
    assert "林晓" in client_for("dept_info2").get("/review/inbox").get_data(as_text=True)
    assert "林晓" not in client_for("dept_info").get("/review/inbox").get_data(as_text=True)
    assert client_for("dept_info").get(f"/review/items/{item.id}").status_code == 404
    history = section(admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True), "history")
    assert "工作调整" in history and "信息学院审核员二（dept_info2）" in history

    review(runtime, step, actor, "dept_info2", inst.id)  # the assignee decides it
    assert open_items(runtime, inst.id)[0].task_name == "school_review"
