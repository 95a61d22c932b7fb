"""ROLE-1: every account sees only its own scope, through pages and the API, and refusals are logged."""
from __future__ import annotations

from sqlalchemy import func, select

from domain.models import AccessLog, Graduate
from domain.seed import make_account
from engine.models import ProcessInstance, WorkItem
from tests.conftest import open_items, page_without_tokens, with_proof


def _filed(runtime, step, actor, username):
    from processes.destination import services as filing

    a = actor(username)
    return step(lambda s: filing.start_filing(s, runtime.runner, a, s.get(Graduate, a.graduate_id),
                                                 with_proof(s, a.graduate_id)))


def test_department_reviewer_never_sees_another_departments_item(app, runtime, world, make_graduate, step, actor,
                                                                   client_for):
    # rule ROLE-1
    make_graduate("econ_grad", department=world.econ, name="经济甲")
    inst = _filed(runtime, step, actor, "econ_grad")
    item = open_items(runtime, inst.id, "Department")[0]
    info = client_for("dept_info")
    assert "经济甲" not in info.get("/review/inbox").get_data(as_text=True)
    for url in (f"/review/items/{item.id}", f"/review/instances/{inst.id}"):
        assert info.get(url).status_code == 404
    resp = info.post(f"/review/items/{item.id}", data={"review-decision": "approve"})
    assert resp.status_code == 404
    # the right department does see it
    econ = client_for("dept_econ")
    assert "经济甲" in econ.get("/review/inbox").get_data(as_text=True)
    assert econ.get(f"/review/items/{item.id}").status_code == 200
    with runtime.Session() as s:
        assert s.get(WorkItem, item.id).state == "open"
        assert s.scalar(select(func.count()).select_from(AccessLog)) >= 3


def test_out_of_scope_and_missing_look_the_same(app, runtime, world, make_graduate, step, actor, client_for):
    # rule ROLE-1
    make_graduate("econ_grad", department=world.econ)
    inst = _filed(runtime, step, actor, "econ_grad")
    info = client_for("dept_info")
    hidden = info.get(f"/review/instances/{inst.id}")
    missing = info.get("/review/instances/999999")
    assert hidden.status_code == missing.status_code == 404
    assert page_without_tokens(hidden) == page_without_tokens(missing)


def test_graduate_never_sees_another_graduates_record(app, runtime, world, make_graduate, step, actor, client_for):
    # rule ROLE-1
    make_graduate("g1")
    make_graduate("g2", name="李四")
    inst = _filed(runtime, step, actor, "g1")
    other = client_for("g2")
    assert other.get(f"/graduate/records/{inst.id}").status_code == 404
    assert other.post(f"/graduate/records/{inst.id}/withdraw").status_code == 404
    assert "暂无登记记录" in other.get("/graduate/destination").get_data(as_text=True)
    # images too
    from domain.attachments import store_images
    from tests.conftest import png_bytes

    g1 = actor("g1")
    att = step(lambda s: store_images(s, g1.graduate_id, g1.id, [("a.png", png_bytes())])[0])
    assert other.get(f"/attachments/{att.id}").status_code == 404
    assert client_for("g1").get(f"/attachments/{att.id}").status_code == 200
    assert client_for("dept_info").get(f"/attachments/{att.id}").status_code == 200
    assert client_for("dept_econ").get(f"/attachments/{att.id}").status_code == 404


def test_api_scope_for_work_items_and_instances(app, runtime, world, make_graduate, step, actor):
    # rule ROLE-1
    make_graduate("g1")
    make_graduate("g2", name="李四")
    make_graduate("econ_grad", department=world.econ)
    inst = _filed(runtime, step, actor, "g1")
    item = open_items(runtime, inst.id, "Department")[0]
    client = app.test_client()

    def token(username):
        return {"Authorization": "Bearer " + client.post("/api/v1/token", json={"username": username,
                                                                               "password": "demo1234"}).json["token"]}

    econ, g2, info = token("dept_econ"), token("g2"), token("dept_info")
    assert client.get(f"/api/v1/work-items/{item.id}", headers=econ).status_code == 404
    assert client.post(f"/api/v1/work-items/{item.id}/complete", json={"decision": "approve"},
                       headers=econ).status_code == 404
    assert client.get(f"/api/v1/instances/{inst.id}", headers=g2).status_code == 404
    assert client.post(f"/api/v1/instances/{inst.id}/withdraw", headers=g2).status_code == 404
    assert client.get("/api/v1/work-items", headers=econ).json["items"] == []
    assert [i["id"] for i in client.get("/api/v1/work-items", headers=info).json["items"]] == [item.id]
    assert client.get("/api/v1/instances", headers=g2).json["instances"] == []
    with runtime.Session() as s:
        assert s.get(ProcessInstance, inst.id).status_label == "等待院系审核"


def test_school_reviewer_of_another_school_sees_nothing(app, runtime, world, make_graduate, step, actor, client_for):
    # rule ROLE-1
    from domain import seed

    make_graduate("g1")
    inst = _filed(runtime, step, actor, "g1")
    with runtime.Session() as s:
        other = seed.make_school(s, s.get(type(world.province), world.province.id), code="10386", name="福州大学")
        make_account(s, "school_fzu", "school", "福州大学", school_id=other.id)
        s.commit()
    decide_item = open_items(runtime, inst.id, "Department")[0]
    client = client_for("school_fzu")
    assert client.get(f"/review/instances/{inst.id}").status_code == 404
    assert client.get(f"/review/items/{decide_item.id}").status_code == 404


def test_graduate_cannot_open_reviewer_pages(app, world, make_graduate, client_for):
    # rule ROLE-1
    make_graduate("g1")
    client = client_for("g1")
    assert client.get("/review/inbox").status_code == 404
    assert client.get("/admin/instances").status_code == 404
