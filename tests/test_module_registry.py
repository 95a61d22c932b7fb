"""Issue 6's proof of the shape: a process module that lives only under tests/modules/sample (BPMN + form +
handler + a page) is registered with the runtime and works through the generic pages, the generic API and
the OpenAPI document, with no edit outside its own files."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import TEST_MODULE

SAMPLE = "tests.modules.sample"


@pytest.fixture
def sample_app(runtime, settings):
    """A second runtime over the same database whose module list has the sample module too."""
    from gradflow.runtime import build_runtime, load_modules
    from webapp import create_app

    rt = build_runtime(settings, modules=load_modules((TEST_MODULE, SAMPLE)))
    rt.deploy()
    yield rt, create_app(rt, TESTING=True, WTF_CSRF_ENABLED=False)
    rt.db.dispose()


def _login(app, username):
    from domain.seed import DEMO_PASSWORD

    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code in (302, 303)
    return client


def _token(client, username):
    from domain.seed import DEMO_PASSWORD

    resp = client.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {resp.json['token']}"}


def _open_item(rt, instance_id, role):
    from engine.models import WorkItem

    with rt.Session() as s:
        return s.scalar(select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.role == role,
                                               WorkItem.state == "open"))


def test_a_module_under_tests_works_through_pages_api_and_openapi(sample_app, world, make_graduate):
    # design: one package per process; the generic parts ask the registry (issue 6)
    rt, app = sample_app
    make_graduate("g1", confirmed=True)
    api = app.test_client()
    g = _token(api, "g1")

    # the process list, the OpenAPI document and the status-label catalogue know it
    assert {"id": "sample_note", "title": "示例登记", "form_key": "sample_note"} in api.get(
        "/api/v1/processes", headers=g).json["processes"]
    doc = api.get("/api/v1/openapi.json").json
    assert "SampleNote" in doc["components"]["schemas"]
    assert "sample_note 同 SampleNote" in doc["components"]["schemas"]["StartProcess"]["description"]
    assert "note" in doc["components"]["schemas"]["Completion"]["properties"]
    assert "sample_note 示例登记" in doc["paths"]["/processes/{process_id}/instances"]["post"]["summary"]
    assert "示例审核完成" in rt.modules.status_labels()

    # API: start, read the form of the open task, complete it with a bad then a good body
    started = api.post("/api/v1/processes/sample_note/instances", headers=g, json={})
    assert started.status_code == 201, started.json
    item = started.json["work_items"][0]
    assert item["form_key"] == "sample_note"
    form = api.get(f"/api/v1/work-items/{item['id']}", headers=g).json
    assert [f["name"] for f in form["fields"]] == ["note"] and form["fields"][0]["required"]
    bad = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=g, json={"note": "x" * 51})
    assert bad.status_code == 422 and "示例内容" in bad.json["error"]["message"]
    done = api.post(f"/api/v1/work-items/{item['id']}/complete", headers=g, json={"note": "接口提交"})
    assert done.status_code == 200, done.json
    assert done.json["category"] == "接口提交"  # the module's handler ran inside the step
    assert done.json["status_label"] == "等待院系审核"  # the shared review took over

    # pages: the 去向填报 page shows the module's block, the generic work page shows its form
    web = _login(app, "g1")
    home = web.get("/graduate/destination").get_data(as_text=True)
    assert 'id="sample-new"' in home
    resp = web.post("/graduate/sample/new")
    instance_id = int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))
    fill = _open_item(rt, instance_id, "Graduate")
    assert "示例内容" in web.get(f"/graduate/work/{fill.id}").get_data(as_text=True)
    assert web.post(f"/graduate/work/{fill.id}", data={"note": "页面提交"}).status_code == 302
    record = web.get(f"/graduate/records/{instance_id}").get_data(as_text=True)
    assert "示例内容：页面提交" in record and "等待院系审核" in record

    # the generic review page and inbox serve its review tasks; the end label comes from its BPMN
    dept, school = _login(app, "dept_info"), _login(app, "school")
    assert "页面提交" in dept.get("/review/inbox").get_data(as_text=True)
    review = _open_item(rt, instance_id, "Department")
    assert dept.post(f"/review/items/{review.id}", data={"review-decision": "approve"}).status_code == 302
    review = _open_item(rt, instance_id, "School")
    assert school.post(f"/review/items/{review.id}", data={"review-decision": "approve"}).status_code == 302
    assert api.get(f"/api/v1/instances/{instance_id}", headers=g).json["status_label"] == "示例审核完成"


def test_the_module_is_its_own_files_only():
    # design: adding the module touched no file outside tests/modules/sample (issue 6)
    import subprocess

    from tests.conftest import ROOT

    names = subprocess.run(["git", "grep", "-l", "sample_note", "--", ".", ":!tests/modules/sample",
                            ":!tests/test_module_registry.py"], cwd=ROOT, capture_output=True, text=True).stdout
    assert names.strip() == "", names
