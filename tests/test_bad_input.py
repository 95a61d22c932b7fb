"""Bad input gets a clear Chinese message and changes nothing."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from domain.models import Attachment, DestinationRecord
from engine.models import AuditEvent, ProcessInstance, WorkItem
from tests.conftest import open_items


def counts(runtime):
    with runtime.Session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in
                     (ProcessInstance, WorkItem, AuditEvent, Attachment, DestinationRecord))


CASES = {
    "missing required field": ({"dest_type": "labor_contract", "unit_address": "厦门"}, "请填写单位名称"),
    "over-long text": ({"dest_type": "job_seeking", "note": "长" * 201}, "200"),
    "unknown destination type": ({"dest_type": "astronaut"}, "未知的毕业去向类型"),
    "missing type": ({"note": "x"}, "请选择毕业去向类型"),
    "directed type for a normal graduate": ({"dest_type": "directed", "unit_name": "某单位", "unit_address": "某地"},
                                            "定向/委培"),
    "foreign attachment id": ({"dest_type": "job_seeking", "attachment_ids": "99999"}, "图片不存在或不属于你"),
    "malformed attachment id": ({"dest_type": "job_seeking", "attachment_ids": "1;drop"}, "编号格式不正确"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_filing_form_changes_nothing(app, runtime, world, make_graduate, client_for, case):
    # rules DST-1, DICT-3
    make_graduate("g1")
    client = client_for("g1")
    data, expected = CASES[case]
    before = counts(runtime)
    resp = client.post("/graduate/destination/new", data=data)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422, text[:500]
    assert expected in text
    assert counts(runtime) == before


@pytest.mark.parametrize("payload,name", [
    (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "agreement.pdf"),
    (b"just some text", "photo.jpg"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif"),
])
def test_non_image_upload_is_refused_and_nothing_stored(app, runtime, world, make_graduate, client_for, payload, name):
    # rule IMG-1
    make_graduate("g1")
    client = client_for("g1")
    before = counts(runtime)
    resp = client.post("/graduate/destination/new", content_type="multipart/form-data",
                       data={"dest_type": "freelance", "note": "x", "images": [(io.BytesIO(payload), name)]})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "JPG或PNG" in text or "不是有效的图片" in text
    assert counts(runtime) == before


def test_four_images_are_refused(app, runtime, world, make_graduate, client_for):
    # rule IMG-1
    from tests.conftest import png_bytes

    make_graduate("g1")
    client = client_for("g1")
    before = counts(runtime)
    files = [(io.BytesIO(png_bytes((i * 40, 0, 0))), f"{i}.png") for i in range(4)]
    resp = client.post("/graduate/destination/new", content_type="multipart/form-data",
                       data={"dest_type": "freelance", "images": files})
    assert resp.status_code == 422 and "最多上传3张图片" in resp.get_data(as_text=True)
    assert counts(runtime) == before


def test_tampered_work_item_id_is_refused(app, runtime, world, make_graduate, client_for, step, actor):
    # rule ROLE-1
    make_graduate("g1")
    client = client_for("g1")
    client.post("/graduate/destination/new", data={"dest_type": "job_seeking"})
    with runtime.Session() as s:
        inst = s.scalar(select(ProcessInstance))
    review_item = open_items(runtime, inst.id, "Department")[0]
    before = counts(runtime)
    # a graduate posting a review decision to the department's item
    assert client.post(f"/review/items/{review_item.id}", data={"review-decision": "approve"}).status_code == 404
    # a graduate resubmitting against the department's item id, or one that doesn't exist
    for item_id in (review_item.id, 999999):
        resp = client.post(f"/graduate/work/{item_id}", data={"dest_type": "job_seeking"})
        assert resp.status_code == 404 and "不存在或无权访问" in resp.get_data(as_text=True)
    reviewer = client_for("dept_info")
    for bad in ("abc", "-1", "1e9"):
        assert reviewer.get(f"/review/items/{bad}").status_code == 404
    assert counts(runtime)[:3] == before[:3]
    with runtime.Session() as s:
        assert s.get(WorkItem, review_item.id).state == "open"


def test_review_without_decision_or_reason(app, runtime, world, make_graduate, client_for):
    # rule REV-1
    make_graduate("g1")
    client_for("g1").post("/graduate/destination/new", data={"dest_type": "job_seeking"})
    with runtime.Session() as s:
        inst = s.scalar(select(ProcessInstance))
    item = open_items(runtime, inst.id, "Department")[0]
    reviewer = client_for("dept_info")
    before = counts(runtime)
    resp = reviewer.post(f"/review/items/{item.id}", data={})
    assert resp.status_code == 422 and "请选择审核结果" in resp.get_data(as_text=True)
    resp = reviewer.post(f"/review/items/{item.id}", data={"review-decision": "reject"})
    assert resp.status_code == 422 and "必须填写原因" in resp.get_data(as_text=True)
    resp = reviewer.post(f"/review/items/{item.id}", data={"review-decision": "maybe"})
    assert resp.status_code == 422
    resp = reviewer.post(f"/review/items/{item.id}", data={"review-decision": "reject", "review-reason": "理" * 201})
    assert resp.status_code == 422
    assert counts(runtime) == before


def test_api_bad_bodies(app, runtime, world, make_graduate):
    # rules DST-1, ROLE-1
    make_graduate("g1")
    client = app.test_client()
    token = client.post("/api/v1/token", json={"username": "g1", "password": "demo1234"}).json["token"]
    h = {"Authorization": f"Bearer {token}"}
    before = counts(runtime)
    url = "/api/v1/processes/destination_filing/instances"
    resp = client.post(url, data="not json", headers={**h, "Content-Type": "application/json"})
    assert resp.status_code == 400 and "JSON" in resp.json["error"]["message"]
    resp = client.post(url, json=["a", "list"], headers=h)
    assert resp.status_code == 400
    resp = client.post(url, json={"dest_type": "astronaut"}, headers=h)
    assert resp.status_code == 422 and "未知的毕业去向类型" in resp.json["error"]["message"]
    resp = client.post(url, json={"dest_type": "domestic_study", "school_name": "厦门大学"}, headers=h)
    assert resp.status_code == 422 and "major" in resp.json["error"]["details"]
    resp = client.post(url, json={"dest_type": "job_seeking", "note": "长" * 300}, headers=h)
    assert resp.status_code == 422
    assert client.post("/api/v1/work-items/999999/complete", json={}, headers=h).status_code == 404
    assert client.get("/api/v1/work-items/1", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert client.post("/api/v1/processes/nope/instances", json={}, headers=h).status_code == 404
    resp = client.post("/api/v1/attachments", data={"file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")}, headers=h,
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "JPG或PNG" in resp.json["error"]["message"]
    assert counts(runtime) == before
