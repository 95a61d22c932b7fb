"""The JSON API: the whole filing through /api/v1, and its OpenAPI document."""
from __future__ import annotations

import io
import re

from tests.conftest import png_bytes


def token(client, username):
    resp = client.post("/api/v1/token", json={"username": username, "password": "demo1234"})
    assert resp.status_code == 200, resp.json
    return {"Authorization": "Bearer " + resp.json["token"]}


def test_filing_and_two_level_review_through_the_api(app, runtime, world, make_graduate):
    # rules DST-1, REV-1, REV-2, REV-3, DST-3, NOTE-1
    make_graduate("g1")
    c = app.test_client()
    g, dept, school = token(c, "g1"), token(c, "dept_info"), token(c, "school")
    up = c.post("/api/v1/attachments", headers=g, content_type="multipart/form-data",
                data={"file": (io.BytesIO(png_bytes()), "proof.png")})
    assert up.status_code == 201
    att = up.json["attachments"][0]["id"]
    resp = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                        "attachment_ids": [att]})
    assert resp.status_code == 201, resp.json
    inst = resp.json
    assert inst["status_label"] == "等待院系审核"
    assert inst["destination"]["fields"] == {"school_name": "厦门大学", "major": "软件工程"}

    items = c.get("/api/v1/work-items", headers=dept).json["items"]
    assert len(items) == 1 and items[0]["subject_name"] == "张三"
    detail = c.get(f"/api/v1/work-items/{items[0]['id']}", headers=dept).json
    assert detail["data"]["application"]["attachment_ids"] == [att]
    assert detail["data"]["allow_return"] is True
    assert {f["name"] for f in detail["fields"]} >= {"decision", "reason"}
    resp = c.post(f"/api/v1/work-items/{items[0]['id']}/complete", headers=dept, json={"decision": "approve"})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待学校审核"
    # a second completion of the same item is a clear conflict
    again = c.post(f"/api/v1/work-items/{items[0]['id']}/complete", headers=dept, json={"decision": "approve"})
    assert again.status_code == 409 and "已被处理" in again.json["error"]["message"]

    item = c.get("/api/v1/work-items", headers=school).json["items"][0]
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=school,
                  json={"decision": "return", "reason": "请补充录取通知书"})
    assert resp.json["status_label"] == "退回修改（学校退回）"

    mine = c.get("/api/v1/work-items", headers=g).json["items"]
    assert [i["form_key"] for i in mine] == ["destination"]
    detail = c.get(f"/api/v1/work-items/{mine[0]['id']}", headers=g).json
    assert detail["data"]["last_reason"] == "请补充录取通知书"
    resp = c.post(f"/api/v1/work-items/{mine[0]['id']}/complete", headers=g,
                  json={"dest_type": "domestic_study", "school_name": "厦门大学", "major": "软件工程",
                        "attachment_ids": [att], "note": "已补充"})
    assert resp.json["status_label"] == "等待院系审核"
    for who in (dept, school):
        item = c.get("/api/v1/work-items", headers=who).json["items"][0]
        c.post(f"/api/v1/work-items/{item['id']}/complete", headers=who, json={"decision": "approve"})
    final = c.get(f"/api/v1/instances/{inst['id']}", headers=g).json
    assert final["status_label"] == "审核通过"
    assert [h["action"] for h in final["history"]][:2] == ["start", "submit"]
    titles = [m["title"] for m in c.get("/api/v1/messages", headers=g).json["messages"]]
    assert "其他毕业去向登记：学校退回修改" in titles and "其他毕业去向登记：学校审核通过" in titles
    voided = c.post(f"/api/v1/instances/{inst['id']}/void", headers=g)
    assert voided.status_code == 200 and voided.json["status_label"] == "已作废"


def test_withdraw_through_the_api(app, world, make_graduate):
    # rule REV-6
    make_graduate("g1")
    c = app.test_client()
    g = token(c, "g1")
    inst = c.post("/api/v1/processes/destination_filing/instances", headers=g, json={"dest_type": "job_seeking"}).json
    resp = c.post(f"/api/v1/instances/{inst['id']}/withdraw", headers=g)
    assert resp.status_code == 200 and resp.json["status_label"] == "已撤回 待重新提交"
    again = c.post(f"/api/v1/instances/{inst['id']}/withdraw", headers=g)
    assert again.status_code == 409


