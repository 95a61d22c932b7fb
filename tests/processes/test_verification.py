"""核验授权 (VER, DOC-2), read like seed 001 §8: a confirmed graduate with registered archive / hukou info sets
a validity date, gets a 15-character 核验编号 and a report (PDF with a QR code); a receiving department looks
it up on the public page with the graduate's name; the graduate closes it; a change suspends it until the
graduate confirms again; it expires after its date; the school's 转递编号 opens the archive report until
31 March of the year after graduation.

Graduates get their registered info and confirmation as rows written in a step (the archive, hukou and
confirmation modules have their own tests). The clock is moved by patching `services.now`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from domain.graduate_info import register_info
from domain.models import Confirmation
from processes.verification import services
from processes.verification.models import TransferCode, VerificationLookup, VerificationReport
from tests.conftest import require_service
from tests.test_api_signing import review_all, token, upload

ARCHIVE = {"archive_type": "托管单位接收", "archive_unit": "北京市海淀区人力资源公共服务中心", "division_code": "110108",
           "division_name": "北京市海淀区", "archive_address": "中关村大街1号", "archive_postcode": "100195",
           "archive_contact": "王维", "archive_phone": "18593241256"}
HUKOU = {"hukou_type": "签约单位接收", "division_code": "110108", "division_name": "北京市海淀区",
         "hukou_address": "中关村大街1号"}
# graduates_on 202606: reports may run to 2026-12-31 (VER-2), transfer codes to 2027-03-31 (VER-7)
JUNE = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
REPORTS = "/api/v1/verification/reports"
NONE = services.NONE_ANSWER


@pytest.fixture
def clock(monkeypatch):
    """Move the clock the verification rules read; starts on 2026-06-10 (Beijing)."""
    state = {"now": JUNE}
    monkeypatch.setattr(services, "now", lambda: state["now"])

    def set_to(value: datetime) -> None:
        state["now"] = value

    return set_to


def ready(step, graduate_id: int, *kinds: str, confirmed: bool = True) -> None:
    """Registered info of each kind, then a confirmation that holds (CNF)."""
    def do(s):
        for kind in kinds:
            register_info(s, graduate_id, kind, ARCHIVE if kind == "archive" else HUKOU, "school")
        if confirmed:
            s.add(Confirmation(graduate_id=graduate_id, status="confirmed", confirmed_at=utcnow(), error_parts={},
                               changed_parts=[]))

    step(do)


def confirm_again(step, graduate_id: int) -> None:
    def do(s):
        row = s.get(Confirmation, graduate_id)
        row.status, row.changed_parts, row.confirmed_at = "confirmed", [], utcnow()

    step(do)


def file_destination(api, username: str) -> None:
    """DST-1 + REV: an approved 签劳动合同就业 with its unit (the report's 毕业去向信息)."""
    g = token(api, username)
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g,
                    json={"dest_type": "labor_contract", "unit_name": "厦门星海科技有限公司",
                          "unit_address": "福建省厦门市思明区", "attachment_ids": upload(api, g)})
    assert resp.status_code == 201, resp.json
    review_all(api, resp.json["id"], token(api, "dept_info"), token(api, "school"))


def create(api, headers, kind="archive", valid_until="2026-12-31"):
    return api.post(REPORTS, headers=headers, json={"kind": kind, "valid_until": valid_until})


def check(client, name, code, **kw):
    return client.get("/verify", query_string={"name": name, "code": code}, **kw)


def result_card(resp) -> str:
    """The answer part of the public page (the form above it echoes what was typed)."""
    html = resp.get_data(as_text=True)
    match = re.search(r'<div class="card" id="verify-result">(.*?)</div>\s*<div class="card muted">', html, re.S)
    assert match, html[:2000]
    return match.group(1)


def lookups(runtime) -> list[tuple[str, str]]:
    with runtime.Session() as s:
        return [(r.outcome, r.reason) for r in s.scalars(select(VerificationLookup).order_by(VerificationLookup.id))]


