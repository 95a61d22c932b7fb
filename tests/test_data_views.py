"""PRV-1 data views: scoped, filtered, sorted, paged, exported as .xlsx, ID numbers masked, bad input → 422."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from domain import seed, transfers
from domain.models import Graduate, School
from processes.agreements import services as signing
from processes.destination import services as filing
from tests.conftest import TERMS, with_proof

ARCHIVE = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
           "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
           "archive_phone": "0592-1234567", "note": ""}


@pytest.fixture
def data(runtime, world, make_graduate, make_employer, step, actor):
    with runtime.Session() as s:
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=world.province.id)
        other_p = seed.make_province(s, code="110000", name="北京市")
        other = seed.make_school(s, other_p, code="10001", name="北京大学")
        dept = seed.make_department(s, other, "哲学系")
        outsider = seed.make_graduate(s, other, dept, name="外省甲", username="pku1")
        s.get(School, world.school.id).open_modules = ["destination", "archive", "hukou"]
        s.commit()
        outsider_id = outsider.id
    grads = [make_graduate("g1", name="张一"), make_graduate("g2", name="李二", department=world.econ),
             make_graduate("g3", name="王三")]
    make_employer("hr")
    hr = actor("hr")
    invites = [step(lambda s, g=g: signing.invite(s, runtime.runner, hr, g.id, TERMS, 7)) for g in grads[:2]]
    g2 = actor("g2")
    step(lambda s: signing.answer_invitation(s, runtime.runner, g2, invites[1].id, "accept"))
    g3 = actor("g3")
    filed = step(lambda s: filing.start_filing(s, runtime.runner, g3, s.get(Graduate, g3.graduate_id),
                                               with_proof(s, g3.graduate_id)))
    school = actor("school")
    step(lambda s: transfers.register_by_school(s, school, grads[0].id, transfers.ARCHIVE_KIND, dict(ARCHIVE)))
    # the outsider signs too (another province): never in 福建省's views
    pku = actor("pku1")
    outside = step(lambda s: signing.invite(s, runtime.runner, hr, outsider_id, TERMS, 7))
    step(lambda s: signing.answer_invitation(s, runtime.runner, pku, outside.id, "accept"))
    return {"grads": grads, "invites": invites, "filed": filed, "outside": outside}


def test_signing_view_scope_mask_and_record(app, data, client_for):
    # rules PRV-1, ROLE-1
    prov = client_for("prov")
    page = prov.get("/data/signing")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "张一" in text and "李二" in text and "外省甲" not in text
    for grad in data["grads"]:
        assert grad.id_number not in text  # masked
        assert grad.id_number[:4] + "*" * 10 + grad.id_number[-4:] in text or grad.name == "王三"
    assert "单位" in text and "厦门星海科技有限公司" in text and "签约状态" in text
    body = prov.get("/api/v1/data/signing").json
    assert body["total"] == 2 and not body["total_capped"]
    assert {r["name"] for r in body["items"]} == {"张一", "李二"}
    assert all("*" in r["id_number"] for r in body["items"])
    # each row opens the record and its history, read-only, for the province too
    rec = prov.get(f"/data/instances/{data['invites'][1].id}")
    assert rec.status_code == 200 and "办理进度" in rec.get_data(as_text=True)
    assert prov.get(f"/data/instances/{data['outside'].id}").status_code == 404  # another province's
    assert client_for("dept_info").get(f"/data/instances/{data['invites'][1].id}").status_code == 404  # 经济学院
    # a school sees itself only; a 院系 only its graduates
    school = client_for("school").get("/api/v1/data/signing").json
    assert school["total"] == 2
    dept = client_for("dept_info").get("/api/v1/data/signing").json
    assert [r["name"] for r in dept["items"]] == ["张一"]


def test_filters_sorting_paging(app, data, client_for, world):
    # rule PRV-1
    prov = client_for("prov")
    rows = lambda q: prov.get("/api/v1/data/signing" + q).json["items"]  # noqa: E731
    assert [r["name"] for r in rows("?status=accepted")] == ["李二"]
    assert [r["name"] for r in rows("?q=张一")] == ["张一"]
    assert [r["name"] for r in rows(f"?department={world.econ.id}")] == ["李二"]
    assert rows(f"?school={world.school.id}") and not rows("?school=999999")
    assert rows("?from=2000-01-01&to=2999-12-31") and not rows("?to=2000-01-01")
    assert rows("?cohort=2026") and not rows("?cohort=2025")
    by_no = [r["student_no"] for r in rows("?sort=student_no&order=asc")]
    assert by_no == sorted(by_no)
    assert [r["student_no"] for r in rows("?sort=student_no&order=desc")] == by_no[::-1]
    first = prov.get("/api/v1/data/signing?per_page=1&page=1").json
    second = prov.get("/api/v1/data/signing?per_page=1&page=2").json
    assert first["pages"] == 2 and first["items"][0]["id"] != second["items"][0]["id"]
    assert prov.get("/api/v1/data/destinations").json["items"][0]["dest_type_name"] == "自由职业"
    archive = prov.get("/api/v1/data/archive?status=registered").json
    assert [r["name"] for r in archive["items"]] == ["张一"] and archive["items"][0]["transfer_type"] == "转回生源地"
    assert prov.get("/api/v1/data/archive").json["total"] == 3
    page = prov.get("/data/archive")
    assert page.status_code == 200 and "转回生源地" in page.get_data(as_text=True)
    info = prov.get(f"/data/graduates/{data['grads'][0].id}/archive")
    assert info.status_code == 200 and "厦门市思明区人才服务中心" in info.get_data(as_text=True)


@pytest.mark.parametrize("query", ["page=-1", "page=abc", "per_page=1000", "sort=unknown", "order=up",
                                   "from=2026-13-01", "to=yesterday", "status=bogus", "cohort=x", "page=99999999"])
def test_bad_query_parameters_are_a_clear_422(app, data, client_for, query):
    # rule PRV-1
    prov = client_for("prov")
    for url in (f"/api/v1/data/signing?{query}", f"/data/signing?{query}", f"/data/signing/export.xlsx?{query}"):
        resp = prov.get(url)
        if "page" in query and "export" in url:
            assert resp.status_code == 200  # an export has no pages: the parameter is ignored
            continue
        assert resp.status_code == 422, (url, resp.status_code)
    assert prov.get("/api/v1/data/nonsense").status_code == 404


def test_export_is_a_valid_xlsx_with_the_same_rows_and_masked_ids(app, data, client_for):
    # rule PRV-1
    prov = client_for("prov")
    for code in ("signing", "destinations", "archive"):
        listed = prov.get(f"/api/v1/data/{code}?sort=name&order=asc").json
        resp = prov.get(f"/data/{code}/export.xlsx?sort=name&order=asc")
        assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
        raw = resp.get_data()
        for grad in data["grads"]:
            assert grad.id_number.encode() not in raw
        sheet = load_workbook(io.BytesIO(raw), read_only=True).active
        table = list(sheet.iter_rows(values_only=True))
        keys = [c["key"] for c in listed["columns"]]
        assert list(table[0]) == [c["title"] for c in listed["columns"]]
        assert [list(r) for r in table[1:]] == [[item[k] if item[k] is not None else "" for k in keys]
                                                for item in listed["items"]]
        for row in table[1:]:
            assert all(grad.id_number not in str(v) for v in row for grad in data["grads"])
        api = prov.get(f"/api/v1/data/{code}/export?sort=name&order=asc")
        assert api.status_code == 200 and load_workbook(io.BytesIO(api.get_data()), read_only=True).active


def test_role2_none_and_other_roles_are_refused(app, runtime, world, data, client_for):
    # rules PRV-1, ROLE-2, ROLE-1
    with runtime.Session() as s:
        seed.make_account(s, "school_basic", "school", "只有就业信息", school_id=world.school.id,
                          module_permissions={"basic": "ro", "archive": "none", "hukou": "none"})
        seed.make_account(s, "school_none", "school", "无就业权限", school_id=world.school.id,
                          module_permissions={"basic": "none", "archive": "rw", "hukou": "none"})
        s.commit()
    limited = client_for("school_basic")
    assert limited.get("/data/signing").status_code == 200
    for url in ("/data/archive", "/data/hukou", "/api/v1/data/archive", "/data/archive/export.xlsx",
                f"/data/graduates/{data['grads'][0].id}/archive"):
        assert limited.get(url).status_code == 404, url
    nav = limited.get("/data/signing").get_data(as_text=True)
    assert "nav-data-destination" in nav and "nav-data-archive" not in nav
    blocked = client_for("school_none")
    assert blocked.get("/data/signing").status_code == 404
    assert blocked.get(f"/data/instances/{data['invites'][0].id}").status_code == 404
    assert blocked.get("/data/archive").status_code == 200
    assert client_for("g1").get("/api/v1/data/signing").status_code == 404
