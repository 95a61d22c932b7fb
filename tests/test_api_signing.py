"""The agreement API under /api/v1: registration, invitations, answers, the e-agreement PDF,
terminations, offline signing and paper registration — each read like the guide, through HTTP."""
from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess

from sqlalchemy import func, select

from domain import blobs
from domain.models import Agreement, AgreementDocument, AssistLink, Attachment, Employer, Termination
from engine.models import OutboxMessage, ProcessInstance, WorkItem
from tests.conftest import OFFLINE, TERMS, png_bytes

INVITE = {k: v for k, v in TERMS.items() if k != "job_category_name"} | {"answer_days": 7,
                                                                          "report_deadline": "2026-07-15"}
OFFLINE_BODY = {k: v for k, v in OFFLINE.items() if k not in {"job_category_name", "nature_name", "industry_name"}}
REASON = {"reason": "other_offer", "explanation": "双方协商一致"}


def token(client, username):
    resp = client.post("/api/v1/token", json={"username": username, "password": "demo1234"})
    assert resp.status_code == 200, resp.json
    return {"Authorization": "Bearer " + resp.json["token"]}


def upload(client, headers, n=1):
    files = [(io.BytesIO(png_bytes((40 * i, 90, 9))), f"p{i}.png") for i in range(n)]
    resp = client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                       data={"file": files})
    assert resp.status_code == 201, resp.json
    return [a["id"] for a in resp.json["attachments"]]


def graduate_of(runtime, username):
    from domain.accounts import current_graduate
    from domain.models import Account

    with runtime.Session() as s:
        grad = current_graduate(s, s.scalar(select(Account).where(Account.username == username)))
        s.expunge(grad)
        return grad


def open_item(client, headers, form_key):
    items = [i for i in client.get("/api/v1/work-items", headers=headers).json["items"] if i["form_key"] == form_key]
    assert len(items) == 1, items
    return items[0]


def review_all(client, instance_id, *headers, decision="approve", reason=""):
    resp = None
    for who in headers:
        item = [i for i in client.get("/api/v1/work-items", headers=who).json["items"]
                if i["instance_id"] == instance_id][0]
        resp = client.post(f"/api/v1/work-items/{item['id']}/complete", headers=who,
                           json={"decision": decision, "reason": reason})
        assert resp.status_code == 200, resp.json
    return resp.json


def counts(runtime):
    from domain.models import Account

    with runtime.Session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in
                     (ProcessInstance, WorkItem, Agreement, Termination, Attachment, Employer, Account, AssistLink))


def invite_body(grad):
    """An invitation names the graduate the way the lookup does (name + 身份证号), never by a bare id."""
    return {**INVITE, "name": grad.name, "id_number": grad.id_number}


def signed_online(client, runtime, g, hr, dept, school, grad):
    inst = client.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    resp = client.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": "accept"})
    assert resp.status_code == 200, resp.json
    final = review_all(client, inst["id"], dept, school)
    assert final["status_label"] == "签约审核通过"
    return final["agreement"]


# -- registration and lookup -------------------------------------------------------------
def test_employer_registers_and_bad_credit_codes_are_refused(app, runtime, world):
    # rules DICT-3, ONL-1, ROLE-1
    from domain.seed import credit_code

    c = app.test_client()
    body = {"employer_name": "厦门鹭岛软件有限公司", "credit_code": credit_code(8801), "nature": "56", "industry": "I",
            "division_code": "350203", "employer_address": "厦门市思明区软件园", "contact": "黄经理",
            "mobile": "13900001111", "username": "ludao_hr", "password": "secret-123"}
    before = counts(runtime)
    wrong_check = "1" if body["credit_code"][-1] == "0" else "0"
    bad = c.post("/api/v1/employers", json={**body, "credit_code": body["credit_code"][:-1] + wrong_check})
    assert bad.status_code == 422
    assert bad.json["error"]["message"] == "统一社会信用代码：统一社会信用代码校验位不正确"
    assert "credit_code" in bad.json["error"]["details"]
    short = c.post("/api/v1/employers", json={**body, "password": "short"})
    assert short.status_code == 422 and "密码至少8位" in short.json["error"]["message"]
    assert counts(runtime) == before  # nothing half-saved

    from tests.test_employer_verification import last_code

    def register(data):  # issue 12: a code to the contact first, the account after it is entered
        sent = c.post("/api/v1/employers", json=data)  # public: no token, no session
        assert sent.status_code == 202, sent.json
        return c.post("/api/v1/employers/verify", json={"token": sent.json["registration"]["token"],
                                                        "code": last_code(runtime, to=data["mobile"])})

    resp = register(body)
    assert resp.status_code == 201, resp.json
    assert resp.json["employer"]["credit_code"] == body["credit_code"] and resp.json["username"] == "ludao_hr"
    hr = {"Authorization": "Bearer " + c.post("/api/v1/token", json={"username": "ludao_hr",
                                                                    "password": "secret-123"}).json["token"]}
    assert c.get("/api/v1/me", headers=hr).json["role"] == "employer"
    again = register({**body, "username": "other_name"})
    assert again.status_code == 409 and "已被其他账号注册" in again.json["error"]["message"]
    taken = register({**body, "credit_code": credit_code(8802)})
    assert taken.status_code == 409 and "登录名已被使用" in taken.json["error"]["message"]


