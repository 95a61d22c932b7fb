"""The process designer's pages (issue 10, items 8-9): the library with versions, hashes, deploy times and
instance counts; a version's diagram and instances; the diff of two versions; validate and deploy from the
page with the CLI's checks (errors by element id), CSRF and admin only. Every deploy here is of a test-only
process id, so the process_version rows the session keeps (conftest TABLES_KEEP) change nothing other tests
start."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from engine.models import ProcessInstance, ProcessVersion

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
      'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')


def probe_bpmn(pid: str, label: str = "等待毕业生确认", *, lane: bool = True, handler: str = "test.outbox",
               timer: str = "'P3D'") -> str:
    """A small process of the platform's shape: start → user task (lane, formKey, statusLabel) with a
    boundary timer → service task → end; drawn, so bpmn-js and bpmnlint see every element."""
    lane_ref = "<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef>" if lane else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="{pid}_definitions" targetNamespace="http://gradflow.example/bpmn">
  <bpmn:collaboration id="{pid}_collaboration">
    <bpmn:participant id="{pid}_participant" name="设计器测试" processRef="{pid}" />
  </bpmn:collaboration>
  <bpmn:process id="{pid}" name="设计器测试" isExecutable="true">
    <bpmn:laneSet id="{pid}_lanes">
      <bpmn:lane id="lane_graduate" name="Graduate">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>{lane_ref}
        <bpmn:flowNodeRef>timeout</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="confirm" name="毕业生确认">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="confirm" />
          <spiffworkflow:property name="statusLabel" value="{label}" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="timeout" name="超时" attachedToRef="confirm" cancelActivity="true">
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:timerEventDefinition id="timeout_def"><bpmn:timeDuration>{timer}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="record" name="记录">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{handler}" resultVariable="service_result">
          <spiffworkflow:parameters />
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm" />
    <bpmn:sequenceFlow id="f2" sourceRef="confirm" targetRef="record" />
    <bpmn:sequenceFlow id="f3" sourceRef="record" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="timeout" targetRef="record" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="{pid}_diagram">
    <bpmndi:BPMNPlane id="{pid}_plane" bpmnElement="{pid}_collaboration">
      <bpmndi:BPMNShape id="{pid}_participant_di" bpmnElement="{pid}_participant" isHorizontal="true">
        <dc:Bounds x="100" y="60" width="700" height="220" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_graduate_di" bpmnElement="lane_graduate" isHorizontal="true">
        <dc:Bounds x="130" y="60" width="670" height="220" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="182" y="132" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="confirm_di" bpmnElement="confirm"><dc:Bounds x="280" y="110" width="120" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="timeout_di" bpmnElement="timeout"><dc:Bounds x="322" y="172" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="record_di" bpmnElement="record"><dc:Bounds x="480" y="110" width="120" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="682" y="132" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="218" y="150" /><di:waypoint x="280" y="150" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="400" y="150" /><di:waypoint x="480" y="150" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="600" y="150" /><di:waypoint x="682" y="150" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4"><di:waypoint x="340" y="208" /><di:waypoint x="340" y="240" /><di:waypoint x="540" y="240" /><di:waypoint x="540" y="190" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def new_pid() -> str:
    return "designer_probe_" + uuid.uuid4().hex[:8]


def start(runtime, actor, pid: str) -> int:
    with runtime.Session() as s:
        instance = runtime.runner.start(s, pid, actor("admin"), scope={})
        s.commit()
        return instance.id


def deploy(client, pid: str, **kw):
    return client.post("/designer/deploy", json={"name": f"{pid}.bpmn", "xml": probe_bpmn(pid, **kw)})


def test_deploy_from_the_page_new_instances_take_the_new_version_running_ones_keep_theirs(
        runtime, world, client_for, actor):
    admin = client_for("admin")
    pid = new_pid()
    first = deploy(admin, pid)
    assert first.status_code == 200, first.get_json()
    [v1] = first.get_json()["versions"]
    old = start(runtime, actor, pid)
    resp = deploy(admin, pid, label="请毕业生尽快确认")
    assert resp.status_code == 200, resp.get_json()
    [v2] = resp.get_json()["versions"]
    assert v2["id"] > v1["id"] and v2["process_id"] == pid
    new = start(runtime, actor, pid)
    with runtime.Session() as s:
        running, started = s.get(ProcessInstance, old), s.get(ProcessInstance, new)
        assert (running.version_id, running.status_label) == (v1["id"], "等待毕业生确认")
        assert (started.version_id, started.status_label) == (v2["id"], "请毕业生尽快确认")
    # the same text again is the same version: nothing new
    again = deploy(admin, pid, label="请毕业生尽快确认")
    assert again.status_code == 200 and again.get_json()["versions"] == []

    library = admin.get("/designer/").get_data(as_text=True)
    assert f'id="process-{pid}"' in library and v1["content_hash"][:12] in library and v2["content_hash"][:12] in library
    page = admin.get(f"/designer/versions/{v1['id']}").get_data(as_text=True)
    assert "等待毕业生确认" in page and f'data-instance="{old}"' in page and f'data-instance="{new}"' not in page
    assert admin.get(f"/designer/versions/{v2['id']}/file").get_data(as_text=True) == probe_bpmn(
        pid, label="请毕业生尽快确认")

    diff = admin.get(f"/designer/diff?from={v1['id']}&to={v2['id']}").get_data(as_text=True)
    changed = diff.split('id="diff-changed"', 1)[1].split("</ul>", 1)[0]
    assert 'data-element="confirm"' in changed and "statusLabel: 等待毕业生确认 → 请毕业生尽快确认" in changed
    assert 'data-changed="confirm"' in diff


def test_a_deploy_from_the_page_and_from_files_agree_on_the_content_hash(runtime, world, client_for, tmp_path):
    from engine.specs import SpecRegistry

    pid = new_pid()
    (tmp_path / f"{pid}.bpmn").write_text(probe_bpmn(pid), encoding="utf-8")
    with runtime.Session() as s:
        # the directories `gradflow processes deploy` reads, plus a folder holding the designer's file
        [from_files] = SpecRegistry([*runtime.registry.directories, tmp_path]).deploy(s)
        s.commit()
        digest = from_files.content_hash
    resp = deploy(client_for("admin"), pid)
    assert resp.status_code == 200 and resp.get_json()["versions"] == []  # already there: the same hash
    with runtime.Session() as s:
        assert s.scalars(select(ProcessVersion.content_hash).where(ProcessVersion.process_id == pid)).all() == [digest]


def test_the_library_counts_instances_per_version_in_the_database(runtime, world, client_for, actor):
    admin = client_for("admin")
    pid = new_pid()
    [v1] = deploy(admin, pid).get_json()["versions"]
    ids = [start(runtime, actor, pid) for _ in range(3)]
    with runtime.Session() as s:
        runtime.runner.terminate(s, s.get(ProcessInstance, ids[0]), actor("admin"), reason="测试")
        s.commit()
    page = admin.get("/designer/").get_data(as_text=True)
    row = page.split(f'id="version-{v1["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-count="running">2<' in row and 'data-count="terminated">1<' in row


def test_a_broken_file_is_refused_from_the_page_with_the_element_ids(world, client_for, runtime):
    admin = client_for("admin")
    pid = new_pid()
    xml = probe_bpmn(pid, lane=False, handler="test.nowhere", timer="'P1X'")
    for url in ("/designer/validate", "/designer/deploy"):
        resp = admin.post(url, json={"name": f"{pid}.bpmn", "xml": xml})
        body = resp.get_json()
        assert body["ok"] is False
        failed = {(p["element_id"], p["file"]) for p in body["problems"] if not p["warning"]}
        assert {("confirm", f"{pid}.bpmn"), ("record", f"{pid}.bpmn"), ("timeout", f"{pid}.bpmn")} <= failed
    assert resp.status_code == 422
    with runtime.Session() as s:
        assert s.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == pid)) is None  # not deployed


def test_the_good_probe_validates_clean(world, client_for):
    resp = client_for("admin").post("/designer/validate", json={"name": "designer_probe_ok.bpmn",
                                                                 "xml": probe_bpmn("designer_probe_ok")})
    assert resp.get_json() == {"ok": True, "problems": []}


@pytest.mark.parametrize("xml, words", [
    ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>', "DOCTYPE"),
    ("<bpmn:definitions", "XML"),
])
def test_uploaded_xml_with_entities_or_broken_is_refused(world, client_for, xml, words):
    body = client_for("admin").post("/designer/validate", json={"name": "x.bpmn", "xml": xml}).get_json()
    assert body["ok"] is False and words in body["problems"][0]["message"]
    assert "root:" not in str(body)  # no entity was expanded


def test_a_file_name_outside_the_pattern_is_refused(world, client_for):
    body = client_for("admin").post("/designer/validate", json={"name": "../x.bpmn", "xml": probe_bpmn("p")}).get_json()
    assert body["ok"] is False and "文件名" in body["problems"][0]["message"]


def test_a_script_outside_the_sandbox_shape_is_refused_before_deploy(world, client_for):
    pid = new_pid()
    xml = probe_bpmn(pid).replace(
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm" />',
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="confirm"><bpmn:conditionExpression>'
        '[x for x in range(10**9)]</bpmn:conditionExpression></bpmn:sequenceFlow>')
    body = client_for("admin").post("/designer/deploy", json={"name": f"{pid}.bpmn", "xml": xml}).get_json()
    assert body["ok"] is False and any(p["element_id"] == "f1" for p in body["problems"])


def test_the_upload_form_validates_then_deploys(runtime, world, client_for):
    import io

    admin = client_for("admin")
    pid = new_pid()
    resp = admin.post("/designer/upload", data={"bpmn": (io.BytesIO(probe_bpmn(pid, lane=False).encode()),
                                                         f"{pid}.bpmn")}, follow_redirects=True)
    assert "[confirm]" in resp.get_data(as_text=True)
    resp = admin.post("/designer/upload", data={"bpmn": (io.BytesIO(probe_bpmn(pid).encode()), f"{pid}.bpmn")},
                      follow_redirects=True)
    assert f"{pid} #" in resp.get_data(as_text=True)
    with runtime.Session() as s:
        assert s.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == pid)) is not None


@pytest.mark.parametrize("who", ["school", "dept_info"])
def test_the_designer_is_for_admins_only(world, client_for, who):
    client = client_for(who)
    for url in ("/designer/", "/designer/versions/1", "/designer/versions/1/file"):
        assert client.get(url).status_code == 404, url  # Forbidden answers 404: nothing to learn
    assert client.post("/designer/deploy", json={"name": "p.bpmn", "xml": probe_bpmn("p")}).status_code == 404


def test_save_and_deploy_need_the_csrf_token(runtime, world):
    from domain.seed import DEMO_PASSWORD
    from webapp import create_app

    app = create_app(runtime, TESTING=True)  # CSRF on, as in production
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = login.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0] if \
        'name="csrf_token" type="hidden" value="' in login else login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token})
    page = client.get("/designer/").get_data(as_text=True)
    assert "流程库" in page
    xml = probe_bpmn("designer_probe_csrf")
    for url in ("/designer/validate", "/designer/deploy"):
        assert client.post(url, json={"name": "designer_probe_csrf.bpmn", "xml": xml}).status_code == 400
    fresh = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    ok = client.post("/designer/validate", json={"name": "designer_probe_csrf.bpmn", "xml": xml},
                     headers={"X-CSRFToken": fresh})
    assert ok.status_code == 200 and ok.get_json()["ok"] is True
