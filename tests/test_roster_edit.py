"""GRAD-1 single add and edit (the same validator as the import), GRAD-5 delete and re-upload, on the school's
毕业生信息 pages and through /api/v1; ROLE-1/ROLE-2 refusals; the statistics hook."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from domain.accounts import hash_password
from domain.models import Account, Graduate, RegisteredInfo, TransferApplication
from engine.models import ProcessInstance
from tests.roster_helpers import csv_bytes, good_row, job_id_of, upload
from tests.test_archive_hukou_web import ARCHIVE, HUKOU, modules_open, other_school  # noqa: F401  (fixtures)
from tests.test_roster_import import set_basic

KEYS = {"考生号": "exam_no", "姓名": "name", "身份证号": "id_number", "毕业院校": "school", "学历": "education",
        "性别": "gender", "民族": "ethnicity", "政治面貌": "political_status", "培养方式": "training_mode",
        "生源所在地": "origin", "入学时间": "enrolled_on", "毕业时间": "graduates_on", "学号": "student_no",
        "院系": "department", "专业": "major", "学制": "duration", "档案是否转入学校": "archive_in_school",
        "户口是否转入学校": "hukou_in_school", "电子邮箱": "email", "手机号码": "phone", "届别": "cohort",
        "定向单位": "directed_unit", "定向单位地址": "directed_unit_address"}


def form(n: int, **changes: str) -> dict[str, str]:
    return {KEYS[h]: v for h, v in good_row(n, **changes).items()}


def token(api, username: str) -> dict[str, str]:
    resp = api.post("/api/v1/token", json={"username": username, "password": "demo1234"})
    return {"Authorization": f"Bearer {resp.json['token']}"}


def count(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(Graduate)) or 0


@pytest.fixture
def refreshed(monkeypatch):
    """The graduate ids handed to domain.statistics.refresh_graduates."""
    from domain import statistics

    calls: list[list[int]] = []
    real = statistics.refresh_graduates

    def spy(session, ids):
        calls.append(sorted(ids))
        return real(session, ids)

    monkeypatch.setattr(statistics, "refresh_graduates", spy)
    return calls


def test_add_on_the_page_then_list_search_and_mask(app, runtime, world, client_for, refreshed):
    # rule GRAD-1
    school = client_for("school")
    page = school.get("/school/graduates/new").get_data(as_text=True)
    assert 'name="id_number"' in page and "信息学院" in page
    resp = school.post("/school/graduates/new", data=form(1))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    with runtime.Session() as s:
        grad = s.scalar(select(Graduate))
        assert grad.name == "学生1" and grad.origin_name == "福建省厦门市思明区" and grad.cohort == 2026
        gid, idn = grad.id, grad.id_number
    assert refreshed == [[gid]]
    listing = school.get("/school/graduates").get_data(as_text=True)
    assert "学生1" in listing and idn not in listing and (idn[:4] + "*" * 10 + idn[-4:]) in listing
    assert 'id="nav-roster"' in listing
    for q in ("学生", "S0000001", idn):
        assert f'id="graduate-{gid}"' in school.get("/school/graduates", query_string={"q": q}).get_data(as_text=True)
    assert f'id="graduate-{gid}"' not in school.get("/school/graduates?q=nobody").get_data(as_text=True)
    assert f'id="graduate-{gid}"' not in school.get("/school/graduates?cohort=2025").get_data(as_text=True)


def test_the_form_uses_the_import_validator(app, runtime, world, client_for):
    # rule GRAD-1
    school = client_for("school")
    resp = school.post("/school/graduates/new", data=form(1, 身份证号="350203200301010010", 手机号码="123"))
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="error-id_number"' in text and 'id="error-phone"' in text
    assert "身份证号校验位不正确" in text
    assert count(runtime) == 0
    assert school.post("/school/graduates/new", data=form(1)).status_code == 302
    dup = school.post("/school/graduates/new", data=form(2, 身份证号=good_row(1)["身份证号"]))
    assert dup.status_code == 422 and "已有该身份证号" in dup.get_data(as_text=True)
    dup_no = school.post("/school/graduates/new", data=form(3, 学号="S0000001"))
    assert dup_no.status_code == 422 and "学号已被本届其他毕业生" in dup_no.get_data(as_text=True)
    assert count(runtime) == 1


def test_edit_on_the_page_and_through_the_api(app, runtime, world, client_for, make_graduate, refreshed):
    # rules GRAD-1, GRAD-3
    grad = make_graduate("g1")
    school = client_for("school")
    page = school.get(f"/school/graduates/{grad.id}/edit").get_data(as_text=True)
    assert f'value="{grad.id_number}"' in page and f'value="{grad.student_no}"' in page
    values = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
    values.update({k: v for k, v in re.findall(r'<select id="(\w+)" name="\w+">.*?<option value="([^"]*)" selected',
                                                 page, re.S)})
    values["major"] = "人工智能"
    resp = school.post(f"/school/graduates/{grad.id}/edit", data=values)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).major == "人工智能"
    assert refreshed[-1] == [grad.id]
    again = school.post(f"/school/graduates/{grad.id}/edit", data=values)
    assert "基本信息没有变化" in school.get(again.headers["Location"]).get_data(as_text=True)
    api = app.test_client()
    headers = token(api, "school")
    body = api.get(f"/api/v1/school/graduates/{grad.id}", headers=headers).json
    assert body["id_number"] == grad.id_number
    edit = {**values, "political_status": "中共党员", "phone": "13912345678"}
    resp = api.put(f"/api/v1/school/graduates/{grad.id}", headers=headers, json=edit)
    assert resp.status_code == 200 and resp.json["changed"] and resp.json["political_status"] == "中共党员"
    bad = api.put(f"/api/v1/school/graduates/{grad.id}", headers=headers, json={**edit, "enrolled_on": "202613"})
    assert bad.status_code == 422 and "入学时间" in bad.json["error"]["message"] and "enrolled_on" in bad.json["error"]["details"]


def test_api_add_and_list(app, runtime, world):
    # rule GRAD-1
    api = app.test_client()
    headers = token(api, "school")
    resp = api.post("/api/v1/school/graduates", headers=headers, json=form(1))
    assert resp.status_code == 201 and resp.json["name"] == "学生1"
    listing = api.get("/api/v1/school/graduates", headers=headers).json
    assert listing["total"] == 1 and "*" in listing["items"][0]["id_number"] and listing["cohort"] == 2026
    bad = api.post("/api/v1/school/graduates", headers=headers, json=form(2, 院系="火星学院"))
    assert bad.status_code == 422 and "院系" in bad.json["error"]["message"]
    directed = api.post("/api/v1/school/graduates", headers=headers,
                        json=form(3, 培养方式="定向", 定向单位="中国人民解放军某部", 定向单位地址="福建省福州市"))
    assert directed.status_code == 201 and directed.json["directed_unit"] == "中国人民解放军某部"


def test_read_only_school_sees_but_cannot_add_edit_delete(app, runtime, world, client_for, make_graduate):
    # rules GRAD-1, GRAD-5, ROLE-2
    grad = make_graduate("g1")
    set_basic(runtime, "school", "ro")
    school = client_for("school")
    listing = school.get("/school/graduates").get_data(as_text=True)
    assert f'id="graduate-{grad.id}"' in listing and 'id="read-only-note"' in listing
    assert f'id="delete-{grad.id}"' not in listing and 'id="add-graduate"' not in listing
    assert school.get("/school/graduates/template.xlsx").status_code == 200
    assert school.get("/school/graduates/new").status_code == 404
    assert school.post("/school/graduates/new", data=form(5)).status_code == 404
    assert school.get(f"/school/graduates/{grad.id}/edit").status_code == 404
    assert school.post(f"/school/graduates/{grad.id}/delete").status_code == 404
    api = app.test_client()
    headers = token(api, "school")
    assert api.get("/api/v1/school/graduates", headers=headers).status_code == 200
    assert api.post("/api/v1/school/graduates", headers=headers, json=form(5)).status_code == 404
    assert api.put(f"/api/v1/school/graduates/{grad.id}", headers=headers, json=form(5)).status_code == 404
    assert api.delete(f"/api/v1/school/graduates/{grad.id}", headers=headers).status_code == 404
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is None
    assert count(runtime) == 1


def test_department_graduate_and_foreign_school_are_refused_like_missing(app, runtime, world, client_for,
                                                                         make_graduate, other_school):  # noqa: F811
    # rules ROLE-1, GRAD-1, GRAD-5
    grad = make_graduate("g1")
    for username in ("dept_info", "g1"):
        client = client_for(username)
        assert client.get("/school/graduates").status_code == 404
        assert client.post("/school/graduates/new", data=form(5)).status_code == 404
        assert client.post(f"/school/graduates/{grad.id}/delete").status_code == 404
    foreign = client_for("school2")
    set_basic(runtime, "school2", "rw")
    foreign = client_for("school2")
    assert foreign.get(f"/school/graduates/{grad.id}/edit").status_code == 404
    assert foreign.post(f"/school/graduates/{grad.id}/delete").status_code == 404
    assert f'id="graduate-{grad.id}"' not in foreign.get("/school/graduates").get_data(as_text=True)
    api = app.test_client()
    for who in ("school2", "dept_info", "g1"):
        headers = token(api, who)
        assert api.get(f"/api/v1/school/graduates/{grad.id}", headers=headers).status_code == 404
        assert api.put(f"/api/v1/school/graduates/{grad.id}", headers=headers, json=form(5)).status_code == 404
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is None


def test_delete_invalidates_archive_and_hukou_and_ends_open_applications(app, runtime, world, client_for,
                                                                         make_graduate, modules_open,  # noqa: F811
                                                                         refreshed):
    # rules GRAD-5, ARC-8
    grad = make_graduate("g1")
    api = app.test_client()
    school, g = token(api, "school"), token(api, "g1")
    assert api.post(f"/api/v1/school/graduates/{grad.id}/archive", headers=school, json=ARCHIVE).status_code in (200, 201)
    inst = api.post("/api/v1/processes/hukou_registration/instances", headers=g, json=HUKOU)
    assert inst.status_code == 201, inst.json
    web = client_for("school")
    listing = web.get("/school/graduates").get_data(as_text=True)
    assert f'id="delete-{grad.id}"' in listing and "data-confirm" in listing
    resp = web.post(f"/school/graduates/{grad.id}/delete")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/school/graduates")
    assert "1条待审核申请已审核不通过" in web.get(resp.headers["Location"]).get_data(as_text=True)
    assert [grad.id] in refreshed
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is not None
        assert s.scalar(select(func.count()).select_from(RegisteredInfo).where(RegisteredInfo.active)) == 0
        assert s.get(ProcessInstance, inst.json["id"]).status_label == "审核不通过（学校审核不通过）"
        assert s.scalar(select(TransferApplication.status)) == "rejected"
    assert f'id="graduate-{grad.id}"' not in web.get("/school/graduates").get_data(as_text=True)
    assert api.delete(f"/api/v1/school/graduates/{grad.id}", headers=school).status_code == 404  # already deleted


def test_reupload_of_a_deleted_graduate_revives_the_record_without_old_registrations(
        app, runtime, world, client_for, make_graduate, modules_open):  # noqa: F811
    # rules GRAD-5, GRAD-1, GRAD-3
    api = app.test_client()
    school = token(api, "school")
    created = api.post("/api/v1/school/graduates", headers=school, json=form(1)).json
    gid = created["id"]
    with runtime.Session() as s:
        s.add(Account(username="s1", role="graduate", display_name="学生1", id_number=s.get(Graduate, gid).id_number,
                      password_hash=hash_password("demo1234")))
        s.get(Graduate, gid).confirmed_at = utcnow()
        s.commit()
    assert api.post(f"/api/v1/school/graduates/{gid}/archive", headers=school, json=ARCHIVE).status_code in (200, 201)
    assert api.delete(f"/api/v1/school/graduates/{gid}", headers=school).status_code == 200
    assert app.test_client().post("/login", data={"username": "s1", "password": "demo1234"}).status_code == 401
    web = client_for("school")
    progress = web.get(f"/school/graduates/import/{job_id_of(upload(web, csv_bytes([good_row(1)]), 'a.csv'))}/progress").json
    assert progress["revived"] == 1 and progress["created"] == 0
    with runtime.Session() as s:
        grad = s.get(Graduate, gid)
        assert grad.deleted_at is None and grad.confirmed_at is None  # checks the basic info again (GRAD-3)
        assert s.scalar(select(func.count()).select_from(RegisteredInfo).where(RegisteredInfo.active)) == 0
        assert s.scalar(select(func.count()).select_from(Graduate)) == 1
    summary = api.get("/api/v1/archive", headers=token(api, "s1")).json
    assert summary["info"] is None  # must register again