def test_employer_email_is_checked_not_crashed(app, runtime, world):
    # rules DICT-3, OFF-1
    from domain.seed import credit_code

    c = app.test_client()
    body = {"employer_name": "厦门鹭岛软件有限公司", "credit_code": credit_code(8803), "nature": "56", "industry": "I",
            "division_code": "350203", "employer_address": "厦门市思明区软件园", "contact": "黄经理",
            "mobile": "13900001111", "username": "ludao_mail", "password": "secret-123"}
    bad = c.post("/api/v1/employers", json={**body, "email": "not-an-email"})
    assert bad.status_code == 422 and "电子邮箱格式不正确" in bad.json["error"]["message"]
    assert c.post("/api/v1/employers", json={**body, "email": "hr@ludao.example.com"}).status_code == 202


def test_lookup_finds_exactly_one_graduate_and_only_for_employers(app, runtime, world, make_graduate, make_employer):
    # rules ONL-1, ROLE-1
    grad = make_graduate("g1", name="林小雨")
    make_graduate("g2", name="林小雨")  # same name, another person: never a list
    make_employer("hr")
    c = app.test_client()
    hr, g = token(c, "hr"), token(c, "g1")
    resp = c.post("/api/v1/graduates/lookup", headers=hr, json={"name": "林小雨", "id_number": grad.id_number})
    assert resp.status_code == 200
    assert resp.json == {"graduate": {"id": grad.id, "name": "林小雨", "school": "厦门大学",
                                      "major": "计算机科学与技术", "education": "本科"}}
    by_exam = c.post("/api/v1/graduates/lookup", headers=hr, json={"name": "林小雨", "exam_no": grad.exam_no})
    assert by_exam.json["graduate"]["id"] == grad.id
    wrong = c.post("/api/v1/graduates/lookup", headers=hr, json={"name": "林小雨", "exam_no": "26000000000000"})
    assert wrong.status_code == 404 and wrong.json["error"]["message"] == "未找到该毕业生"
    name_only = c.post("/api/v1/graduates/lookup", headers=hr, json={"name": "林小雨"})
    assert name_only.status_code == 422 and "身份证号或考生号" in name_only.json["error"]["message"]
    assert c.post("/api/v1/graduates/lookup", headers=g,
                  json={"name": "林小雨", "id_number": grad.id_number}).status_code == 404