def _tool(name: str, package: str) -> None:
    if not shutil.which(name):
        require_service(name, f"{package} is not installed")


def pdftotext(data: bytes) -> str:
    _tool("pdftotext", "poppler-utils")
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def qr_codes(data: bytes) -> list[str]:
    """The QR codes on the PDF's first page: pdftoppm renders it, zbar (pyzbar) decodes."""
    _tool("pdftoppm", "poppler-utils")
    try:
        from pyzbar.pyzbar import decode
    except ImportError as exc:  # the Debian library libzbar0 is missing
        require_service("zbar", f"pyzbar cannot load libzbar ({exc}); apt-get install libzbar0")
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "-f", "1", "-l", "1", "-", f"{tmp}/page"],
                       input=data, capture_output=True, check=True)
        with Image.open(f"{tmp}/page.png") as page:
            return [d.data.decode() for d in decode(page) if d.type == "QRCODE"]


# -- VER-1, VER-2 ----------------------------------------------------------------------------------------
def test_a_report_needs_a_confirmation_and_that_kinds_registered_info(app, runtime, world, make_graduate, step,
                                                                      clock):
    # rules VER-1, VER-2
    grad = make_graduate("g1", name="陈诚")
    api = app.test_client()
    g = token(api, "g1")
    ready(step, grad.id, "archive", confirmed=False)
    resp = create(api, g)
    assert resp.status_code == 409 and "去向登记确认" in resp.json["error"]["message"]
    ready(step, grad.id)  # the graduate confirms (CNF-2)
    hukou = create(api, g, "hukou")  # no hukou info registered
    assert hukou.status_code == 409 and "户口信息登记" in hukou.json["error"]["message"]
    listing = api.get(REPORTS, headers=g).json
    assert listing["confirmed"] is True and listing["max_valid_until"] == "2026-12-31"
    kinds = {k["kind"]: k for k in listing["kinds"]}
    assert kinds["archive"]["status_label"] == "未确认" and kinds["archive"]["report"] is None
    assert kinds["hukou"]["can_create"] is False and "户口信息登记" in kinds["hukou"]["unavailable"]

    resp = create(api, g)
    assert resp.status_code == 201, resp.json
    code = resp.json["report"]["code"]
    assert len(code) == 15 and set(code) <= set(services.ALPHABET)  # no 0/O, 1/I/L
    kinds = {k["kind"]: k for k in resp.json["kinds"]}
    assert kinds["archive"]["status_label"] == "生效中" and kinds["archive"]["can_download"]
    # one report per kind: a second one while the first is 生效中 is refused
    again = create(api, g)
    assert again.status_code == 409 and "请先关闭" in again.json["error"]["message"]
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(VerificationReport)) == 1


def test_the_validity_date_is_not_in_the_past_nor_after_graduation_plus_six_months(app, world, make_graduate,
                                                                                   step, clock):
    # rule VER-2
    grad = make_graduate("g1", graduates_on="202606")
    ready(step, grad.id, "archive")
    api = app.test_client()
    g = token(api, "g1")
    past = create(api, g, valid_until="2026-06-09")
    assert past.status_code == 422 and "不能早于今天" in past.json["error"]["message"]
    late = create(api, g, valid_until="2027-01-01")
    assert late.status_code == 422
    assert late.json["error"]["message"] == "查询核验服务时间截止到毕业时间加六个月：有效期不能晚于 2026-12-31"
    bad = create(api, g, valid_until="31/12/2026")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json["error"]["message"]
    assert create(api, g, valid_until="2026-06-10").status_code == 201  # today is allowed
    # the page says the same
    web = app.test_client()
    web.post("/login", data={"username": "g1", "password": "demo1234"})
    api.post(f"{REPORTS}/{api.get(REPORTS, headers=g).json['kinds'][0]['report']['id']}/close", headers=g)
    page = web.post("/graduate/verification/reports", data={"kind": "archive", "valid_until": "2027-01-01"})
    assert page.status_code == 422 and "有效期不能晚于 2026-12-31" in page.get_data(as_text=True)
    assert web.post("/graduate/verification/reports",
                    data={"kind": "archive", "valid_until": "2026-12-31"}).status_code == 302
    home = web.get("/graduate/verification").get_data(as_text=True)
    assert "2026-12-31 23:59:59" in home and "生效中" in home and 'max="2026-12-31"' not in home  # no form while live


