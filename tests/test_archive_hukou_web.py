"""Archive and hukou through the pages and /api/v1: the module chooser, the 信息栏, the forms, the reviewer's
edit, the school's direct registration (ARC-7) and deletion of basic info (GRAD-5); bad input gets a clear
Chinese message and changes nothing."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from domain.graduate_info import current_info
from domain.models import Attachment, Graduate, Message, RegisteredInfo, TransferApplication
from engine.models import AuditEvent, OutboxMessage, ProcessInstance, WorkItem
from tests.conftest import open_items, png_bytes
from tests.test_api_signing import token, upload

ARCHIVE = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
           "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
           "archive_phone": "0592-1234567", "note": ""}
HUKOU = {"hukou_type": "转回生源地", "division_code": "350203", "hukou_address": "湖滨南路1号", "note": ""}


@pytest.fixture
def modules_open(runtime, world, step):
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules",
                           ["destination", "archive", "hukou"]))


@pytest.fixture
def other_school(runtime, world, step):
    """集美大学, with a school account and one graduate of its own."""
    from domain import seed

    def make(s):
        school = seed.make_school(s, s.get(type(world.province), world.province.id), code="10390", name="集美大学",
                                  open_modules=["destination", "archive", "hukou"])
        dept = seed.make_department(s, school, "航海学院")
        seed.make_account(s, "school2", "school", "集美大学就业指导中心", school_id=school.id)
        return seed.make_graduate(s, school, dept, name="孙八", username="sunba").id

    return step(make)


def counts(runtime):
    with runtime.Session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in
                     (ProcessInstance, WorkItem, AuditEvent, Attachment, TransferApplication, RegisteredInfo))


def record_id(resp) -> int:
    return int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))


# -- the module chooser (MOD-1, MOD-4, MOD-5) ---------------------------------------------------------------
def test_module_chooser_links_open_modules_and_says_why_others_are_closed(app, runtime, world, make_graduate,
                                                                          modules_open, client_for, step):
    # rules MOD-1, MOD-4, MOD-5, HUK-2
    make_graduate("g1", hukou_in_school=True)
    make_graduate("g2", hukou_in_school=False)
    page = client_for("g1").get("/graduate").get_data(as_text=True)
    assert 'id="module-archive" href="/graduate/archive"' in page
    assert 'id="module-hukou" href="/graduate/hukou"' in page
    page = client_for("g2").get("/graduate").get_data(as_text=True)
    assert 'id="module-archive" href="/graduate/archive"' in page
    assert re.search(r'<div class="card disabled" id="module-hukou"><h2>户口信息登记</h2><p class="muted">[^<]*户口未转入学校', page)
    step(lambda s: setattr(s.get(type(world.school), world.school.id), "open_modules", ["destination"]))
    web = client_for("g1")
    page = web.get("/graduate").get_data(as_text=True)
    assert re.search(r'class="card disabled" id="module-archive"><h2>档案信息登记</h2><p class="muted">学校尚未完成', page)
    resp = web.get("/graduate/archive")
    assert resp.status_code == 403 and "学校尚未完成该模块的设置" in resp.get_data(as_text=True)
    resp = web.get("/graduate/archive/register")
    assert resp.status_code == 403 and "学校尚未完成该模块的设置" in resp.get_data(as_text=True)


def test_hukou_pages_and_api_refuse_a_graduate_whose_hukou_is_not_at_the_school(app, runtime, world, make_graduate,
                                                                              modules_open, client_for):
    # rules HUK-2, MOD-5
    make_graduate("g1", hukou_in_school=False)
    web = client_for("g1")
    for path in ("/graduate/hukou", "/graduate/hukou/register"):
        resp = web.get(path)
        assert resp.status_code == 403 and "户口未转入学校" in resp.get_data(as_text=True), path
    before = counts(runtime)
    resp = web.post("/graduate/hukou/register", data=HUKOU)
    assert resp.status_code == 403 and "户口未转入学校" in resp.get_data(as_text=True)
    api = app.test_client()
    g = token(api, "g1")
    resp = api.post("/api/v1/processes/hukou_registration/instances", headers=g, json=HUKOU)
    assert resp.status_code == 409 and "户口未转入学校" in resp.json["error"]["message"]
    assert counts(runtime) == before
    summary = api.get("/api/v1/hukou", headers=g).json
    assert "户口未转入学校" in summary["closed_reason"] and summary["offered"] is None


# -- the graduate's pages ----------------------------------------------------------------------------------
def test_register_on_the_page_review_with_an_edit_then_the_archive_column_offers_a_change(
        app, runtime, world, make_graduate, modules_open, client_for):
    # rules ARC-3, ARC-5, ARC-6, REV-5, NOTE-3
    grad = make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    web = client_for("g1")
    home = web.get("/graduate/archive").get_data(as_text=True)
    assert 'id="archive-register"' in home and 'id="archive-none"' in home
    form = web.get("/graduate/archive/register?type=转回生源地").get_data(as_text=True)
    assert re.search(r'name="division_code"[^>]*value="350203"', form)  # pre-filled from the 生源所在地
    assert re.search(r'<select id="division_code-level0" aria-label="省" disabled>', form)  # the province is locked
    assert '<option value="350000" selected>福建省</option>' in form
    assert '<option value="350203" selected>思明区</option>' in form
    resp = web.post("/graduate/archive/register", data=ARCHIVE)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    inst_id = record_id(resp)
    record = web.get(f"/graduate/records/{inst_id}").get_data(as_text=True)
    assert "等待院系审核" in record and "厦门市思明区人才服务中心" in record and "福建省厦门市思明区" in record
    home = web.get("/graduate/archive").get_data(as_text=True)
    assert 'id="archive-open"' in home and 'id="archive-register"' not in home  # one open application
    # the department edits the postcode while approving (REV-5); the graduate gets an SMS (NOTE-3)
    dept = client_for("dept_info")
    item = open_items(runtime, inst_id, "Department")[0]
    page = dept.get(f"/review/items/{item.id}").get_data(as_text=True)
    assert 'name="edit-archive_postcode"' in page and 'id="decision-return"' not in page  # approve / reject only
    data = {"review-decision": "approve", "edit-present": "1", **{f"edit-{k}": v for k, v in ARCHIVE.items()},
            "edit-archive_postcode": "361001"}
    assert dept.post(f"/review/items/{item.id}", data=data).status_code == 302
    with runtime.Session() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.instance_id == inst_id, AuditEvent.action == "edit"))
        sms = [o.payload for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.sms"))]
        assert any("修改了你的登记信息" in p["title"] and p["to"] == grad.phone for p in sms)
    record = web.get(f"/graduate/records/{inst_id}").get_data(as_text=True)
    assert "档案转递单位邮编：<del>361000</del> → <ins>361001</ins>" in record
    school = client_for("school")
    item = open_items(runtime, inst_id, "School")[0]
    assert school.post(f"/review/items/{item.id}", data={"review-decision": "approve"}).status_code == 302
    home = web.get("/graduate/archive").get_data(as_text=True)
    assert "361001" in home and "来源：毕业生登记" in home
    assert 'id="archive-change"' in home and 'id="archive-register"' not in home
    # a second registration is not offered, and asking for it says why
    resp = web.get("/graduate/archive/register")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/graduate/archive")
    change = web.get("/graduate/archive/change").get_data(as_text=True)
    assert 'value="361001"' in change  # the change starts from the valid record


def test_withdraw_on_the_page_then_resubmit_through_the_work_page(app, runtime, world, make_graduate,
                                                                 modules_open, client_for):
    # rules REV-6, HUK-1
    make_graduate("g1")
    web = client_for("g1")
    resp = web.post("/graduate/hukou/register", data=HUKOU)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    inst_id = record_id(resp)
    assert 'id="withdraw"' in web.get(f"/graduate/records/{inst_id}").get_data(as_text=True)
    assert web.post(f"/graduate/records/{inst_id}/withdraw").status_code == 302
    item = open_items(runtime, inst_id, "Graduate")[0]
    page = web.get(f"/graduate/work/{item.id}").get_data(as_text=True)
    assert 'value="湖滨南路1号"' in page
    resp = web.post(f"/graduate/work/{item.id}", data={**HUKOU, "hukou_address": "湖滨南路2号"})
    assert resp.status_code == 302
    with runtime.Session() as s:
        assert s.get(ProcessInstance, inst_id).status_label == "等待院系审核"
        row = s.scalar(select(TransferApplication).where(TransferApplication.instance_id == inst_id))
        assert row.fields["hukou_address"] == "湖滨南路2号"


def test_images_upload_with_the_form_and_show_on_the_record(app, runtime, world, make_graduate, modules_open,
                                                           client_for):
    # rules ARC-4, IMG-1
    make_graduate("g1")
    web = client_for("g1")
    files = [(io.BytesIO(png_bytes((i * 60, 0, 0))), f"{i}.png") for i in range(3)]
    resp = web.post("/graduate/archive/register", content_type="multipart/form-data",
                    data={**ARCHIVE, "archive_type": "托管单位接收", "images": files})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    with runtime.Session() as s:
        row = s.scalar(select(TransferApplication))
        assert len(row.attachment_ids) == 3
    assert web.get(f"/graduate/records/{record_id(resp)}").get_data(as_text=True).count('alt="证明材料"') == 3


# -- bad input: a clear message, nothing changed --------------------------------------------------------
PAGE_CASES = {
    "back to origin moved to another province": ({**ARCHIVE, "division_code": "110108"}, "不能修改省级地址"),
    "201-character explanation": ({**ARCHIVE, "note": "说" * 201}, "情况说明：最多200字（当前201字）"),
    "5-digit postcode": ({**ARCHIVE, "archive_postcode": "36100"}, "档案转递单位邮编：邮政编码应为6位数字"),
    "bad phone": ({**ARCHIVE, "archive_phone": "12345"}, "联系电话应为11位手机号码或固定电话"),
    "no proof for a unit type": ({**ARCHIVE, "archive_type": "签约单位接收"}, "需要上传证明材料图片"),
    "unknown type": ({**ARCHIVE, "archive_type": "寄给自己"}, "请选择档案转递类型"),
    "missing unit": ({**ARCHIVE, "archive_unit": ""}, "请填写档案转递单位名称"),
    "not a district": ({**ARCHIVE, "division_code": "350200"}, "区（县）一级"),
}


@pytest.mark.parametrize("case", sorted(PAGE_CASES))
def test_bad_archive_form_changes_nothing(app, runtime, world, make_graduate, modules_open, client_for, case):
    # rules ARC-2, ARC-3, ARC-4, DICT-3
    make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    web = client_for("g1")
    data, expected = PAGE_CASES[case]
    before = counts(runtime)
    resp = web.post("/graduate/archive/register", data=data)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422, text[:500]
    assert expected in text
    assert counts(runtime) == before


def test_a_fourth_image_is_refused_and_nothing_stored(app, runtime, world, make_graduate, modules_open, client_for):
    # rules IMG-1, ARC-2
    make_graduate("g1")
    web = client_for("g1")
    before = counts(runtime)
    files = [(io.BytesIO(png_bytes((i * 40, 0, 0))), f"{i}.png") for i in range(4)]
    resp = web.post("/graduate/archive/register", content_type="multipart/form-data",
                    data={**ARCHIVE, "archive_type": "托管单位接收", "images": files})
    assert resp.status_code == 422 and "最多上传3张图片" in resp.get_data(as_text=True)
    assert counts(runtime) == before


def test_hukou_back_to_origin_in_another_province_is_refused_on_the_page(app, runtime, world, make_graduate,
                                                                        modules_open, client_for):
    # rules HUK-1, ARC-3
    make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    before = counts(runtime)
    resp = client_for("g1").post("/graduate/hukou/register", data={**HUKOU, "division_code": "440305"})
    assert resp.status_code == 422 and "不能修改省级地址（生源所在地：福建省）" in resp.get_data(as_text=True)
    assert counts(runtime) == before


API_CASES = {
    "back to origin moved to another province": ({**ARCHIVE, "division_code": "110108"}, "不能修改省级地址"),
    "201-character explanation": ({**ARCHIVE, "note": "说" * 201}, "最多200字"),
    "5-digit postcode": ({**ARCHIVE, "archive_postcode": "36100"}, "邮政编码应为6位数字"),
    "a fourth image": ({**ARCHIVE, "attachment_ids": [1, 2, 3, 4]}, "最多上传3张图片"),
    "missing division": ({k: v for k, v in ARCHIVE.items() if k != "division_code"}, "请选择省/市/区"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_bad_archive_api_body_changes_nothing(app, runtime, world, make_graduate, modules_open, case):
    # rules ARC-2, ARC-3, IMG-1, DICT-3
    make_graduate("g1", origin_code="350203", origin_name="福建省厦门市思明区")
    api = app.test_client()
    g = token(api, "g1")
    body, expected = API_CASES[case]
    before = counts(runtime)
    resp = api.post("/api/v1/processes/archive_registration/instances", headers=g, json=body)
    assert resp.status_code == 422, resp.json
    assert expected in resp.json["error"]["message"]
    assert counts(runtime) == before


def test_a_201_character_hukou_explanation_is_refused(app, runtime, world, make_graduate, modules_open):
    # rules HUK-1, DICT-3
    make_graduate("g1")
    api = app.test_client()
    before = counts(runtime)
    resp = api.post("/api/v1/processes/hukou_registration/instances", headers=token(api, "g1"),
                    json={**HUKOU, "note": "长" * 201})
    assert resp.status_code == 422 and "情况说明：最多200字（当前201字）" == resp.json["error"]["message"]
    assert counts(runtime) == before


# -- the API ------------------------------------------------------------------------------------------
def test_api_registration_withdraw_resubmit_review_with_edit_and_change(app, runtime, world, make_graduate,
                                                                        modules_open):
    # rules ARC-4, ARC-5, ARC-6, REV-5, REV-6, NOTE-3
    make_graduate("g1")
    api = app.test_client()
    g, dept, school = token(api, "g1"), token(api, "dept_info"), token(api, "school")
    summary = api.get("/api/v1/archive", headers=g).json
    assert summary["offered"] == "archive_registration" and summary["info"] is None
    assert summary["origin"]["name"] == "福建省厦门市思明区" and "升学外校接收" in summary["types"]
    ids = upload(api, g)
    resp = api.post("/api/v1/processes/archive_registration/instances", headers=g,
                    json={**ARCHIVE, "archive_type": "托管单位接收", "attachment_ids": ids})
    assert resp.status_code == 201, resp.json
    inst = resp.json
    assert inst["status_label"] == "等待院系审核" and inst["archive_application"]["attachment_ids"] == ids
    assert api.get("/api/v1/archive", headers=g).json["open_application"]["instance_id"] == inst["id"]
    assert api.post(f"/api/v1/instances/{inst['id']}/withdraw", headers=g).status_code == 200
    item = [i for i in api.get("/api/v1/work-items", headers=g).json["items"] if i["form_key"] == "archive"][0]
    form = api.get(f"/api/v1/work-items/{item['id']}", headers=g).json
    assert {f["name"] for f in form["fields"]} >= {"archive_type", "division_code", "archive_postcode", "attachment_ids"}
    assert form["data"]["application"]["archive_type"] == "托管单位接收"
    resp = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=g,
                    json={**ARCHIVE, "archive_type": "托管单位接收", "archive_unit": "厦门人才服务中心",
                          "attachment_ids": ids})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核", resp.json
    review = [i for i in api.get("/api/v1/work-items", headers=dept).json["items"] if i["instance_id"] == inst["id"]][0]
    bad = api.post(f"/api/v1/work-items/{review['id']}/complete", headers=dept,
                   json={"decision": "approve", "edits": {**ARCHIVE, "archive_postcode": "3610"}})
    assert bad.status_code == 422 and "邮政编码应为6位数字" in bad.json["error"]["message"]
    resp = api.post(f"/api/v1/work-items/{review['id']}/complete", headers=dept,
                    json={"decision": "approve", "edits": {**ARCHIVE, "archive_type": "托管单位接收",
                                                           "archive_unit": "厦门市人才服务中心"}})
    assert resp.status_code == 200, resp.json
    edit = [h for h in resp.json["history"] if h["action"] == "edit"][0]
    assert {"field": "archive_unit", "label": "档案转递单位名称", "before": "厦门人才服务中心",
            "after": "厦门市人才服务中心"} in edit["changes"]
    review = [i for i in api.get("/api/v1/work-items", headers=school).json["items"] if i["instance_id"] == inst["id"]][0]
    resp = api.post(f"/api/v1/work-items/{review['id']}/complete", headers=school, json={"decision": "approve"})
    assert resp.json["status_label"] == "审核通过" and resp.json["archive_application"]["status"] == "approved"
    summary = api.get("/api/v1/archive", headers=g).json
    assert summary["info"]["fields"]["archive_unit"] == "厦门市人才服务中心" and summary["info"]["source"] == "registration"
    assert summary["offered"] == "archive_change"
    again = api.post("/api/v1/processes/archive_registration/instances", headers=g, json=ARCHIVE)
    assert again.status_code == 409 and "无需再次登记" in again.json["error"]["message"]
    change = api.post("/api/v1/processes/archive_change/instances", headers=g, json=ARCHIVE)
    assert change.status_code == 201 and change.json["title"] == "档案信息修改"


def test_openapi_documents_the_archive_and_hukou_routes(app, runtime, world, make_graduate):
    # rules ARC-5, ARC-7, GRAD-5, HUK-1
    doc = app.test_client().get("/api/v1/openapi.json").json
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    assert {"ArchiveInfo", "ArchiveInfoBySchool", "HukouInfo", "HukouInfoBySchool"} <= set(schemas)
    assert schemas["ArchiveInfo"]["properties"]["archive_postcode"]["pattern"] == "^[0-9]{6}$"
    assert {"/archive", "/hukou", "/school/graduates/{graduate_id}/archive", "/school/graduates/{graduate_id}/hukou",
            "/school/graduates/{graduate_id}"} <= set(paths)
    assert "delete" in paths["/school/graduates/{graduate_id}"]
    summary = paths["/processes/{process_id}/instances"]["post"]["summary"]
    for pid in ("archive_registration", "archive_change", "hukou_registration", "hukou_change"):
        assert pid in summary


def test_division_picker_data(app, runtime, world, make_graduate, client_for):
    # rule DICT-2
    make_graduate("g1")
    web = client_for("g1")
    provinces = web.get("/archive/divisions").json["items"]
    assert {"code": "350000", "name": "福建省"} in provinces
    assert {"code": "350203", "name": "思明区"} in web.get("/hukou/divisions?parent=350200").json["items"]


# -- the school: direct registration (ARC-7) and deletion of basic info (GRAD-5) ----------------------------
def test_school_registers_archive_and_hukou_info_on_its_pages(app, runtime, world, make_graduate, modules_open,
                                                             client_for, other_school):
    # rules ARC-7, HUK-1, ROLE-1
    grad = make_graduate("g1")
    school = client_for("school")
    listing = school.get("/school/archive").get_data(as_text=True)
    assert f'id="graduate-{grad.id}"' in listing and "孙八" not in listing  # its own graduates only
    resp = school.post(f"/school/archive/{grad.id}", data=ARCHIVE)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    resp = school.post(f"/school/hukou/{grad.id}", data=HUKOU)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    with runtime.Session() as s:
        assert current_info(s, grad.id, "archive").source == "school"
        assert current_info(s, grad.id, "hukou").fields["division_name"] == "福建省厦门市思明区"
    home = client_for("g1").get("/graduate/archive").get_data(as_text=True)
    assert "来源：学校登记" in home and 'id="archive-change"' in home  # shown; the graduate need not register
    before = counts(runtime)
    assert school.get(f"/school/archive/{other_school}").status_code == 404
    assert school.post(f"/school/archive/{other_school}", data=ARCHIVE).status_code == 404
    assert client_for("dept_info").get(f"/school/archive/{grad.id}").status_code in (403, 404)
    resp = school.post(f"/school/archive/{grad.id}", data={**ARCHIVE, "archive_postcode": "36100"})
    assert resp.status_code == 422 and "邮政编码应为6位数字" in resp.get_data(as_text=True)
    assert counts(runtime) == before


def test_school_api_registers_directly_and_refuses_other_schools(app, runtime, world, make_graduate, modules_open,
                                                                 other_school):
    # rules ARC-7, HUK-2, MOD-5, ROLE-1
    grad = make_graduate("g1")
    no_hukou = make_graduate("g2", hukou_in_school=False)
    api = app.test_client()
    school, school2 = token(api, "school"), token(api, "school2")
    resp = api.post(f"/api/v1/school/graduates/{grad.id}/archive", headers=school, json=ARCHIVE)
    assert resp.status_code == 201 and resp.json["info"]["source"] == "school"
    assert api.get(f"/api/v1/school/graduates/{grad.id}/archive", headers=school).json["info"]["fields"][
        "archive_unit"] == ARCHIVE["archive_unit"]
    before = counts(runtime)
    assert api.post(f"/api/v1/school/graduates/{grad.id}/archive", headers=school2, json=ARCHIVE).status_code == 404
    assert api.get(f"/api/v1/school/graduates/{grad.id}/hukou", headers=school2).status_code == 404
    resp = api.post(f"/api/v1/school/graduates/{no_hukou.id}/hukou", headers=school, json=HUKOU)
    assert resp.status_code == 409 and "户口未转入学校" in resp.json["error"]["message"]
    assert counts(runtime) == before


def test_school_deletes_basic_info_on_the_page_and_the_graduate_cannot_enter(app, runtime, world, make_graduate,
                                                                             modules_open, client_for):
    # rules GRAD-5, GRAD-2, ARC-8
    grad = make_graduate("g1")
    web = client_for("g1")
    inst_id = record_id(web.post("/graduate/archive/register", data=ARCHIVE))
    school = client_for("school")
    resp = school.post(f"/school/graduates/{grad.id}/delete")
    assert resp.status_code == 302
    assert "1条待审核申请已审核不通过" in school.get(resp.headers["Location"]).get_data(as_text=True)
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).deleted_at is not None
        inst = s.get(ProcessInstance, inst_id)
        assert inst.status_label == "审核不通过（学校审核不通过）"
    login = app.test_client().post("/login", data={"username": "g1", "password": "demo1234"})
    assert login.status_code == 401 and "尚未上传你的毕业生基本信息" in login.get_data(as_text=True)
    # the school still sees the history of the application
    record = school.get(f"/review/instances/{inst_id}").get_data(as_text=True)
    assert "学校已删除毕业生基本信息" in record


def test_school_api_deletes_only_its_own_graduates(app, runtime, world, make_graduate, modules_open, other_school):
    # rules GRAD-5, ROLE-1
    grad = make_graduate("g1")
    api = app.test_client()
    g, school, school2, dept = (token(api, u) for u in ("g1", "school", "school2", "dept_info"))
    inst = api.post("/api/v1/processes/hukou_registration/instances", headers=g, json=HUKOU).json
    before = counts(runtime)
    for who in (school2, dept, g):
        assert api.delete(f"/api/v1/school/graduates/{grad.id}", headers=who).status_code == 404
    assert api.delete(f"/api/v1/school/graduates/{other_school}", headers=school).status_code == 404
    assert counts(runtime) == before
    resp = api.delete(f"/api/v1/school/graduates/{grad.id}", headers=school)
    assert resp.status_code == 200 and resp.json["ended_instances"] == [inst["id"]]
    assert resp.json["deleted_at"]
    assert api.delete(f"/api/v1/school/graduates/{grad.id}", headers=school).status_code == 404  # already deleted
    with runtime.Session() as s:
        assert s.get(ProcessInstance, inst["id"]).status_label == "审核不通过（学校审核不通过）"
        assert any("学校已删除毕业生基本信息" in m.body for m in s.scalars(select(Message)))


def test_demo_seed_opens_both_modules_and_sets_origins_and_hukou(runtime):
    # rules MOD-4, MOD-5, ARC-3
    from domain.models import School
    from domain.seed import seed_demo

    with runtime.Session() as s:
        assert seed_demo(s)
        s.flush()
        school = s.scalar(select(School).where(School.code == "10384"))
        assert {"archive", "hukou"} <= set(school.open_modules) & set(school.province.enabled_modules)
        graduates = list(s.scalars(select(Graduate)))
        assert all(grad.origin_code and grad.origin_name for grad in graduates)
        assert {grad.hukou_in_school for grad in graduates} == {True, False}
        s.rollback()


def test_change_review_page_shows_the_record_still_valid_next_to_the_change(app, runtime, world, make_graduate,
                                                                           modules_open, client_for, step):
    # rules ARC-6, HUK-1, REV-5
    from domain.graduate_info import register_info

    grad = make_graduate("g1")
    step(lambda s: register_info(s, grad.id, "hukou", {"hukou_type": "签约单位接收", "hukou_address": "厦门市思明区"},
                                 "agreement", 7))
    web = client_for("g1")
    home = web.get("/graduate/hukou").get_data(as_text=True)
    assert "来源：签约协议" in home and 'id="hukou-change"' in home and 'id="hukou-register"' not in home
    assert re.search(r'<option selected value="签约单位接收">', web.get("/graduate/hukou/change").get_data(as_text=True))
    resp = web.post("/graduate/hukou/change", data=HUKOU)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    inst_id = record_id(resp)
    item = open_items(runtime, inst_id, "Department")[0]
    page = client_for("dept_info").get(f"/review/items/{item.id}").get_data(as_text=True)
    assert "原户口信息（修改审核通过前仍有效）" in page and "厦门市思明区" in page
    assert 'id="edit-division_code-level0"' in page and 'name="edit-hukou_address"' in page
    school = client_for("school")
    assert f'id="graduate-{grad.id}"' in school.get("/school/hukou").get_data(as_text=True)
    assert "有待审核的申请" in school.get("/school/hukou").get_data(as_text=True)
    assert 'id="school-hukou-form"' in school.get(f"/school/hukou/{grad.id}").get_data(as_text=True)
    no_hukou = make_graduate("g2", hukou_in_school=False)
    assert f'id="graduate-{no_hukou.id}"' not in school.get("/school/hukou").get_data(as_text=True)  # MOD-5
    resp = school.get(f"/school/hukou/{no_hukou.id}")
    assert resp.status_code == 409 and "户口未转入学校" in resp.get_data(as_text=True)