# -- online signing (ONL) ------------------------------------------------------------------
def test_online_signing_through_the_api_ends_with_the_pdf(app, runtime, world, make_graduate, make_employer):
    # rules ONL-1, ONL-2, ONL-5, ONL-6, AGR-1, DOC-1, ROLE-1, NOTE-1
    grad = make_graduate("g1", name="林小雨")
    make_employer("hr", name="厦门星海科技有限公司")
    make_employer("hr2", name="泉州某制造公司")
    c = app.test_client()
    g, hr, hr2 = token(c, "g1"), token(c, "hr"), token(c, "hr2")
    dept, econ, school = token(c, "dept_info"), token(c, "dept_econ"), token(c, "school")
    found = c.post("/api/v1/graduates/lookup", headers=hr, json={"name": "林小雨", "id_number": grad.id_number}).json
    assert found["graduate"]["id"] == grad.id
    resp = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad))
    assert resp.status_code == 201, resp.json
    inst = resp.json
    assert inst["status_label"] == "单位发起邀请 等待应约" and inst["process_id"] == "online_signing"
    agreement_id = inst["agreement"]["id"]
    assert inst["agreement"]["status"] == "invited" and inst["agreement"]["fields"]["position"] == "软件工程师"
    # ONL-5: while it is open the same employer cannot invite again
    again = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad))
    assert again.status_code == 409 and "不能重复邀请" in again.json["error"]["message"]

    item = open_item(c, g, "invitation_answer")
    detail = c.get(f"/api/v1/work-items/{item['id']}", headers=g).json
    answer_field = [f for f in detail["fields"] if f["name"] == "answer"][0]
    assert {ch["value"] for ch in answer_field["choices"]} == {"accept", "refuse"}
    assert detail["data"]["invitation"]["position"] == "软件工程师" and detail["data"]["answer_deadline"]
    assert any("新的签约邀请" in m["title"] for m in c.get("/api/v1/messages", headers=g).json["messages"])
    resp = c.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": "accept"})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    early = c.get(f"/api/v1/agreements/{agreement_id}/pdf", headers=g)
    assert early.status_code == 409 and "审核通过后" in early.json["error"]["message"]
    review_all(c, inst["id"], dept, school)

    mine = c.get("/api/v1/agreements", headers=g).json
    assert mine["total"] == 1 and mine["agreements"][0]["status"] == "signed"
    a = c.get(f"/api/v1/agreements/{agreement_id}", headers=g).json
    assert a["status_label"] == "签约审核通过" and a["kind"] == "online" and a["instance_id"] == inst["id"]
    assert len(a["agreement_no"]) == 19 and a["agreement_no"].isdigit() and a["agreement_no"][4:6] == "35"
    assert a["fields"]["salary_regular"] == 12000 and a["terminations"] == [] and a["pdf_available"] is True
    assert c.get("/api/v1/agreements", headers=hr).json["agreements"][0]["id"] == agreement_id
    assert c.get("/api/v1/agreements", headers=school).json["total"] == 1

    pdf = c.get(f"/api/v1/agreements/{agreement_id}/pdf", headers=g)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and pdf.data.rstrip().endswith(b"%%EOF")  # the PDF and nothing else
    with runtime.Session() as s:
        docs = list(s.scalars(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement_id)))
        assert len(docs) == 1 and blobs.read(s, docs[0].storage_key) == pdf.data
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.data, capture_output=True,
                              check=True).stdout.decode()
        for expected in ("林小雨", "厦门星海科技有限公司", "软件工程师", a["agreement_no"]):
            assert expected in text, expected
    assert c.get(f"/api/v1/agreements/{agreement_id}/pdf", headers=hr).data == pdf.data  # cached, same bytes
    # ROLE-1: another employer and another 院系 get the answer a missing agreement gets
    missing = c.get("/api/v1/agreements/999999", headers=hr2)
    for who in (hr2, econ):
        for url in (f"/api/v1/agreements/{agreement_id}", f"/api/v1/agreements/{agreement_id}/pdf"):
            resp = c.get(url, headers=who)
            assert resp.status_code == 404 and resp.json == missing.json, url
    assert c.get("/api/v1/agreements", headers=hr2).json["agreements"] == []
    assert c.get("/api/v1/agreements", headers=econ).json["agreements"] == []


def test_pdf_is_queued_in_production_mode(app, runtime, world, make_graduate, make_employer, monkeypatch):
    # rule DOC-1
    grad = make_graduate("g1")
    make_employer("hr")
    c = app.test_client()
    g, hr, dept, school = token(c, "g1"), token(c, "hr"), token(c, "dept_info"), token(c, "school")
    a = signed_online(c, runtime, g, hr, dept, school, grad)
    queued = []
    monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, celery_eager=False))
    monkeypatch.setattr(runtime, "enqueue", lambda name, *args: queued.append((name, *args)))
    resp = c.get(f"/api/v1/agreements/{a['id']}/pdf", headers=g)
    assert resp.status_code == 202 and resp.json == {"message": "正在生成，请稍后重试"}
    assert queued == [("gradflow.render_agreement", a["id"])]
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AgreementDocument)) == 0