def test_codes_are_random_from_the_alphabet_and_unique_in_the_database(runtime, world, make_graduate, step):
    # rule VER-2
    codes = {services.new_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(len(c) == 15 and set(c) <= set(services.ALPHABET) for c in codes)
    assert not set(services.ALPHABET) & set("01OIL")
    grad = make_graduate("g1")
    step(lambda s: s.add(VerificationReport(graduate_id=grad.id, kind="archive", code="ABCDEFGHJKMNPQR",
                                            valid_until=date(2026, 12, 31), status="closed")))
    with pytest.raises(IntegrityError):
        step(lambda s: s.add(VerificationReport(graduate_id=grad.id, kind="hukou", code="ABCDEFGHJKMNPQR",
                                                valid_until=date(2026, 12, 31), status="closed")))


# -- VER-4, VER-8: the public check page ----------------------------------------------------------------------
def test_name_and_code_open_the_report_and_every_other_case_gets_one_neutral_answer(app, runtime, world,
                                                                                    make_graduate, step, clock):
    # rules VER-4, VER-5, VER-8
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")
    api = app.test_client()
    g = token(api, "g1")
    report = create(api, g).json["report"]
    public = app.test_client()  # no login

    found = check(public, "陈诚", report["code"])
    assert found.status_code == 200
    card = result_card(found)
    assert "陈诚" in card and "北京市海淀区人力资源公共服务中心" in card and report["code"] in card
    assert "档案登记信息表" in card and "verify/report.pdf" in card
    assert found.headers["Cache-Control"] == "private, no-store"
    # typed with spaces, dashes and lower case, and a full-width name: the same report
    spaced = "-".join([report["code"][:5], report["code"][5:10].lower(), report["code"][10:]])
    assert "北京市海淀区人力资源公共服务中心" in result_card(check(public, " 陈 诚 ", spaced))

    unknown = result_card(check(public, "陈诚", "ABCDEFGHJKMNPQR"))
    wrong_name = result_card(check(public, "陈成", report["code"]))
    assert NONE in unknown and wrong_name == unknown
    api.post(f"{REPORTS}/{report['id']}/close", headers=g)  # VER-5
    assert result_card(check(public, "陈诚", report["code"])) == unknown
    assert [r for r in lookups(runtime)] == [("found", ""), ("found", ""), ("none", "unknown"), ("none", "name"),
                                            ("none", "closed")]


def test_the_qr_link_fills_in_the_code_and_a_name_alone_or_a_code_alone_is_no_lookup(app, runtime, world,
                                                                                     make_graduate, step, clock):
    # rules VER-4, VER-8
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")
    api = app.test_client()
    code = create(api, token(api, "g1")).json["report"]["code"]
    page = app.test_client().get(f"/verify?code={code}").get_data(as_text=True)
    assert f'value="{code}"' in page and 'id="verify-result"' not in page
    assert lookups(runtime) == []  # nothing was looked up, nothing logged


# -- VER-5, VER-6, time ---------------------------------------------------------------------------------------
def test_a_change_suspends_the_report_until_the_graduate_confirms_again(app, runtime, world, make_graduate, step,
                                                                        clock):
    # rules VER-6, CNF-5
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")
    api = app.test_client()
    g = token(api, "g1")
    code = create(api, g).json["report"]["code"]
    public = app.test_client()
    assert NONE not in result_card(check(public, "陈诚", code))
    step(lambda s: register_info(s, grad.id, "archive", {**ARCHIVE, "archive_unit": "北京市西城区人才服务中心"},
                                 "registration"))  # ARC-6: a change was approved
    kinds = {k["kind"]: k for k in api.get(REPORTS, headers=g).json["kinds"]}
    assert kinds["archive"]["status_label"] == "需重新确认" and not kinds["archive"]["can_download"]
    assert api.get(f"{REPORTS}/{kinds['archive']['report']['id']}/pdf", headers=g).status_code == 409
    assert NONE in result_card(check(public, "陈诚", code))
    confirm_again(step, grad.id)
    card = result_card(check(public, "陈诚", code))  # the same code, showing what was confirmed
    assert "北京市西城区人才服务中心" in card and "北京市海淀区人力资源公共服务中心" not in card
    assert [r for r in lookups(runtime)] == [("found", ""), ("none", "suspended"), ("found", "")]


def test_a_report_past_its_date_no_longer_opens(app, runtime, world, make_graduate, step, clock):
    # rules VER-2, VER-4
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")
    api = app.test_client()
    g = token(api, "g1")
    code = create(api, g, valid_until="2026-07-31").json["report"]["code"]
    public = app.test_client()
    clock(datetime(2026, 7, 31, 15, 59, tzinfo=UTC))  # 23:59 in Beijing on the last day
    assert NONE not in result_card(check(public, "陈诚", code))
    clock(datetime(2026, 7, 31, 16, 0, tzinfo=UTC))  # 00:00 on 1 August in Beijing
    assert NONE in result_card(check(public, "陈诚", code))
    kinds = {k["kind"]: k for k in api.get(REPORTS, headers=g).json["kinds"]}
    assert kinds["archive"]["status_label"] == "已过期" and kinds["archive"]["can_create"]
    # an expired report is replaced by a new one with a new code
    fresh = create(api, g, valid_until="2026-12-31")
    assert fresh.status_code == 201 and fresh.json["report"]["code"] != code
    assert lookups(runtime)[-1] == ("none", "expired")


def test_the_graduate_closes_a_report_and_may_authorise_again(app, runtime, world, make_graduate, step, clock):
    # rule VER-5
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")
    web = app.test_client()
    web.post("/login", data={"username": "g1", "password": "demo1234"})
    assert web.post("/graduate/verification/reports",
                    data={"kind": "archive", "valid_until": "2026-10-01"}).status_code == 302
    with runtime.Session() as s:
        report = s.scalar(select(VerificationReport))
    page = web.get("/graduate/verification").get_data(as_text=True)
    assert report.code in page and 'id="close-archive"' in page and 'id="view-archive"' in page
    assert web.post(f"/graduate/verification/reports/{report.id}/close").status_code == 302
    page = web.get("/graduate/verification").get_data(as_text=True)
    assert "已关闭" in page and 'id="create-archive"' in page and "重新设置有效期" in page
    assert NONE in result_card(check(app.test_client(), grad.name, report.code))
    # someone else's report: the same 404 as a missing one
    make_graduate("g2")
    other = app.test_client()
    other.post("/login", data={"username": "g2", "password": "demo1234"})
    assert other.post(f"/graduate/verification/reports/{report.id}/close").status_code == 404
    assert other.get(f"/graduate/verification/reports/{report.id}").status_code == 404
    api = app.test_client()
    assert api.post(f"{REPORTS}/{report.id}/close", headers=token(api, "g2")).status_code == 404


# -- DOC-2, VER-3: the PDF -------------------------------------------------------------------------------------
def test_the_report_pdf_has_the_sections_the_code_and_a_qr_code_of_the_check_url(app, runtime, world,
                                                                                  make_graduate, step, clock):
    # rules DOC-2, VER-3, VER-4
    grad = make_graduate("g1", name="陈诚")
    api = app.test_client()
    file_destination(api, "g1")
    ready(step, grad.id, "archive", "hukou")
    g = token(api, "g1")
    report = create(api, g).json["report"]
    resp = api.get(f"{REPORTS}/{report['id']}/pdf", headers=g)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = pdftotext(resp.data)
    for needle in ("全国普通高等学校毕业生去向登记信息", "档案登记信息表", f"核验编号：{report['code']}", "基本信息", "陈诚",
                   "厦门大学", "毕业去向信息", "签劳动合同就业", "厦门星海科技有限公司", "档案转递信息", "托管单位接收",
                   "北京市海淀区人力资源公共服务中心", "100195", "注意事项"):
        assert needle in text, needle
    assert "户口迁移信息" not in text  # the archive report shows the archive section only
    assert grad.id_number not in text

    urls = qr_codes(resp.data)
    assert urls == [f"http://127.0.0.1:5000/verify?code={report['code']}"]
    public = app.test_client()
    path = urls[0].removeprefix("http://127.0.0.1:5000")
    assert f'value="{report["code"]}"' in public.get(path).get_data(as_text=True)  # the code is filled in
    card = result_card(public.get(path + "&name=陈诚"))  # the name typed in: the report
    assert "北京市海淀区人力资源公共服务中心" in card and "厦门星海科技有限公司" in card
    # its PDF link gives the same document
    pdf = public.get("/verify/report.pdf", query_string={"code": report["code"], "name": "陈诚"})
    assert pdf.status_code == 200 and pdf.data == resp.data  # rendered once, then from the cache

    hukou = create(api, g, "hukou").json["report"]
    text = pdftotext(api.get(f"{REPORTS}/{hukou['id']}/pdf", headers=g).data)
    assert "户口登记信息表" in text and "户口迁移信息" in text and "中关村大街1号" in text
    assert "档案转递信息" not in text


def test_a_section_with_nothing_registered_is_left_out(app, runtime, world, make_graduate, step, clock):
    # rules DOC-2, VER-3
    grad = make_graduate("g1", name="陈诚")
    ready(step, grad.id, "archive")  # confirmed, but no effective destination any more
    api = app.test_client()
    g = token(api, "g1")
    report = create(api, g).json["report"]
    text = pdftotext(api.get(f"{REPORTS}/{report['id']}/pdf", headers=g).data)
    assert "基本信息" in text and "档案转递信息" in text and "毕业去向信息" not in text
    web = app.test_client()
    web.post("/login", data={"username": "g1", "password": "demo1234"})
    page = web.get(f"/graduate/verification/reports/{report['id']}").get_data(as_text=True)
    assert 'id="section-archive"' in page and 'id="section-destination"' not in page


# -- VER-7: the school's transfer code -----------------------------------------------------------------------
def test_a_transfer_code_opens_the_archive_report_until_31_march_after_graduation(app, runtime, world,
                                                                                  make_graduate, step, clock):
    # rules VER-7, VER-4
    grad = make_graduate("g1", name="陈诚", graduates_on="202606")
    ready(step, grad.id, "archive")
    api = app.test_client()
    school = token(api, "school")
    resp = api.post(f"/api/v1/graduates/{grad.id}/transfer-code", headers=school)
    assert resp.status_code == 201, resp.json
    code = resp.json["transfer_code"]["code"]
    assert len(code) == 15 and resp.json["transfer_code"]["valid_until"] == "2027-03-31"
    again = api.post(f"/api/v1/graduates/{grad.id}/transfer-code", headers=school)
    assert again.status_code == 200 and again.json["transfer_code"]["code"] == code
    assert api.get(f"/api/v1/graduates/{grad.id}/transfer-code", headers=school).json["transfer_code"]["code"] == code
    # not the graduate's, not a department's, not another school's
    assert api.post(f"/api/v1/graduates/{grad.id}/transfer-code", headers=token(api, "g1")).status_code == 404
    assert api.post(f"/api/v1/graduates/{grad.id}/transfer-code", headers=token(api, "dept_info")).status_code == 404

    public = app.test_client()
    card = result_card(check(public, "陈诚", code))
    assert "转递编号" in card and code in card and "北京市海淀区人力资源公共服务中心" in card and "2027-03-31" in card
    clock(datetime(2027, 3, 31, 15, 59, tzinfo=UTC))  # 31 March, 23:59 in Beijing
    assert NONE not in result_card(check(public, "陈诚", code))
    clock(datetime(2027, 3, 31, 16, 0, tzinfo=UTC))  # 1 April, 00:00 in Beijing
    assert NONE in result_card(check(public, "陈诚", code))
    assert lookups(runtime)[-1] == ("none", "expired")
    clock(JUNE)
    assert NONE in result_card(check(public, "陈成", code))  # a wrong name


def test_the_school_issues_a_transfer_code_on_its_page(app, runtime, world, make_graduate, step, client_for):
    # rule VER-7
    grad = make_graduate("g1", name="陈诚")
    bare = make_graduate("g2", name="李四")
    ready(step, grad.id, "archive")
    web = client_for("school")
    page = web.get("/school/verification", query_string={"q": grad.student_no}).get_data(as_text=True)
    assert "陈诚" in page and f'id="issue-{grad.id}"' in page
    resp = web.post(f"/school/verification/graduates/{grad.id}/transfer-code", data={"q": grad.student_no},
                    follow_redirects=True)
    with runtime.Session() as s:
        row = s.scalar(select(TransferCode).where(TransferCode.graduate_id == grad.id))
    assert row is not None and f"已签发转递编号 {row.code}" in resp.get_data(as_text=True)
    page = web.get("/school/verification", query_string={"q": bare.student_no}).get_data(as_text=True)
    assert "尚未登记档案信息" in page and f'id="issue-{bare.id}"' not in page
    refused = web.post(f"/school/verification/graduates/{bare.id}/transfer-code", follow_redirects=True)
    assert "尚未登记档案信息" in refused.get_data(as_text=True)
    assert client_for("dept_info").get("/school/verification").status_code == 404


# -- the module's place on the graduate's pages, the API document -----------------------------------------------
def test_the_destination_page_and_the_module_chooser_lead_to_the_reports(app, world, make_graduate, step,
                                                                         client_for, clock):
    # rule MOD-1
    grad = make_graduate("g1")
    ready(step, grad.id, "archive")
    web = client_for("g1")
    home = web.get("/graduate/destination").get_data(as_text=True)
    assert 'id="verification-link"' in home and "/graduate/verification" in home and "档案信息核验" in home
    assert 'id="module-verification"' in web.get("/graduate").get_data(as_text=True)
    assert web.get("/graduate/verification").status_code == 200


def test_the_api_is_in_the_openapi_document(app, world):
    # design: the module's API parts are in /api/v1/openapi.json
    doc = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/verification/reports", "/verification/reports/{report_id}/close",
                 "/verification/reports/{report_id}/pdf", "/graduates/{graduate_id}/transfer-code"):
        assert path in doc["paths"], path
    assert doc["components"]["schemas"]["VerificationReport"]["required"] == ["kind", "valid_until"]


def test_validity_and_transfer_limits_follow_the_graduation_month():
    # rules VER-2, VER-7
    from types import SimpleNamespace

    assert services.validity_limit(SimpleNamespace(graduates_on="202606")) == date(2026, 12, 31)
    assert services.validity_limit(SimpleNamespace(graduates_on="202607")) == date(2027, 1, 31)
    assert services.validity_limit(SimpleNamespace(graduates_on="202608")) == date(2027, 2, 28)
    assert services.transfer_limit(SimpleNamespace(graduates_on="202612")) == date(2027, 3, 31)
    assert services.today() - date.today() <= timedelta(days=1)
