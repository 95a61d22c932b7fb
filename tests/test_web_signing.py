"""Agreement pages, read like the guides: the employer portal, the graduate's signing pages,
the reviewers' pages, the e-agreement PDF and the employer's assist link (ONL, TRM, OFF, OFT, PAP)."""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from sqlalchemy import func, select

from domain.models import (
    AccessLog,
    Account,
    Agreement,
    AssistLink,
    Attachment,
    Employer,
    Graduate,
    Termination,
)
from domain.seed import DEMO_PASSWORD, credit_code
from engine.models import AuditEvent, ProcessInstance, WorkItem
from processes.agreements import services as signing
from processes.review import services as reviews
from tests.conftest import OFFLINE, TERMS, open_items, page_without_tokens, png_bytes, wait_past

TABLES = (Employer, Account, ProcessInstance, WorkItem, AuditEvent, Attachment, Agreement, Termination, AssistLink)


def counts(runtime):
    with runtime.Session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in TABLES)


def label(runtime, instance_id) -> str:
    with runtime.Session() as s:
        return s.get(ProcessInstance, instance_id).status_label


def agreement_of(runtime, instance_id) -> Agreement:
    with runtime.Session() as s:
        return s.scalar(select(Agreement).where(Agreement.instance_id == instance_id))


def form_data(fields: dict) -> dict:
    """A page post of agreement fields: what a browser sends (strings, no *_name helpers)."""
    return {k: ("" if v is None else str(v)) for k, v in fields.items() if not k.endswith("_name") or k == "employer_name"}


INVITATION = {**form_data(TERMS), "answer_days": "7", "report_deadline": "2026-07-15"}
REASON = {"term-reason": "other_offer", "term-explanation": "双方协商一致"}


def registration(username="hr_new", code=None, **kw) -> dict:
    data = {"employer_name": "厦门鹭岛软件有限公司", "credit_code": code or credit_code(777), "nature": "56",
            "industry": "I", "division_code": "350203", "employer_address": "厦门市思明区软件园二期",
            "contact": "王经理", "landline": "0592-7654321", "mobile": "13900001111", "email": "hr@ludao-soft.cn",

            "username": username, "password": "secret-pass-1"}
    data.update(kw)
    return data


def find(client, graduate, **kw):
    data = {"name": graduate.name, "id_number": graduate.id_number}
    data.update(kw)
    return client.post("/employer/find", data=data)


def invite_via_page(client, graduate, **extra) -> int:
    assert 'id="found-name"' in find(client, graduate).get_data(as_text=True)
    resp = client.post(f"/employer/invite/{graduate.id}", data={**INVITATION, **extra})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return int(re.search(r"/employer/instances/(\d+)", resp.headers["Location"]).group(1))


def review_via_pages(app_clients, instance_id: int, decision="approve", reason=""):
    """Department, then school: each opens its inbox, the review page, and decides."""
    for user in ("dept_info", "school"):
        client = app_clients(user)
        inbox = client.get("/review/inbox").get_data(as_text=True)
        item_id = int(re.search(r"/review/items/(\d+)", inbox).group(1))
        page = client.get(f"/review/items/{item_id}")
        assert page.status_code == 200
        resp = client.post(f"/review/items/{item_id}", data={"review-decision": decision, "review-reason": reason})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
        if decision != "approve":
            return


def signed_online_via_pages(runtime, client_for, grad, employer_user="hr") -> Agreement:
    hr = client_for(employer_user)
    inst = invite_via_page(hr, grad)
    g1 = client_for("g1")
    assert g1.post(f"/graduate/records/{inst}/answer", data={"answer": "accept"}).status_code == 302
    review_via_pages(client_for, inst)
    assert label(runtime, inst) == "签约审核通过"
    return agreement_of(runtime, inst)


def images(*blobs):
    return [(io.BytesIO(b), f"{i}.png") for i, b in enumerate(blobs)]