def test_one_agreement_only_and_answers_need_an_open_answer_item(app, runtime, world, make_graduate, make_employer):
    # rules ONL-3, ONL-4, ONL-2, ROLE-1
    grad = make_graduate("g1")
    make_graduate("g2")
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    c = app.test_client()
    g, g2, hr, hr2 = token(c, "g1"), token(c, "g2"), token(c, "hr"), token(c, "hr2")
    first = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    second = c.post("/api/v1/invitations", headers=hr2, json=invite_body(grad)).json  # ONL-4
    assert second["status_label"] == "单位发起邀请 等待应约"
    before = counts(runtime)
    odd = c.post(f"/api/v1/instances/{first['id']}/answer", headers=g, json={"answer": "maybe"})
    assert odd.status_code == 422 and odd.json["error"]["message"].startswith("回应：")
    assert c.post(f"/api/v1/instances/{first['id']}/answer", headers=g, json={}).status_code == 422
    # the inviting employer cannot answer its own invitation; another graduate cannot see it
    own = c.post(f"/api/v1/instances/{first['id']}/answer", headers=hr, json={"answer": "accept"})
    assert own.status_code == 409
    assert c.post(f"/api/v1/instances/{first['id']}/answer", headers=g2, json={"answer": "accept"}).status_code == 404
    assert counts(runtime) == before
    ok = c.post(f"/api/v1/instances/{first['id']}/answer", headers=g, json={"answer": "accept"})
    assert ok.status_code == 200
    # ONL-3: the second invitation is view-only now
    refused = c.post(f"/api/v1/instances/{second['id']}/answer", headers=g, json={"answer": "accept"})
    assert refused.status_code == 409 and "只能查看" in refused.json["error"]["message"]
    assert c.get(f"/api/v1/instances/{second['id']}", headers=g).json["status_label"] == "单位发起邀请 等待应约"
    # answering an instance that has no open answer item
    twice = c.post(f"/api/v1/instances/{first['id']}/answer", headers=g, json={"answer": "accept"})
    assert twice.status_code == 409
    filing = c.post("/api/v1/processes/destination_filing/instances", headers=g2, json={"dest_type": "job_seeking"})
    assert c.post(f"/api/v1/instances/{filing.json['id']}/answer", headers=g2,
                  json={"answer": "accept"}).status_code == 409
    # ONL-3: view-only means no refusal either, through any route, as on the page
    item = open_item(c, g, "invitation_answer")
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=g, json={"answer": "refuse"})
    assert resp.status_code == 409 and "只能查看" in resp.json["error"]["message"]
    resp = c.post(f"/api/v1/instances/{second['id']}/answer", headers=g, json={"answer": "refuse"})
    assert resp.status_code == 409 and "只能查看" in resp.json["error"]["message"]
    shown = c.get(f"/api/v1/instances/{second['id']}", headers=g).json
    assert shown["status_label"] == "单位发起邀请 等待应约" and shown["agreement"]["status"] == "invited"


def test_an_effective_destination_makes_invitations_view_only(app, runtime, world, make_graduate, make_employer):
    # rules ONL-3, DST-4: a graduate whose destination is effective can neither accept nor refuse an invitation
    # (the API's check and the accept handler's own check each read both questions in one statement)
    import pytest

    from core.errors import Conflict
    from domain.models import EffectiveDestination
    from processes.agreements import rules

    grad = make_graduate("g1")
    make_employer("hr")
    c = app.test_client()
    g, hr = token(c, "g1"), token(c, "hr")
    inst = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    with runtime.Session() as s:
        s.add(EffectiveDestination(graduate_id=grad.id, kind="destination", record_id=1))
        s.commit()
    for answer in ("accept", "refuse"):
        resp = c.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": answer})
        assert resp.status_code == 409 and resp.json["error"]["message"] == "你已有生效的毕业去向，如需签约请先作废该去向。"
    with runtime.Session() as s:
        agreement = s.scalar(select(Agreement).where(Agreement.instance_id == inst["id"]))
        with pytest.raises(Conflict, match="请先作废该去向后再签约"):
            rules.claim_agreement(s, agreement)
        s.rollback()
        s.delete(s.get(EffectiveDestination, grad.id))
        s.commit()
    ok = c.post(f"/api/v1/instances/{inst['id']}/answer", headers=g, json={"answer": "accept"})
    assert ok.status_code == 200 and ok.json["agreement"]["status"] == "accepted"
    with runtime.Session() as s:
        assert s.scalar(select(Agreement.active_key).where(Agreement.instance_id == inst["id"])) == grad.id