def test_session_auth_needs_csrf_for_writes(runtime, world, make_graduate):
    # rule ROLE-1
    from webapp import create_app

    make_graduate("g1")
    app = create_app(runtime, TESTING=True)
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    c.post("/login", data={"username": "g1", "password": "demo1234", "csrf_token": csrf})
    assert c.get("/api/v1/me").json["username"] == "g1"
    url = "/api/v1/processes/destination_filing/instances"
    assert c.post(url, json={"dest_type": "job_seeking"}).status_code == 400
    header = {"X-CSRFToken": c.get("/api/v1/csrf-token").json["csrf_token"]}
    assert c.post(url, json={"dest_type": "job_seeking"}, headers=header).status_code == 201


def test_unauthenticated_api_is_refused_in_json(app):
    # rule ROLE-1
    resp = app.test_client().get("/api/v1/work-items")
    assert resp.status_code == 401 and resp.json["error"]["message"]


def test_openapi_document_names_every_route(app):
    # rule DST-1
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {"/api/v1" + p for p in doc["paths"]}
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1") and r.endpoint != "api.csrf_token"}
    assert routes <= documented, routes - documented
    for path in doc["paths"].values():
        for op in path.values():
            assert "responses" in op and "summary" in op


def test_a_second_effective_destination_is_refused_at_the_last_approval_and_changes_nothing(app, runtime, world,
                                                                                          make_graduate):
    # rule DST-4: the graduate's destination became effective another way while the filing was under review;
    # the school's approval is refused (the unique key answers, no read first) and the filing stays where it was
    from sqlalchemy import func, select

    from domain.models import DestinationRecord, EffectiveDestination
    from engine.models import AuditEvent

    grad = make_graduate("g1")
    c = app.test_client()
    g, dept, school = token(c, "g1"), token(c, "dept_info"), token(c, "school")
    inst = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "job_seeking"}).json
    item = c.get("/api/v1/work-items", headers=dept).json["items"][0]
    assert c.post(f"/api/v1/work-items/{item['id']}/complete", headers=dept,
                  json={"decision": "approve"}).status_code == 200
    with runtime.Session() as s:
        s.add(EffectiveDestination(graduate_id=grad.id, kind="agreement", record_id=99))
        s.commit()
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    item = c.get("/api/v1/work-items", headers=school).json["items"][0]
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=school, json={"decision": "approve"})
    assert resp.status_code == 409
    assert resp.json["error"]["message"] == "该毕业生已有生效的毕业去向，不能同时生效两个去向"
    with runtime.Session() as s:
        assert s.get(EffectiveDestination, grad.id).kind == "agreement"  # the other one, untouched
        assert s.scalar(select(DestinationRecord.status).where(DestinationRecord.instance_id == inst["id"])) \
            == "pending"
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
    shown = c.get(f"/api/v1/instances/{inst['id']}", headers=school).json
    assert shown["status_label"] == "等待学校审核" and [w["state"] for w in shown["work_items"]] == ["open"]


def test_an_instance_read_lists_exactly_its_open_items_in_scope(app, runtime, world, make_graduate):
    # rules REV-1, REV-2: the reviewer opens the instance and sees the item of their level; once the school
    # approves, none (the read loads the instance and its open items in one statement)
    from sqlalchemy import select

    from engine.models import WorkItem

    make_graduate("g1")
    c = app.test_client()
    g, dept, school = token(c, "g1"), token(c, "dept_info"), token(c, "school")
    inst = c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "job_seeking", "note": "read"}).json

    def open_ids():
        with runtime.Session() as s:
            return sorted(s.scalars(select(WorkItem.id).where(WorkItem.instance_id == inst["id"],
                                                              WorkItem.state == "open")))

    read = c.get(f"/api/v1/instances/{inst['id']}", headers=dept).json
    assert [w["id"] for w in read["work_items"]] == open_ids() and len(open_ids()) == 1
    assert [h["action"] for h in read["history"]] == ["start", "submit"]
    assert c.get(f"/api/v1/instances/{inst['id']}", headers=g).json["work_items"] == []  # not the graduate's
    for who in (dept, school):
        item = next(w for w in c.get(f"/api/v1/instances/{inst['id']}", headers=who).json["work_items"])
        assert c.post(f"/api/v1/work-items/{item['id']}/complete", headers=who,
                      json={"decision": "approve"}).status_code == 200
    done = c.get(f"/api/v1/instances/{inst['id']}", headers=school).json
    assert done["status_label"] == "审核通过" and done["work_items"] == []
    mine = c.get(f"/api/v1/instances/{inst['id']}", headers=g).json["work_items"]
    assert [w["id"] for w in mine] == open_ids()  # what stays open after the approval is the graduate's
    assert c.get(f"/api/v1/instances/{inst['id'] + 999}", headers=school).status_code == 404