def huge_png() -> bytes:
    """10,000 × 10,000 pixels of a 1-bit image: a few KB of PNG, 100 million pixels once decoded."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def offline_submitted(runtime, step, actor, user="g1"):
    g = actor(user)
    return step(lambda s: signing.submit_offline(s, runtime.runner, g, s.get(Graduate, g.graduate_id), OFFLINE))


def approve(runtime, step, actor, instance_id):
    for user, role in (("dept_info", "Department"), ("school", "School")):
        a = actor(user)
        item = open_items(runtime, instance_id, role)[0]
        step(lambda s, a=a, item=item: reviews.review(s, runtime.runner, a, item.id, "approve", ""))


def awaiting_stamped(runtime, step, actor, user="g1"):
    inst = offline_submitted(runtime, step, actor, user)
    approve(runtime, step, actor, inst.id)
    assert label(runtime, inst.id) == "就业协议审核通过"
    return inst


# -- employer registration ------------------------------------------------------------------
def test_employer_registration_with_a_wrong_credit_code_is_refused_and_creates_nothing(app, runtime, world):
    # rules DICT-3, ONL-1
    client = app.test_client()
    page = client.get("/employer/register").get_data(as_text=True)
    assert "统一社会信用代码" in page and 'name="division_code"' in page and "福建省" in page
    assert 'id="employer-register"' in client.get("/login").get_data(as_text=True)  # linked from the login page
    good = credit_code(777)
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    before = counts(runtime)
    resp = client.post("/employer/register", data=registration(code=wrong))
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "统一社会信用代码校验位不正确" in text
    assert counts(runtime) == before
    # so are a malformed e-mail and a wrong 行政区划代码
    resp = client.post("/employer/register", data=registration(email="not-an-email"))
    assert resp.status_code == 422 and "电子邮箱格式不正确" in resp.get_data(as_text=True)
    resp = client.post("/employer/register", data=registration(division_code="359999"))
    assert resp.status_code == 422 and "行政区划代码不存在" in resp.get_data(as_text=True)
    assert counts(runtime) == before
    # the right code registers the employer (once its contact enters the code sent to it, issue 12),
    # logs it in and lands on its home
    resp = client.post("/employer/register", data=registration(code=good))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/employer/register/verify")
    from tests.test_employer_verification import last_code

    resp = client.post("/employer/register/verify", data={"code": last_code(runtime)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/employer")
    home = client.get("/employer").get_data(as_text=True)
    assert "厦门鹭岛软件有限公司" in home and good in home
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "hr_new"))
        assert account.role == "employer" and s.get(Employer, account.employer_id).division_code == "350203"
    # one registration per 统一社会信用代码
    after = counts(runtime)
    other = app.test_client()
    other.post("/employer/register", data=registration(username="hr_other", code=good))
    resp = other.post("/employer/register/verify", data={"code": last_code(runtime)})
    assert resp.status_code == 409 and "该统一社会信用代码已被其他账号注册" in resp.get_data(as_text=True)
    assert counts(runtime) == after
    # login sends an employer to its home
    resp = app.test_client().post("/login", data={"username": "hr_new", "password": "secret-pass-1"})
    assert resp.headers["Location"].endswith("/employer")


def test_division_picker_lists_children(app, world):
    # rule DICT-2
    client = app.test_client()
    provinces = client.get("/employer/divisions").json["items"]
    assert {"code": "350000", "name": "福建省"} in provinces
    cities = client.get("/employer/divisions?parent=350000").json["items"]
    assert {"code": "350200", "name": "厦门市"} in cities


# -- find a graduate ---------------------------------------------------------------------
def test_employer_finds_one_graduate_by_name_and_number_never_a_list(app, runtime, world, make_graduate,
                                                                     make_employer, client_for):
    # rules ONL-1, ROLE-1
    g1 = make_graduate("g1", name="林小雨")
    g2 = make_graduate("g2", name="林小雨")  # same name, another person
    make_employer("hr")
    hr = client_for("hr")
    text = find(hr, g1).get_data(as_text=True)
    assert 'id="found-name"' in text and "林小雨" in text and "厦门大学" in text
    assert f"/employer/invite/{g1.id}" in text and f"/employer/invite/{g2.id}" not in text
    assert g1.id_number not in text.replace(f'value="{g1.id_number}"', "")  # echoed in the field only
    by_exam = find(hr, g2, id_number="", exam_no=g2.exam_no).get_data(as_text=True)
    assert f"/employer/invite/{g2.id}" in by_exam and f"/employer/invite/{g1.id}" not in by_exam
    # a name with another graduate's number finds nothing, and says only that
    make_graduate("g3", name="陈大文")
    miss = find(hr, g1, name="陈大文").get_data(as_text=True)
    assert 'id="not-found"' in miss and "未找到" in miss and "/employer/invite/" not in miss
    assert "林小雨" not in miss.replace('value="林小雨"', "")
    # a number alone is not enough
    resp = find(hr, g1, id_number="", exam_no="")
    assert resp.status_code == 422 and "请填写身份证号或考生号" in resp.get_data(as_text=True)
    # the invite page only opens for a graduate this employer has found: never browse by id
    other = client_for("hr")  # a fresh session that found nobody
    assert other.get(f"/employer/invite/{g1.id}").status_code == 404
    assert hr.get(f"/employer/invite/{g1.id}").status_code == 200
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AccessLog)) >= 1


# -- the whole online signing through pages ----------------------------------------------------
def test_invite_accept_approve_and_both_parties_download_the_pdf(app, runtime, world, make_graduate, make_employer,
                                                                 client_for):
    # rules ONL-1, ONL-2, ONL-6, REV-1, DOC-1, AGR-1, NOTE-1
    grad = make_graduate("g1", name="林小雨")
    make_employer("hr", name="厦门星海科技有限公司")
    hr = client_for("hr")
    inst = invite_via_page(hr, grad)
    detail = hr.get(f"/employer/instances/{inst}").get_data(as_text=True)
    assert "单位发起邀请 等待应约" in detail and "软件工程师" in detail and "应约截止时间" in detail
    assert "单位发起邀请 等待应约" in hr.get("/employer").get_data(as_text=True)

    g1 = client_for("g1")
    home = g1.get("/graduate/destination").get_data(as_text=True)
    assert "签就业协议形式就业" in home and "线上签约" in home and "单位发起邀请 等待应约" in home
    assert "新的签约邀请" in g1.get("/messages").get_data(as_text=True)
    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert 'id="accept-invitation"' in record and 'id="refuse-invitation"' in record
    assert "厦门星海科技有限公司" in record and "工程技术人员" in record and "包食宿" in record
    assert 'id="pdf-download"' not in record  # not before the signing is approved
    assert g1.get(f"/agreements/{agreement_of(runtime, inst).id}/pdf").status_code == 409
    resp = g1.post(f"/graduate/records/{inst}/answer", data={"answer": "accept"})
    assert resp.status_code == 302
    assert "等待院系审核" in g1.get(f"/graduate/records/{inst}").get_data(as_text=True)

    # the reviewers read the terms with their labels; online signing offers no return and no edit block
    dept = client_for("dept_info")
    item_id = int(re.search(r"/review/items/(\d+)", dept.get("/review/inbox").get_data(as_text=True)).group(1))
    page = dept.get(f"/review/items/{item_id}").get_data(as_text=True)
    assert "岗位名称" in page and "软件工程师" in page  # ONL-1: the guides' labels and "厦门星海科技有限公司" in page
    assert 'id="edit-block"' not in page and 'id="decision-return"' not in page
    review_via_pages(client_for, inst)
    a = agreement_of(runtime, inst)
    assert a.status == "signed" and len(a.agreement_no) == 19

    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert "签约审核通过" in record and a.agreement_no in record and 'id="pdf-download"' in record
    preview = g1.get(f"/agreements/{a.id}/pdf")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    assert preview.data.startswith(b"%PDF") and preview.headers["Content-Disposition"].startswith("inline")
    download = g1.get(f"/agreements/{a.id}/pdf?download=1")
    disposition = unquote(download.headers["Content-Disposition"])
    assert download.data.startswith(b"%PDF") and disposition.startswith("attachment") and a.agreement_no in disposition
    by_employer = hr.get(f"/agreements/{a.id}/pdf?download=1")
    assert by_employer.status_code == 200 and by_employer.mimetype == "application/pdf"
    assert by_employer.data.startswith(b"%PDF")
    assert 'id="pdf-download"' in hr.get(f"/employer/instances/{inst}").get_data(as_text=True)
    reviewer = client_for("school").get(f"/agreements/{a.id}/pdf")
    assert reviewer.status_code == 200 and reviewer.data.startswith(b"%PDF")


def test_parties_outside_scope_get_the_same_404_and_are_logged(app, runtime, world, make_graduate, make_employer,
                                                                client_for):
    # rules ROLE-1, DOC-1
    grad = make_graduate("g1")
    make_graduate("g2", name="李四")
    make_graduate("econ", department=world.econ, name="王五")
    make_employer("hr")
    make_employer("hr2", name="别家公司")
    a = signed_online_via_pages(runtime, client_for, grad)
    hr2 = client_for("hr2")
    with runtime.Session() as s:
        logged = s.scalar(select(func.count()).select_from(AccessLog))
    hidden = hr2.get(f"/employer/instances/{a.instance_id}")
    missing = hr2.get("/employer/instances/999999")
    assert hidden.status_code == missing.status_code == 404
    assert page_without_tokens(hidden) == page_without_tokens(missing)
    assert hr2.post(f"/employer/agreements/{a.id}/terminate", data=REASON).status_code == 404
    assert hr2.get(f"/agreements/{a.id}/pdf").status_code == 404
    assert "别家公司" in hr2.get("/employer").get_data(as_text=True)
    assert "暂无签约记录" in hr2.get("/employer").get_data(as_text=True)
    g2 = client_for("g2")
    other_pdf, missing_pdf = g2.get(f"/agreements/{a.id}/pdf"), g2.get("/agreements/999999/pdf")
    assert other_pdf.status_code == missing_pdf.status_code == 404
    assert page_without_tokens(other_pdf) == page_without_tokens(missing_pdf)
    assert g2.get(f"/graduate/records/{a.instance_id}").status_code == 404
    assert g2.post(f"/graduate/agreements/{a.id}/terminate", data=REASON).status_code == 404
    assert client_for("dept_econ").get(f"/agreements/{a.id}/pdf").status_code == 404
    assert client_for("econ").get(f"/employer/instances/{a.instance_id}").status_code == 404  # not an employer
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AccessLog)) >= logged + 7
        assert s.scalar(select(func.count()).select_from(Termination)) == 0


def test_second_invitation_is_view_only_after_accepting_one(app, runtime, world, make_graduate, make_employer,
                                                            client_for):
    # rules ONL-3, ONL-4
    grad = make_graduate("g1")
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    first = invite_via_page(client_for("hr"), grad)
    second = invite_via_page(client_for("hr2"), grad)
    g1 = client_for("g1")
    assert g1.post(f"/graduate/records/{first}/answer", data={"answer": "accept"}).status_code == 302
    page = g1.get(f"/graduate/records/{second}").get_data(as_text=True)
    assert 'id="view-only"' in page and "只能查看" in page and 'id="accept-invitation"' not in page
    resp = g1.post(f"/graduate/records/{second}/answer", data={"answer": "accept"})
    assert resp.status_code == 409 and "只能查看" in resp.get_data(as_text=True)
    assert label(runtime, second) == "单位发起邀请 等待应约"
    # ONL-5 through the page: the same employer cannot invite again while its invitation is open
    hr2 = client_for("hr2")
    find(hr2, grad)
    resp = hr2.post(f"/employer/invite/{grad.id}", data=INVITATION)
    assert resp.status_code == 409 and "不能重复邀请" in resp.get_data(as_text=True)


def test_accepting_after_the_deadline_via_the_page_is_refused(app, runtime, world, make_graduate, make_employer,
                                                              client_for, step, actor):
    # rule ONL-2
    grad = make_graduate("g1")
    make_employer("hr")
    hr = actor("hr")
    past = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=2)
    inst = step(lambda s: signing.invite(s, runtime.runner, hr, grad.id, TERMS, 1, now=past))
    g1 = client_for("g1")
    assert 'id="accept-invitation"' in g1.get(f"/graduate/records/{inst.id}").get_data(as_text=True)
    wait_past(past + timedelta(days=1))
    before = counts(runtime)
    resp = g1.post(f"/graduate/records/{inst.id}/answer", data={"answer": "accept"})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "已超过应约截止时间，该签约邀请已失效" in text
    assert counts(runtime) == before
    assert label(runtime, inst.id) == "单位发起邀请 等待应约"
    assert agreement_of(runtime, inst.id).status == "invited"


def test_terminating_an_agreement_that_is_not_signed_is_refused(app, runtime, world, make_graduate, make_employer,
                                                                client_for):
    # rules TRM-1, OFT-1
    grad = make_graduate("g1")
    make_employer("hr")
    inst = invite_via_page(client_for("hr"), grad)
    a = agreement_of(runtime, inst)
    before = counts(runtime)
    for client, url in ((client_for("g1"), f"/graduate/agreements/{a.id}/terminate"),
                        (client_for("hr"), f"/employer/agreements/{a.id}/terminate")):
        resp = client.post(url, data=REASON)
        assert resp.status_code == 409, resp.get_data(as_text=True)[:1000]
        assert "只有线上签约且已生效的协议才能线上解约" in resp.get_data(as_text=True)
        assert counts(runtime) == before
    # an offline agreement under review cannot be terminated either, and its letter is not kept
    make_graduate("g2", name="李四")
    g2 = client_for("g2")
    g2.post("/graduate/agreements/offline/new", data={**form_data(OFFLINE), "action": "submit"})
    off = agreement_of(runtime, open_items(runtime, max_instance(runtime), "Department")[0].instance_id)
    before = counts(runtime)
    resp = g2.post(f"/graduate/agreements/{off.id}/terminate", content_type="multipart/form-data",
                   data={**REASON, "term-images": images(png_bytes())})
    assert resp.status_code == 409 and "只有线下签约或已登记的纸质协议才能申请线下解约" in resp.get_data(as_text=True)
    assert counts(runtime) == before
    assert agreement_of(runtime, off.instance_id).status == "agreement_review"


def max_instance(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.max(ProcessInstance.id)))


def test_online_termination_started_by_the_graduate_answered_by_the_employer(app, runtime, world, make_graduate,
                                                                             make_employer, client_for):
    # rules TRM-1, TRM-2, TRM-3
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online_via_pages(runtime, client_for, grad)
    g1 = client_for("g1")
    assert 'id="terminate-form"' in g1.get(f"/graduate/records/{a.instance_id}").get_data(as_text=True)
    # TRM-1: the reason has no default and must be chosen; the explanation is optional (选填)
    resp = g1.post(f"/graduate/agreements/{a.id}/terminate", data={"term-reason": "",
                                                                   "term-explanation": "协商一致"})
    assert resp.status_code == 422 and "请选择解约原因" in resp.get_data(as_text=True)
    resp = g1.post(f"/graduate/agreements/{a.id}/terminate", data=REASON)
    assert resp.status_code == 302
    term = int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))
    assert label(runtime, term) == "等待用人单位回应"
    hr = client_for("hr")
    assert 'id="employer-todo"' in hr.get("/employer").get_data(as_text=True)
    page = hr.get(f"/employer/instances/{term}").get_data(as_text=True)
    assert "毕业生另有就业选择" in page and "双方协商一致" in page and 'id="accept-termination"' in page
    assert hr.post(f"/employer/instances/{term}/answer", data={"answer": "accept"}).status_code == 302
    assert label(runtime, term) == "等待院系审核"
    review_via_pages(client_for, term)
    assert label(runtime, term) == "解约审核通过"
    assert agreement_of(runtime, a.instance_id).status == "terminated"
    assert "已解约" in g1.get(f"/graduate/records/{a.instance_id}").get_data(as_text=True)


def test_employer_starts_termination_and_the_graduate_refuses(app, runtime, world, make_graduate, make_employer,
                                                              client_for):
    # rules TRM-1, TRM-2, TRM-4, NOTE-1
    grad = make_graduate("g1")
    make_employer("hr")
    a = signed_online_via_pages(runtime, client_for, grad)
    hr = client_for("hr")
    resp = hr.post(f"/employer/agreements/{a.id}/terminate", data=REASON)
    assert resp.status_code == 302
    term = int(re.search(r"/employer/instances/(\d+)", resp.headers["Location"]).group(1))
    assert label(runtime, term) == "等待毕业生回应"
    again = hr.post(f"/employer/agreements/{a.id}/terminate", data=REASON)  # TRM-4
    assert again.status_code == 409 and "正在办理" in again.get_data(as_text=True)
    g1 = client_for("g1")
    assert "用人单位发起解约申请" in g1.get("/messages").get_data(as_text=True)
    page = g1.get(f"/graduate/records/{term}").get_data(as_text=True)
    assert 'id="refuse-termination"' in page and "双方协商一致" in page
    assert g1.post(f"/graduate/records/{term}/termination-answer", data={"answer": "refuse"}).status_code == 302
    assert label(runtime, term) == "对方拒绝解约 解约失败"
    assert agreement_of(runtime, a.instance_id).status == "signed"


# -- offline signing through pages --------------------------------------------------------
def test_offline_draft_submit_withdraw_review_and_stamped_upload_via_pages(app, runtime, world, make_graduate,
                                                                           client_for):
    # rules OFF-1, OFF-2, OFF-3, OFF-4, OFF-5, REV-6
    make_graduate("g1")
    g1 = client_for("g1")
    assert 'id="save-draft"' in g1.get("/graduate/agreements/offline/new").get_data(as_text=True)
    resp = g1.post("/graduate/agreements/offline/new", data={"action": "draft", "employer_name": "福州海峡贸易有限公司",
                                                             "position": "外贸专员", "salary_regular": "abc"})
    assert resp.status_code == 302  # a draft is kept unchecked
    inst = int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))
    assert label(runtime, inst) == "协议信息待提交"
    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert "外贸专员" in record and 'id="edit-agreement"' in record and "继续填写" in record
    # opening the form again continues the open draft, prefilled
    resp = g1.get("/graduate/agreements/offline/new")
    assert "/graduate/work/" in resp.headers["Location"]
    form = g1.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'value="外贸专员"' in form and 'value="福州海峡贸易有限公司"' in form
    # submitting checks every field
    bad = g1.post(resp.headers["Location"], data={**form_data(OFFLINE), "credit_code": "91350200MA0000001X",
                                                  "action": "submit"})
    assert bad.status_code == 422 and "统一社会信用代码" in bad.get_data(as_text=True)
    assert label(runtime, inst) == "协议信息待提交"
    ok = g1.post(resp.headers["Location"], data={**form_data(OFFLINE), "action": "submit"})
    assert ok.status_code == 302
    assert label(runtime, inst) == "等待院系审核"
    # withdraw before the review, edit (prefilled from the application) and submit again
    assert 'id="withdraw"' in g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert g1.post(f"/graduate/records/{inst}/withdraw").status_code == 302
    assert label(runtime, inst) == "协议审核待提交（已撤回）"
    item = open_items(runtime, inst, "Graduate")[0]
    form = g1.get(f"/graduate/work/{item.id}").get_data(as_text=True)
    assert 'value="福州市鼓楼区"' in form
    assert g1.post(f"/graduate/work/{item.id}", data={**form_data(OFFLINE), "position": "外贸主管",
                                                      "action": "submit"}).status_code == 302
    # the agreement review: employer fields with labels, return allowed
    dept = client_for("dept_info")
    item_id = open_items(runtime, inst, "Department")[0].id
    page = dept.get(f"/review/items/{item_id}").get_data(as_text=True)
    assert "统一社会信用代码" in page and "外贸主管" in page and 'id="decision-return"' in page
    assert 'id="edit-block"' in page  # REV-5: an offline agreement is edited with its own form
    review_via_pages(client_for, inst)
    assert label(runtime, inst) == "就业协议审核通过"
    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert 'id="pdf-download"' in record and 'id="upload-stamped"' in record and 'id="assist-button"' in record
    a = agreement_of(runtime, inst)
    pdf = g1.get(f"/agreements/{a.id}/pdf?download=1")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # 本人回传协议书
    resp = g1.post(f"/graduate/records/{inst}/stamped", content_type="multipart/form-data",
                   data={"stamped-images": images(png_bytes((10, 200, 10)), png_bytes((10, 10, 200)))})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    assert label(runtime, inst) == "等待院系审核"
    item_id = open_items(runtime, inst, "Department")[0].id
    page = dept.get(f"/review/items/{item_id}").get_data(as_text=True)
    assert page.count("/attachments/") >= 2 and "盖章的就业协议书" in page and 'id="pdf-preview"' in page
    review_via_pages(client_for, inst)
    assert label(runtime, inst) == "签约审核通过"
    a = agreement_of(runtime, inst)
    assert a.status == "signed" and len(a.agreement_no) == 19 and len(a.attachment_ids) == 2
    assert a.agreement_no in g1.get(f"/graduate/records/{inst}").get_data(as_text=True)


def test_assist_link_works_once_then_shows_the_invalid_link_message(app, runtime, world, make_graduate, client_for,
                                                                    step, actor):
    # rule OFF-3
    make_graduate("g1", name="林小雨")
    inst = awaiting_stamped(runtime, step, actor)
    g1 = client_for("g1")
    page = g1.post(f"/graduate/records/{inst.id}/assist-link").get_data(as_text=True)
    url = re.search(r'id="assist-url" onclick="this.select\(\)"|value="([^"]+/assist/[^"]+)"', page)
    token = re.search(r"/assist/([A-Za-z0-9_\-]+)", page).group(1)
    assert url and 'id="assist-link"' in page
    assert token not in g1.get(f"/graduate/records/{inst.id}").get_data(as_text=True)  # shown once
    anonymous = app.test_client()
    unknown = anonymous.get("/assist/not-a-real-token")
    assert unknown.status_code == 404 and "链接无效、已过期或已使用" in unknown.get_data(as_text=True)
    view = anonymous.get(f"/assist/{token}")
    text = view.get_data(as_text=True)
    assert view.status_code == 200 and "林小雨" in text and "福州海峡贸易有限公司" in text and 'id="pdf-preview"' in text
    assert view.headers["Referrer-Policy"] == "no-referrer"
    with runtime.Session() as s:
        grad_id_number = s.scalar(select(Graduate.id_number).where(Graduate.name == "林小雨"))
    assert grad_id_number not in text
    pdf = anonymous.get(f"/assist/{token}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    empty = anonymous.post(f"/assist/{token}", data={})
    assert empty.status_code == 422 and "请上传" in empty.get_data(as_text=True)
    done = anonymous.post(f"/assist/{token}", content_type="multipart/form-data",
                          data={"images": images(png_bytes())})
    assert done.status_code == 200 and 'id="assist-done"' in done.get_data(as_text=True)
    assert label(runtime, inst.id) == "等待院系审核"
    before = counts(runtime)
    used_get = anonymous.get(f"/assist/{token}")
    used_post = anonymous.post(f"/assist/{token}", content_type="multipart/form-data",
                               data={"images": images(png_bytes())})
    for resp in (used_get, used_post, anonymous.get(f"/assist/{token}/pdf")):
        assert resp.status_code == 404
        assert page_without_tokens(resp) == page_without_tokens(unknown)
    assert counts(runtime) == before
    # an expired link is refused the same way and changes nothing
    a = actor("dept_info")
    item = open_items(runtime, inst.id, "Department")[0]
    step(lambda s: reviews.review(s, runtime.runner, a, item.id, "return", "公章不清晰"))
    page = g1.post(f"/graduate/records/{inst.id}/assist-link").get_data(as_text=True)
    token2 = re.search(r"/assist/([A-Za-z0-9_\-]+)", page).group(1)
    with runtime.Session() as s:
        for link in s.scalars(select(AssistLink).where(AssistLink.used_at.is_(None))):
            link.expires_at = datetime.utcnow() - timedelta(minutes=1)
        s.commit()
    before = counts(runtime)
    expired = anonymous.get(f"/assist/{token2}")
    posted = anonymous.post(f"/assist/{token2}", content_type="multipart/form-data", data={"images": images(png_bytes())})
    for resp in (expired, posted):
        assert resp.status_code == 404 and page_without_tokens(resp) == page_without_tokens(unknown)
    assert counts(runtime) == before
    assert label(runtime, inst.id) == "协议书回传待提交（老师退回）"


def test_a_pdf_or_a_huge_image_as_stamped_photo_is_refused_and_nothing_stored(app, runtime, world, make_graduate,
                                                                              client_for, step, actor):
    # rule IMG-1
    make_graduate("g1")
    inst = awaiting_stamped(runtime, step, actor)
    g1 = client_for("g1")
    big = huge_png()
    assert len(big) < 100 * 1024
    cases = [(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "stamped.pdf", "JPG或PNG"), (big, "huge.png", "图片尺寸过大")]
    before = counts(runtime)
    for payload, name, message in cases:
        resp = g1.post(f"/graduate/records/{inst.id}/stamped", content_type="multipart/form-data",
                       data={"stamped-images": [(io.BytesIO(payload), name)]})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), name
        assert counts(runtime) == before
    assert label(runtime, inst.id) == "就业协议审核通过"
    # the same through the employer's assist link: refused, and the link stays usable
    page = g1.post(f"/graduate/records/{inst.id}/assist-link").get_data(as_text=True)
    token = re.search(r"/assist/([A-Za-z0-9_\-]+)", page).group(1)
    anonymous = app.test_client()
    before = counts(runtime)
    for payload, name, message in cases:
        resp = anonymous.post(f"/assist/{token}", content_type="multipart/form-data",
                              data={"images": [(io.BytesIO(payload), name)]})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), name
        assert counts(runtime) == before
    assert anonymous.get(f"/assist/{token}").status_code == 200


# -- paper registration and offline termination through pages ---------------------------------
def test_paper_registration_return_revise_and_offline_termination_via_pages(app, runtime, world, make_graduate,
                                                                            client_for):
    # rules PAP-1, PAP-2, OFT-1, OFT-2, REV-3
    make_graduate("g1")
    g1 = client_for("g1")
    missing = g1.post("/graduate/agreements/paper/new", data=form_data(OFFLINE))
    assert missing.status_code == 422 and "请上传" in missing.get_data(as_text=True)
    resp = g1.post("/graduate/agreements/paper/new", content_type="multipart/form-data",
                   data={**form_data(OFFLINE), "images": images(png_bytes((1, 2, 3)), png_bytes((3, 2, 1)))})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    inst = int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))
    assert label(runtime, inst) == "等待院系审核"
    review_via_pages(client_for, inst, "return", "请补充第二页")
    assert label(runtime, inst) == "登记待提交（老师退回）"
    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    edit = re.search(r'id="edit-agreement" href="([^"]+)"', record).group(1)
    form = g1.get(edit).get_data(as_text=True)
    assert "请补充第二页" in form and 'name="attachment_ids"' in form
    kept = [int(i) for i in re.findall(r'name="attachment_ids" value="(\d+)"', form)]
    assert len(kept) == 2
    resp = g1.post(edit, content_type="multipart/form-data",
                   data={**form_data(OFFLINE), "attachment_ids": [str(kept[0])], "images": images(png_bytes((9, 9, 9)))})
    assert resp.status_code == 302
    review_via_pages(client_for, inst)
    assert label(runtime, inst) == "登记审核通过"
    a = agreement_of(runtime, inst)
    assert a.kind == "paper" and a.status == "signed" and len(a.attachment_ids) == 2 and kept[0] in a.attachment_ids
    # OFT-1: 申请解约 with the letter, through the same record page
    record = g1.get(f"/graduate/records/{inst}").get_data(as_text=True)
    assert 'id="terminate-form"' in record and 'name="term-images"' in record
    no_letter = g1.post(f"/graduate/agreements/{a.id}/terminate", content_type="multipart/form-data", data=REASON)
    assert no_letter.status_code == 422 and "解约函" in no_letter.get_data(as_text=True)
    resp = g1.post(f"/graduate/agreements/{a.id}/terminate", content_type="multipart/form-data",
                   data={**REASON, "term-images": images(png_bytes((7, 7, 7)))})
    assert resp.status_code == 302
    term = int(re.search(r"/graduate/records/(\d+)", resp.headers["Location"]).group(1))
    assert label(runtime, term) == "等待院系审核"
    dept = client_for("dept_info")
    page = dept.get(f"/review/items/{open_items(runtime, term, 'Department')[0].id}").get_data(as_text=True)
    assert "解约函等材料" in page and "双方协商一致" in page and "/attachments/" in page
    review_via_pages(client_for, term, "return", "请上传单位盖章的解约函")
    record = g1.get(f"/graduate/records/{term}").get_data(as_text=True)
    edit = re.search(r'id="edit-agreement" href="([^"]+)"', record).group(1)
    form = g1.get(edit).get_data(as_text=True)
    assert "请上传单位盖章的解约函" in form and "双方协商一致" in form
    kept = re.findall(r'name="attachment_ids" value="(\d+)"', form)
    resp = g1.post(edit, content_type="multipart/form-data",
                   data={"reason": "other_offer", "explanation": "已盖章", "attachment_ids": kept,
                         "images": images(png_bytes((8, 8, 8)))})
    assert resp.status_code == 302
    review_via_pages(client_for, term)
    assert label(runtime, term) == "解约审核通过"
    assert agreement_of(runtime, inst).status == "terminated"


def test_signing_forms_carry_csrf_tokens(runtime, world, make_graduate, make_employer, step, actor):
    # rule ROLE-1
    from webapp import create_app

    grad = make_graduate("g1")
    make_employer("hr")
    hr = actor("hr")
    inst = step(lambda s: signing.invite(s, runtime.runner, hr, grad.id, TERMS, 7))
    app = create_app(runtime, TESTING=True)  # CSRF on, as in production
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "g1", "password": DEMO_PASSWORD, "csrf_token": token})
    page = client.get(f"/graduate/records/{inst.id}").get_data(as_text=True)
    forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", page, flags=re.S)
    assert forms and all("csrf_token" in f for f in forms)
    resp = client.post(f"/graduate/records/{inst.id}/answer", data={"answer": "accept"})
    assert resp.status_code == 400
    assert label(runtime, inst.id) == "单位发起邀请 等待应约"
    register = app.test_client().get("/employer/register").get_data(as_text=True)
    assert 'name="csrf_token"' in register


def test_pdf_is_queued_when_celery_runs_elsewhere(app, runtime, world, make_graduate, make_employer, client_for,
                                                  step, actor, monkeypatch):
    # rule DOC-1
    from dataclasses import replace

    grad = make_graduate("g1")
    make_employer("hr")
    hr, g = actor("hr"), actor("g1")
    inst = step(lambda s: signing.invite(s, runtime.runner, hr, grad.id, TERMS, 7))
    step(lambda s: signing.answer_invitation(s, runtime.runner, g, inst.id, "accept"))
    approve(runtime, step, actor, inst.id)
    a = agreement_of(runtime, inst.id)
    queued = []
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, celery_eager=False))
    monkeypatch.setattr(runtime, "enqueue", lambda name, *args: queued.append((name, *args)))
    client = client_for("g1")
    resp = client.get(f"/agreements/{a.id}/pdf")
    assert resp.status_code == 202 and "正在生成，请稍后刷新" in resp.get_data(as_text=True)
    assert queued == [("gradflow.render_agreement", a.id)]
    # once the worker has cached it, the page serves the cached copy without queueing again
    from processes.agreements import pdf as agreement_pdf

    step(lambda s: agreement_pdf.render_and_cache(s, a.id))
    resp = client.get(f"/agreements/{a.id}/pdf")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF") and queued == [("gradflow.render_agreement", a.id)]


def test_directed_graduate_sees_no_signing_forms(app, runtime, world, make_graduate, client_for):
    # rule GRAD-6
    make_graduate("d1", training_mode="定向", directed_unit="某单位")
    client = client_for("d1")
    assert 'id="offline-new"' not in client.get("/graduate/destination").get_data(as_text=True)
    before = counts(runtime)
    for url in ("/graduate/agreements/offline/new", "/graduate/agreements/paper/new"):
        assert client.get(url).status_code == 403
        assert client.post(url, data={**form_data(OFFLINE), "action": "submit"}).status_code == 403
    assert counts(runtime) == before