def test_the_view_only_check_answers_the_claim_only_in_its_own_transaction(app, runtime, world, make_graduate,
                                                                          make_employer):
    # rules ONL-3: the API's view-only check lets the accept handler skip asking again (issue 11), but only in the
    # same transaction and for the same agreement: a later transaction, or another agreement, asks afresh
    import pytest

    from core.errors import Conflict
    from domain.models import EffectiveDestination
    from processes.agreements import rules, services

    grad = make_graduate("g1")
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    c = app.test_client()
    g, hr, hr2 = token(c, "g1"), token(c, "hr"), token(c, "hr2")
    first = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    second = c.post("/api/v1/invitations", headers=hr2, json=invite_body(grad)).json
    with runtime.Session() as s:
        one = s.scalar(select(Agreement).where(Agreement.instance_id == first["id"]))
        other = s.scalar(select(Agreement).where(Agreement.instance_id == second["id"]))
        assert services.view_only_reason(s, s.get(ProcessInstance, first["id"])) is None  # free: noted
        s.commit()  # the note ends with its transaction
        s.add(EffectiveDestination(graduate_id=grad.id, kind="destination", record_id=1))
        s.flush()
        with pytest.raises(Conflict, match="请先作废该去向后再签约"):
            rules.claim_agreement(s, one)
        s.rollback()
        assert services.view_only_reason(s, s.get(ProcessInstance, first["id"])) is None
        s.add(EffectiveDestination(graduate_id=grad.id, kind="destination", record_id=1))
        s.flush()
        with pytest.raises(Conflict, match="请先作废该去向后再签约"):  # noted for `one`, not for `other`
            rules.claim_agreement(s, other)
        s.rollback()
    ok = c.post(f"/api/v1/instances/{first['id']}/answer", headers=g, json={"answer": "accept"})
    assert ok.status_code == 200 and ok.json["agreement"]["status"] == "accepted"
    refused = c.post(f"/api/v1/instances/{second['id']}/answer", headers=g, json={"answer": "accept"})
    assert refused.status_code == 409 and "只能查看" in refused.json["error"]["message"]


def test_bad_invitations_change_nothing(app, runtime, world, make_graduate, make_employer):
    # rules ONL-1, GRAD-6, ROLE-1
    grad = make_graduate("g1")
    directed = make_graduate("d1", training_mode="定向", directed_unit="某单位")
    make_employer("hr")
    c = app.test_client()
    hr, g = token(c, "hr"), token(c, "g1")
    before = counts(runtime)
    assert c.post("/api/v1/invitations", headers=hr, json=INVITE).status_code == 422  # nobody named
    resp = c.post("/api/v1/invitations", headers=hr, json={**invite_body(grad), "answer_days": 60})
    assert resp.status_code == 422 and "应约有效期为1至30天" in resp.json["error"]["message"]
    resp = c.post("/api/v1/invitations", headers=hr, json={**invite_body(grad), "supplement": "长" * 1001})
    assert resp.status_code == 422 and "supplement" in resp.json["error"]["details"]
    assert c.post("/api/v1/invitations", headers=hr,
                  json={**INVITE, "name": "查无此人", "id_number": grad.id_number}).status_code == 404
    # a bare graduate id is not enough: it would let an employer probe ids across schools
    assert c.post("/api/v1/invitations", headers=hr, json={**INVITE, "graduate_id": grad.id}).status_code == 422
    resp = c.post("/api/v1/invitations", headers=hr, json=invite_body(directed))
    assert resp.status_code == 409 and "定向/委培" in resp.json["error"]["message"]
    assert c.post("/api/v1/invitations", headers=g, json=invite_body(grad)).status_code == 404  # not an employer
    resp = c.post("/api/v1/invitations", headers={**hr, "Content-Type": "application/json"}, data="not json")
    assert resp.status_code == 400
    assert counts(runtime) == before


