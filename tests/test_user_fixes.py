"""What graduates, employers and reviewers hit, fixed (issue 7): each test failed before its fix."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime

from sqlalchemy import select

from domain.models import AccessLog, Agreement, DestinationRecord, Graduate, Message
from tests.conftest import require_service
from tests.test_api_signing import OFFLINE_BODY, invite_body, open_item, review_all, token, upload


def _pdftotext(data: bytes) -> str:
    if not shutil.which("pdftotext"):
        require_service("pdftotext", "poppler-utils is not installed")
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


# -- GRAD-3: the graduate's own phone and e-mail --------------------------------------------------------
def test_graduate_changes_own_phone_and_email_in_account_settings(app, runtime, world, make_graduate, client_for):
    # rule GRAD-3
    grad = make_graduate("g1", confirmed=False)
    web = client_for("g1")
    confirm = web.get("/graduate/confirm").get_data(as_text=True)
    assert 'id="account-link"' in confirm and "/graduate/account" in confirm
    assert web.get("/graduate/account").status_code == 200
    bad = web.post("/graduate/account", data={"phone": "12345", "email": "a@b.cn"})
    assert bad.status_code == 422 and "手机号码" in bad.get_data(as_text=True)
    with runtime.Session() as s:
        assert s.get(Graduate, grad.id).phone == grad.phone  # nothing changed
    assert web.post("/graduate/account", data={"phone": "13912345678", "email": "new@xmu.edu.cn"}).status_code == 302
    with runtime.Session() as s:
        row = s.get(Graduate, grad.id)
        assert (row.phone, row.email) == ("13912345678", "new@xmu.edu.cn")
    api = app.test_client()
    g = token(api, "g1")
    assert api.post("/api/v1/me/contact", headers=g, json={"phone": "139"}).status_code == 422
    ok = api.post("/api/v1/me/contact", headers=g, json={"phone": "13800001111", "email": ""})
    assert ok.status_code == 200 and ok.json == {"phone": "13800001111", "email": None}
    assert api.post("/api/v1/me/contact", headers=token(api, "dept_info"), json={"phone": "13800001111"}).status_code == 404


# -- GRAD-6 / DST-5: the 定向 unit always comes from the school's record ----------------------------------
def test_directed_graduate_files_in_the_browser_form_and_cannot_change_the_unit(app, runtime, world, make_graduate,
                                                                               client_for):
    # rules GRAD-6, DST-5
    grad = make_graduate("d1", training_mode="定向", directed_unit="福建省漳州市教育局",
                         directed_unit_address="福建省漳州市芗城区胜利西路1号")
    web = client_for("d1")
    form = web.get("/graduate/destination/new?type=directed").get_data(as_text=True)
    assert "福建省漳州市芗城区胜利西路1号" in form and 'name="unit_address"' not in form  # shown, never posted
    import io

    from tests.conftest import png_bytes

    resp = web.post("/graduate/destination/new", content_type="multipart/form-data",
                    data={"dest_type": "directed", "note": "按定向协议就业",
                          "images": [(io.BytesIO(png_bytes()), "p.png")]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.graduate_id == grad.id))
        assert rec.fields["unit_name"] == "福建省漳州市教育局"
        assert rec.fields["unit_address"] == "福建省漳州市芗城区胜利西路1号"
    # through the API the posted unit is ignored as well
    grad2 = make_graduate("d2", training_mode="委培", directed_unit="某委培单位", directed_unit_address="某市某路2号")
    api = app.test_client()
    g = token(api, "d2")
    ids = upload(api, g)
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g,
                    json={"dest_type": "directed", "unit_name": "别的单位", "unit_address": "别处",
                          "attachment_ids": ids})
    assert resp.status_code == 201, resp.json
    assert resp.json["destination"]["fields"]["unit_name"] == "某委培单位"
    assert resp.json["destination"]["fields"]["unit_address"] == "某市某路2号"
    assert grad2.id


# -- ONL-1 / OFF-1: the guides' fields and labels; optional 转正起薪 and 解约说明 -------------------------------
def test_invitation_carries_the_archive_transfer_contact_phone_and_postcode(app, runtime, world, make_graduate,
                                                                           make_employer):
    # rules ONL-1, ARC-2
    grad = make_graduate("g1")
    make_employer("hr")
    api = app.test_client()
    hr = token(api, "hr")
    body = {**invite_body(grad), "archive_type": "托管单位接收", "archive_unit": "北京市西城区人才服务中心",
            "archive_contact": "王伟", "archive_phone": "010-68352260", "archive_postcode": "100056"}
    body.pop("salary_regular")  # 转正起薪 is optional
    bad = api.post("/api/v1/invitations", headers=hr, json={**body, "archive_postcode": "10005"})
    assert bad.status_code == 422 and "邮政编码" in bad.json["error"]["message"]
    bad = api.post("/api/v1/invitations", headers=hr, json={**body, "archive_phone": "abc"})
    assert bad.status_code == 422 and "联系电话" in bad.json["error"]["message"]
    resp = api.post("/api/v1/invitations", headers=hr, json=body)
    assert resp.status_code == 201, resp.json
    fields = resp.json["agreement"]["fields"]
    assert (fields["archive_contact"], fields["archive_phone"], fields["archive_postcode"]) == \
        ("王伟", "010-68352260", "100056")
    assert "salary_regular" not in fields


def test_offline_form_uses_the_guides_labels_and_no_silent_defaults(app, runtime, world, make_graduate, client_for):
    # rules OFF-1, ONL-1, DICT-3
    make_graduate("g1")
    page = client_for("g1").get("/graduate/agreements/offline/new").get_data(as_text=True)
    for label in ("岗位名称", "实际工作地点", "试用起薪", "转正起薪", "协议补充内容", "联系人固话", "档案转递联系人",
                  "档案转递联系电话", "档案转递单位邮编"):
        assert label in page, label
    for name in ("nature", "industry", "job_category"):
        select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
        first = re.search(r"<option([^>]*)>([^<]*)</option>", select_html)
        assert first.group(2) == "请选择" and 'value=""' in first.group(1), name
        assert "selected" not in select_html.split("</option>", 1)[1], name  # nothing else preselected
    api = app.test_client()
    g = token(api, "g1")
    resp = api.post("/api/v1/processes/offline_signing/instances", headers=g, json={**OFFLINE_BODY, "nature": ""})
    assert resp.status_code == 422 and "请选择单位性质" in resp.json["error"]["message"]


def test_money_fields_refuse_nan_and_ids_past_int4_are_a_clear_error(app, runtime, world, make_graduate):
    # rules OFF-1, IMG-1
    make_graduate("g1")
    api = app.test_client()
    g = token(api, "g1")
    for value in ("sNaN", "NaN", "Infinity", "-inf"):
        resp = api.post("/api/v1/processes/offline_signing/instances", headers=g,
                        json={**OFFLINE_BODY, "salary_trial": value})
        assert resp.status_code == 422 and "金额" in resp.json["error"]["message"], (value, resp.json)
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g,
                    json={"dest_type": "freelance", "attachment_ids": [2147483648]})
    assert resp.status_code == 422, resp.json


# -- REV-5: edits validated by the process's own form, never dropped, shown before/after --------------------
def _offline_under_review(api, g):
    resp = api.post("/api/v1/processes/offline_signing/instances", headers=g, json=OFFLINE_BODY)
    assert resp.status_code == 201, resp.json
    return resp.json


def test_offline_review_edits_are_checked_by_the_agreement_form_and_shown_before_after(app, runtime, world,
                                                                                       make_graduate):
    # rules REV-5, NOTE-3, OFF-2
    make_graduate("g1")
    api = app.test_client()
    g, dept = token(api, "g1"), token(api, "dept_info")
    inst = _offline_under_review(api, g)
    item = open_item(api, dept, "review")
    destination_shaped = {"dest_type": "freelance", "note": "x"}
    bad = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=dept,
                   json={"decision": "approve", "edits": destination_shaped})
    assert bad.status_code == 422
    with runtime.Session() as s:
        agreement = s.scalar(select(Agreement).where(Agreement.instance_id == inst["id"]))
        assert agreement.fields["position"] == OFFLINE_BODY["position"]  # nothing changed
    edits = {**OFFLINE_BODY, "position": "高级外贸主管"}
    resp = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=dept,
                    json={"decision": "approve", "edits": edits})
    assert resp.status_code == 200, resp.json
    assert resp.json["agreement"]["fields"]["position"] == "高级外贸主管"
    assert resp.json["agreement"]["fields"]["employer_name"] == OFFLINE_BODY["employer_name"]
    change = [h for h in resp.json["history"] if h["action"] == "edit"][0]["changes"]
    assert {"field": "fields.position", "label": "岗位名称", "before": OFFLINE_BODY["position"],
            "after": "高级外贸主管"} in change
    with runtime.Session() as s:
        message = s.scalar(select(Message).where(Message.title.contains("修改了你的登记信息")))
        assert f"岗位名称：{OFFLINE_BODY['position']} → 高级外贸主管" in message.body


def test_online_signing_terms_cannot_be_edited_by_a_reviewer(app, runtime, world, make_graduate, make_employer):
    # rules REV-5, ONL-1
    grad = make_graduate("g1")
    make_employer("hr")
    api = app.test_client()
    g, hr, dept = token(api, "g1"), token(api, "hr"), token(api, "dept_info")
    inst = api.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    api.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": "accept"})
    item = open_item(api, dept, "review")
    resp = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=dept,
                    json={"decision": "approve", "edits": {"position": "改"}})
    assert resp.status_code == 422 and "不能修改" in resp.json["error"]["message"]


def test_review_page_saves_an_edit_without_a_checkbox_and_the_history_shows_it(app, runtime, world, make_graduate,
                                                                               client_for, step, actor):
    # rules REV-5, DST-2
    from processes.destination import services as filing
    from tests.conftest import with_proof

    make_graduate("g1")
    g = actor("g1")
    clean = {"dest_type": "labor_contract", "fields": {"unit_name": "厦门某公司", "unit_address": "厦门市思明区"}}
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                              with_proof(s, g.graduate_id, clean)))
    dept = client_for("dept_info")
    from tests.conftest import open_items

    item = open_items(runtime, inst.id, "Department")[0]
    page = dept.get(f"/review/items/{item.id}").get_data(as_text=True)
    assert 'name="edit-present"' in page and 'id="edit-enabled"' not in page
    resp = dept.post(f"/review/items/{item.id}", data={
        "review-decision": "approve", "edit-present": "1", "edit-dest_type": "labor_contract",
        "edit-unit_name": "厦门某某有限公司", "edit-unit_address": "厦门市思明区"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        assert rec.fields["unit_name"] == "厦门某某有限公司"
    record = client_for("g1").get(f"/graduate/records/{inst.id}").get_data(as_text=True)
    assert "单位名称：<del>厦门某公司</del> → <ins>厦门某某有限公司</ins>" in record
    # an unchanged edit block records no edit
    school = client_for("school")
    item = open_items(runtime, inst.id, "School")[0]
    school.get(f"/review/items/{item.id}")
    assert school.post(f"/review/items/{item.id}", data={
        "review-decision": "approve", "edit-present": "1", "edit-dest_type": "labor_contract",
        "edit-unit_name": "厦门某某有限公司", "edit-unit_address": "厦门市思明区"}).status_code == 302
    history = app.test_client().get(f"/api/v1/instances/{inst.id}", headers=token(app.test_client(), "g1")).json
    assert [h["action"] for h in history["history"]].count("edit") == 1


# -- DST-1: required proof; an image can be removed on resubmit -----------------------------------------------
def test_required_proof_is_enforced_and_an_image_can_be_removed_on_resubmit(app, runtime, world, make_graduate,
                                                                            client_for):
    # rules DST-1, IMG-1, REV-3
    make_graduate("g1")
    api = app.test_client()
    g = token(api, "g1")
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g, json={"dest_type": "freelance"})
    assert resp.status_code == 422 and "证明材料" in resp.json["error"]["message"]
    ids = upload(api, g, n=2)
    inst = api.post("/api/v1/processes/destination_filing/instances", headers=g,
                    json={"dest_type": "freelance", "attachment_ids": ids}).json
    dept = token(api, "dept_info")
    review_all(api, inst["id"], dept, decision="return", reason="第二张图片不清晰")
    item = open_item(api, g, "destination")
    web = client_for("g1")
    page = web.get(f"/graduate/work/{item['id']}").get_data(as_text=True)
    assert page.count('name="attachment_ids"') == 2  # each kept image has its own box
    resp = web.post(f"/graduate/work/{item['id']}", data={"dest_type": "freelance", "attachment_ids": [ids[0]]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    with runtime.Session() as s:
        rec = s.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst["id"]))
        assert rec.attachment_ids == [ids[0]]
    # removing the last image of a type that needs proof is refused, nothing changes
    review_all(api, inst["id"], dept, decision="return", reason="请补充")
    item = open_item(api, g, "destination")
    resp = web.post(f"/graduate/work/{item['id']}", data={"dest_type": "freelance"})
    assert resp.status_code == 422 and "证明材料" in resp.get_data(as_text=True)


# -- DOC-1: China dates, no 仅供示范, a 协议核验 page that exists ---------------------------------------------------
def test_pdf_shows_the_china_date_and_points_to_a_working_check_page(app, runtime, world, make_graduate,
                                                                     make_employer, monkeypatch):
    # rules DOC-1, AGR-1
    grad = make_graduate("g1", name="林小雨")
    make_employer("hr", name="厦门星海科技有限公司")
    api = app.test_client()
    g, hr, dept, school = token(api, "g1"), token(api, "hr"), token(api, "dept_info"), token(api, "school")
    inst = api.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    api.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": "accept"})
    final = review_all(api, inst["id"], dept, school)
    agreement_id = final["agreement"]["id"]
    with runtime.Session() as s:  # signed at 17:30 UTC on 12-01, which is 01:30 on 12-02 in Beijing
        row = s.get(Agreement, agreement_id)
        row.signed_at = datetime(2026, 12, 1, 17, 30)
        number = row.agreement_no
        s.commit()
    text = _pdftotext(api.get(f"/api/v1/agreements/{agreement_id}/pdf", headers=g).data)
    assert "2026-12-02" in text and "2026-12-01" not in text
    assert "仅供示范" not in text
    assert "/agreements/check?no=" + number in text.replace("\n", "").replace(" ", "")
    page = api.get(f"/agreements/check?no={number}&name=林小雨").get_data(as_text=True)
    assert "核验结果：有效" in page and "厦门星海科技有限公司" in page and "2026-12-02" in page
    for wrong in (f"no={number}&name=林大雨", "no=2026350000000000999&name=林小雨"):
        page = api.get(f"/agreements/check?{wrong}").get_data(as_text=True)
        assert 'id="check-none"' in page and "厦门星海科技有限公司" not in page
    with runtime.Session() as s:
        assert len(list(s.scalars(select(AccessLog).where(AccessLog.path == "/agreements/check")))) == 3
    assert final["created_at"].endswith("+08:00") and final["history"][0]["at"].endswith("+08:00")


# -- the graduate's home: what waits first; no second filing while one is open ------------------------------
def test_home_shows_the_open_invitation_and_the_return_reason_first(app, runtime, world, make_graduate,
                                                                    make_employer, client_for):
    # rules ONL-2, REV-3, DST-4
    grad = make_graduate("g1")
    make_employer("hr")
    api = app.test_client()
    g, hr, dept = token(api, "g1"), token(api, "hr"), token(api, "dept_info")
    api.post("/api/v1/invitations", headers=hr, json={**invite_body(grad), "answer_days": 3})
    web = client_for("g1")
    home = web.get("/graduate").get_data(as_text=True)
    assert 'id="todo"' in home and "请在应约截止时间" in home
    ids = upload(api, g)
    inst = api.post("/api/v1/processes/destination_filing/instances", headers=g,
                    json={"dest_type": "freelance", "attachment_ids": ids}).json
    page = web.get("/graduate/destination").get_data(as_text=True)
    assert 'id="filing-open"' in page and 'data-type="freelance"' not in page  # no second filing offered
    review_all(api, inst["id"], dept, decision="return", reason="证明材料不清晰")
    home = web.get("/graduate").get_data(as_text=True)
    assert "退回原因：证明材料不清晰" in home