# -- online termination (TRM) ----------------------------------------------------------------
def test_online_termination_both_ways(app, runtime, world, make_graduate, make_employer):
    # rules TRM-1, TRM-2, TRM-3, TRM-4, NOTE-1
    grad = make_graduate("g1")
    make_employer("hr")
    c = app.test_client()
    g, hr, dept, school = token(c, "g1"), token(c, "hr"), token(c, "dept_info"), token(c, "school")
    a = signed_online(c, runtime, g, hr, dept, school, grad)
    url = f"/api/v1/agreements/{a['id']}/terminations"
    bad = c.post(url, headers=g, json={"reason": "no_such_reason", "explanation": "x"})
    assert bad.status_code == 422 and "reason" in bad.json["error"]["details"]
    assert c.post(url, headers=g, json={**REASON, "explanation": "长" * 201}).status_code == 422
    assert c.post(url, headers=dept, json=REASON).status_code == 404  # reviewers do not start terminations

    # the graduate starts; it cannot answer its own request; the employer refuses (TRM-2)
    resp = c.post(url, headers=g, json=REASON)
    assert resp.status_code == 201 and resp.json["status_label"] == "等待用人单位回应"
    term = resp.json
    assert term["termination"]["agreement_id"] == a["id"] and term["termination"]["initiator"] == "graduate"
    conflict = c.post(url, headers=hr, json=REASON)  # TRM-4: one at a time
    assert conflict.status_code == 409 and "正在办理" in conflict.json["error"]["message"]
    assert c.post(f"/api/v1/instances/{term['id']}/answer", headers=g, json={"answer": "accept"}).status_code == 409
    resp = c.post(f"/api/v1/instances/{term['id']}/answer", headers=hr, json={"answer": "refuse"})
    assert resp.status_code == 200 and resp.json["status_label"] == "对方拒绝解约 解约失败"
    assert c.get(f"/api/v1/agreements/{a['id']}", headers=g).json["status"] == "signed"

    # the employer starts; the graduate is told and accepts through its work item; two approvals
    resp = c.post(url, headers=hr, json=REASON)
    assert resp.status_code == 201 and resp.json["status_label"] == "等待毕业生回应"
    assert any("用人单位发起解约申请" in m["title"] for m in c.get("/api/v1/messages", headers=g).json["messages"])
    item = open_item(c, g, "termination_answer")
    detail = c.get(f"/api/v1/work-items/{item['id']}", headers=g).json
    assert detail["data"]["termination"]["explanation"] == "双方协商一致" and detail["data"]["initiator"] == "employer"
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=g, json={"answer": "accept"})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    final = review_all(c, resp.json["id"], dept, school)
    assert final["status_label"] == "解约审核通过" and final["termination"]["status"] == "approved"
    after = c.get(f"/api/v1/agreements/{a['id']}", headers=hr).json
    assert after["status"] == "terminated" and after["status_label"] == "已解约"
    assert [t["status"] for t in after["terminations"]] == ["approved", "refused"]
    assert after["terminations"][0]["reason_name"] == "毕业生另有就业选择"
    # TRM-3: the graduate may file another destination now
    assert c.post("/api/v1/processes/destination_filing/instances", headers=g,
                  json={"dest_type": "job_seeking"}).status_code == 201


def test_termination_of_an_unsigned_agreement_is_refused(app, runtime, world, make_graduate, make_employer):
    # rules TRM-1, ROLE-1
    grad = make_graduate("g1")
    make_graduate("g2")
    make_employer("hr")
    make_employer("hr2", name="别家公司")
    c = app.test_client()
    g, hr = token(c, "g1"), token(c, "hr")
    inst = c.post("/api/v1/invitations", headers=hr, json=invite_body(grad)).json
    url = f"/api/v1/agreements/{inst['agreement']['id']}/terminations"
    before = counts(runtime)
    for who in (g, hr):
        resp = c.post(url, headers=who, json=REASON)
        assert resp.status_code == 409 and "已生效" in resp.json["error"]["message"]
    for stranger in ("g2", "hr2"):
        assert c.post(url, headers=token(c, stranger), json=REASON).status_code == 404
    assert counts(runtime) == before


# -- offline signing (OFF), stamped upload, assist link, offline termination (OFT) ---------------
def test_offline_draft_submit_review_stamped_upload_and_offline_termination(app, runtime, world, make_graduate):
    # rules OFF-1, OFF-2, OFF-3, OFF-4, OFT-1, OFT-2, AGR-1, IMG-1, DOC-1
    grad = make_graduate("g1")
    make_graduate("g2")
    c = app.test_client()
    g, g2, dept, school = token(c, "g1"), token(c, "g2"), token(c, "dept_info"), token(c, "school")
    start = "/api/v1/processes/offline_signing/instances"
    before = counts(runtime)
    bad = c.post(start, headers=g, json={"employer_name": "福州海峡贸易有限公司", "credit_code": "91350200MA0000001X",
                                         "draft": True})
    assert bad.status_code == 422 and "统一社会信用代码" in bad.json["error"]["message"]  # a given value must be valid
    assert c.post(start, headers=g, json={**OFFLINE_BODY, "draft": "yes"}).status_code == 422
    incomplete = c.post(start, headers=g, json={"employer_name": "福州海峡贸易有限公司"})
    assert incomplete.status_code == 422  # submitting needs every required field
    assert counts(runtime) == before

    # OFF-1: a partial draft, then a fuller draft, then submit through the work item
    resp = c.post(start, headers=g, json={"employer_name": "福州海峡贸易有限公司", "draft": True})
    assert resp.status_code == 201 and resp.json["status_label"] == "协议信息待提交"
    inst_id = resp.json["id"]
    resp = c.post(f"/api/v1/instances/{inst_id}/offline-draft", headers=g, json={**OFFLINE_BODY, "position": "草稿"})
    assert resp.status_code == 200
    assert c.post(f"/api/v1/instances/{inst_id}/offline-draft", headers=g2, json=OFFLINE_BODY).status_code == 404
    item = open_item(c, g, "offline_agreement")
    detail = c.get(f"/api/v1/work-items/{item['id']}", headers=g).json
    assert detail["data"]["draft"]["fields"]["position"] == "草稿"
    names = {f["name"]: f for f in detail["fields"]}
    assert names["credit_code"]["required"] and names["position"]["max_length"] == 50
    assert {"value": "F", "label": "批发和零售业"} in names["industry"]["choices"]
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=g, json=OFFLINE_BODY)
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    agreement_id = resp.json["agreement"]["id"]
    assert resp.json["agreement"]["employer"]["name"] == "福州海峡贸易有限公司"
    assert review_all(c, inst_id, dept, school)["status_label"] == "就业协议审核通过"
    pdf = c.get(f"/api/v1/agreements/{agreement_id}/pdf", headers=g)  # OFF-2: downloadable once approved
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")

    # OFF-3: the assist link for the employer
    link = c.post(f"/api/v1/instances/{inst_id}/assist-link", headers=g)
    assert link.status_code == 201 and link.json["url"].startswith("/assist/") and link.json["expires_at"]
    with runtime.Session() as s:
        sms = [o.payload for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notify.sms"))]
        assert any(link.json["url"] in p["body"] and p["to"] == OFFLINE["mobile"] for p in sms)
    assert c.post(f"/api/v1/instances/{inst_id}/assist-link", headers=g2).status_code == 404

    # OFF-3 本人回传: bad uploads change nothing
    item = open_item(c, g, "stamped_upload")
    complete = f"/api/v1/work-items/{item['id']}/complete"
    before = counts(runtime)
    assert c.post(complete, headers=g, json={"attachment_ids": []}).status_code == 422
    assert c.post(complete, headers=g, json={"attachment_ids": ["abc"]}).status_code == 422
    others = upload(c, g2)
    resp = c.post(complete, headers=g, json={"attachment_ids": others})
    assert resp.status_code == 422 and "不属于你" in resp.json["error"]["message"]
    four = upload(c, g, 3) + upload(c, g, 1)
    assert c.post(complete, headers=g, json={"attachment_ids": four}).status_code == 422  # IMG-1: at most 3
    assert counts(runtime)[:4] == before[:4]
    resp = c.post(complete, headers=g, json={"attachment_ids": four[:2]})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    final = review_all(c, inst_id, dept, school)
    assert final["status_label"] == "签约审核通过"
    a = c.get(f"/api/v1/agreements/{agreement_id}", headers=g).json
    assert a["status"] == "signed" and a["kind"] == "offline" and len(a["agreement_no"]) == 19
    assert a["attachment_ids"] == four[:2]

    # OFT-1: the online route is refused; the letter is required; return, resubmit, approve (OFT-2)
    url = f"/api/v1/agreements/{agreement_id}/terminations"
    assert c.post(url, headers=g, json=REASON).status_code == 422  # no letter
    letter = upload(c, g)
    resp = c.post(url, headers=g, json={**REASON, "attachment_ids": letter})
    assert resp.status_code == 201 and resp.json["status_label"] == "等待院系审核"
    term_id = resp.json["id"]
    assert resp.json["termination"]["kind"] == "offline"
    assert c.post(url, headers=g, json={**REASON, "attachment_ids": letter}).status_code == 409  # TRM-4
    review_all(c, term_id, dept, decision="return", reason="请上传单位盖章的解约函")
    item = open_item(c, g, "termination_letter")
    fields = {f["name"] for f in c.get(f"/api/v1/work-items/{item['id']}", headers=g).json["fields"]}
    assert fields == {"reason", "explanation", "attachment_ids"}
    letter2 = upload(c, g)
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=g,
                  json={**REASON, "explanation": "单位已盖章", "attachment_ids": letter2})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    assert review_all(c, term_id, dept, school)["status_label"] == "解约审核通过"
    a = c.get(f"/api/v1/agreements/{agreement_id}", headers=g).json
    assert a["status"] == "terminated"
    assert a["terminations"][0]["attachment_ids"] == letter2 and a["terminations"][0]["explanation"] == "单位已盖章"
    assert grad.id == a["graduate"]["id"]


# -- paper registration (PAP) --------------------------------------------------------------------
def test_paper_registration_through_the_api(app, runtime, world, make_graduate):
    # rules PAP-1, PAP-2, REV-3, AGR-1, IMG-1
    make_graduate("g1")
    c = app.test_client()
    g, dept, school = token(c, "g1"), token(c, "dept_info"), token(c, "school")
    start = "/api/v1/processes/paper_registration/instances"
    processes = {p["id"]: p["form_key"] for p in c.get("/api/v1/processes", headers=g).json["processes"]}
    assert {"destination_filing": "destination", "offline_signing": "offline_agreement",
            "paper_registration": "paper_agreement"}.items() <= processes.items()  # and other modules' processes
    before = counts(runtime)
    resp = c.post(start, headers=g, json=OFFLINE_BODY)
    assert resp.status_code == 422 and "attachment_ids" in resp.json["error"]["details"]  # the stamped images
    pdf = c.post("/api/v1/attachments", headers=g, content_type="multipart/form-data",
                 data={"file": (io.BytesIO(b"%PDF-1.4 not an image"), "agreement.pdf")})
    assert pdf.status_code == 422 and "JPG或PNG" in pdf.json["error"]["message"]  # IMG-1
    assert counts(runtime) == before

    ids = upload(c, g, 2)
    resp = c.post(start, headers=g, json={**OFFLINE_BODY, "attachment_ids": ids})
    assert resp.status_code == 201 and resp.json["status_label"] == "等待院系审核"
    inst_id = resp.json["id"]
    assert resp.json["agreement"]["kind"] == "paper" and resp.json["agreement"]["attachment_ids"] == ids
    review_all(c, inst_id, dept, decision="return", reason="请补充第二页")
    item = open_item(c, g, "paper_agreement")
    fields = {f["name"]: f for f in c.get(f"/api/v1/work-items/{item['id']}", headers=g).json["fields"]}
    assert fields["attachment_ids"]["required"] and fields["attachment_ids"]["type"] == "array[int]"
    more = upload(c, g)
    resp = c.post(f"/api/v1/work-items/{item['id']}/complete", headers=g,
                  json={**OFFLINE_BODY, "position": "数据分析师", "attachment_ids": ids + more})
    assert resp.status_code == 200 and resp.json["status_label"] == "等待院系审核"
    final = review_all(c, inst_id, dept, school)
    assert final["status_label"] == "登记审核通过"
    a = final["agreement"]
    assert a["status"] == "signed" and len(a["agreement_no"]) == 19 and a["fields"]["position"] == "数据分析师"
    assert a["attachment_ids"] == ids + more
    # PAP-2: termination of a registered paper agreement goes through OFT
    letter = upload(c, g)
    resp = c.post(f"/api/v1/agreements/{a['id']}/terminations", headers=g, json={**REASON, "attachment_ids": letter})
    assert resp.status_code == 201 and resp.json["process_id"] == "offline_termination"
