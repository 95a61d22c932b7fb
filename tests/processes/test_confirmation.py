"""去向登记确认 (CNF), read like the guide (seed 001 §7, seed 004): the graduate reports a destination, checks
destination, archive and hukou info, confirms it or reports what is wrong, revokes a report, and confirms
again after a later change — through the page and through /api/v1."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from domain.graduate_info import info_changed, is_confirmed, register_info
from domain.models import AccessLog, Confirmation, EffectiveDestination, Message, RegisteredInfo
from tests.test_api_signing import review_all, signed_online, token

ARCHIVE = {"archive_type": "签约单位接收", "archive_unit": "北京市海淀区人力资源公共服务中心",
           "archive_address": "北京市海淀区"}
# as a registration writes it (HUK-1): a division code, its name, the detail address
HUKOU = {"hukou_type": "签约单位接收", "division_code": "110108", "division_name": "北京市海淀区",
         "hukou_address": "中关村大街1号"}
STATE = "/api/v1/me/confirmation"
REPORT = {"parts": ["destination", "archive"], "destination_kind": "changed",
          "destination_explanation": "已与新单位签约，去向有变化", "archive_explanation": "档案转递单位名称有误",
          "mobile": "13912345678"}


def file_and_approve(api, username: str, dest_type: str = "job_seeking", **fields):
    """DST-1 then REV-1: a type with no proof needed, approved by the department and the school."""
    g = token(api, username)
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g, json={"dest_type": dest_type, **fields})
    assert resp.status_code == 201, resp.json
    review_all(api, resp.json["id"], token(api, "dept_info"), token(api, "school"))
    return g


def with_info(step, graduate_id: int, *kinds: str) -> None:
    def do(s):
        for kind in kinds:
            register_info(s, graduate_id, kind, ARCHIVE if kind == "archive" else HUKOU, "school")

    step(do)


def row_of(runtime, graduate_id: int):
    with runtime.Session() as s:
        row = s.get(Confirmation, graduate_id)
        if row is None:
            return None
        return (row.status, row.confirmed_at, dict(row.error_parts or {}), row.error_mobile, list(row.changed_parts or []))


def messages_of(runtime, username: str) -> list[str]:
    """The trail of confirm / report / revoke: messages of no process instance (reviews send their own)."""
    from domain.models import Account

    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == username))
        return list(s.scalars(select(Message.title).where(Message.account_id == account.id,
                                                          Message.instance_id.is_(None)).order_by(Message.id)))


def chooser_closed(app, runtime, graduate_id: int) -> str | None:
    """What the module chooser's card would say (ModuleEntry.closed_reason)."""
    from domain.models import Graduate
    from processes.confirmation.pages import entry_closed_reason

    with app.test_request_context(), runtime.Session() as s:
        return entry_closed_reason(s, s.get(Graduate, graduate_id))


def text(resp) -> str:
    return resp.get_data(as_text=True)


# -- CNF-1 ------------------------------------------------------------------------------------------------
def test_confirmation_waits_for_an_effective_destination_and_says_why(app, runtime, world, make_graduate, client_for):
    # rule CNF-1
    grad = make_graduate("g1")
    web, api = client_for("g1"), app.test_client()
    g = token(api, "g1")
    page = text(web.get("/graduate/confirmation"))
    assert 'id="confirmation-unavailable"' in page and "还没有生效的毕业去向" in page
    assert 'id="confirmation-form"' not in page and "/graduate/destination" in page
    state = api.get(STATE, headers=g).json
    assert state["available"] is False and "还没有生效的毕业去向" in state["reason"] and state["status"] == "unconfirmed"
    assert state["may_confirm"] is False and state["info"]["destination"] is None
    home = text(web.get("/graduate/destination"))
    assert 'id="confirmation-home"' in home and "登记毕业去向后可确认" in home and 'id="confirmation-link"' not in home
    assert chooser_closed(app, runtime, grad.id) == "登记毕业去向后可确认"

    # a filing under review is not yet a reported destination
    resp = api.post("/api/v1/processes/destination_filing/instances", headers=g, json={"dest_type": "job_seeking"})
    assert resp.status_code == 201
    refused = api.post(f"{STATE}/confirm", headers=g)
    assert refused.status_code == 409 and "还没有生效的毕业去向" in refused.json["error"]["message"]
    assert api.post(f"{STATE}/report-error", headers=g, json=REPORT).status_code == 409
    assert web.post("/graduate/confirmation", data={"choice": "confirm"}).status_code == 409
    assert row_of(runtime, grad.id) is None and messages_of(runtime, "g1") == []

    review_all(api, resp.json["id"], token(api, "dept_info"), token(api, "school"))
    state = api.get(STATE, headers=g).json
    assert state["available"] is True and state["may_confirm"] is True and state["parts"] == ["destination"]
    assert 'id="confirmation-link"' in text(web.get("/graduate/destination"))
    assert chooser_closed(app, runtime, grad.id) is None


# -- CNF-2 ------------------------------------------------------------------------------------------------
def test_page_shows_destination_archive_and_hukou_with_their_report_dates_and_confirms(
        app, runtime, world, make_graduate, client_for, step):
    # rule CNF-2
    grad = make_graduate("g1", name="李娟")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    with_info(step, grad.id, "archive", "hukou")

    def dates(s):  # stored in UTC; shown in China time, where these are the next day
        s.get(EffectiveDestination, grad.id).since = datetime(2026, 5, 23, 17, 30)
        for info in s.scalars(select(RegisteredInfo).where(RegisteredInfo.graduate_id == grad.id)):
            info.created_at = datetime(2026, 5, 28, 16, 5)

    step(dates)
    web = client_for("g1")
    page = text(web.get("/graduate/confirmation"))
    for shown in ("李娟", "求职中", "签约单位接收", "北京市海淀区人力资源公共服务中心", "北京市海淀区",
                  "以上毕业去向信息于2026年05月24日上报", "以上档案转递信息于2026年05月29日上报",
                  "以上户口迁移信息于2026年05月29日上报", "请确认您的去向登记信息",
                  "信息无误，确认登记去向", "信息有误，需更新后确认", 'id="confirmation-form"'):
        assert shown in page, shown
    assert 'data-status="unconfirmed"' in page and "未确认" in page

    state = api.get(STATE, headers=g).json
    assert state["parts"] == ["destination", "archive", "hukou"]
    assert state["info"]["destination"]["rows"] == [{"label": "毕业去向", "value": "求职中"}]
    assert state["info"]["destination"]["reported_on"] == "2026年05月24日"
    assert state["info"]["destination"]["reported_at"].startswith("2026-05-24T01:30:00+08:00")
    assert {"label": "档案转递单位名称", "value": "北京市海淀区人力资源公共服务中心"} in state["info"]["archive"]["rows"]
    assert state["info"]["hukou"]["reported_on"] == "2026年05月29日"
    assert state["info"]["hukou"]["rows"] == [{"label": "户口迁移类型", "value": "签约单位接收"},
                                              {"label": "户口迁移所在地", "value": "北京市海淀区"},
                                              {"label": "户口迁移地址", "value": "中关村大街1号"}]
    assert "110108" not in page

    resp = web.post("/graduate/confirmation", data={"choice": "confirm", "info_version": state["info_version"]})
    assert resp.status_code == 302, text(resp)[:2000]
    status, confirmed_at, error_parts, mobile, changed = row_of(runtime, grad.id)
    assert (status, error_parts, mobile, changed) == ("confirmed", {}, None, []) and confirmed_at is not None
    with runtime.Session() as s:
        assert is_confirmed(s, grad.id)
    assert messages_of(runtime, "g1")[-1] == "已确认登记去向"
    page = text(web.get("/graduate/confirmation"))
    assert 'data-status="confirmed"' in page and "你已于" in page and 'id="confirmation-form"' not in page
    again = api.post(f"{STATE}/confirm", headers=g)
    assert again.status_code == 409 and "无需重复确认" in again.json["error"]["message"]
    assert messages_of(runtime, "g1").count("已确认登记去向") == 1


def test_an_agreement_shows_its_employer_and_position(app, runtime, world, make_graduate, make_employer, client_for):
    # rule CNF-2
    grad = make_graduate("g1")
    make_employer("hr")
    api = app.test_client()
    g, hr = token(api, "g1"), token(api, "hr")
    signed_online(api, runtime, g, hr, token(api, "dept_info"), token(api, "school"), grad)
    rows = api.get(STATE, headers=g).json["info"]["destination"]["rows"]
    values = {r["label"]: r["value"] for r in rows}
    assert values["毕业去向"] == "签就业协议形式就业" and values["单位名称"] == "厦门星海科技有限公司"
    assert values["岗位名称"] == "软件工程师" and values["工作地点"] == "厦门市" and len(values["协议编号"]) > 0
    page = text(client_for("g1").get("/graduate/confirmation"))
    assert "厦门星海科技有限公司" in page and "软件工程师" in page


def test_without_hukou_in_school_only_destination_and_archive_are_confirmed(app, runtime, world, make_graduate,
                                                                             client_for, step):
    # rules CNF-2, CNF-3
    grad = make_graduate("g1", hukou_in_school=False)
    api = app.test_client()
    g = file_and_approve(api, "g1")
    with_info(step, grad.id, "archive")
    page = text(client_for("g1").get("/graduate/confirmation"))
    assert "户口未转入学校，仅需确认毕业去向及档案信息" in page
    assert 'value="hukou"' not in page and 'value="archive"' in page  # only the parts that exist can be ticked
    state = api.get(STATE, headers=g).json
    assert state["parts"] == ["destination", "archive"] and state["hukou_needed"] is False
    bad = api.post(f"{STATE}/report-error", headers=g,
                   json={"parts": ["hukou"], "hukou_explanation": "户口迁移地址有误", "mobile": "13912345678"})
    assert bad.status_code == 422 and bad.json["error"]["message"] == "您的错误信息情况：户口迁移信息尚未登记，不能选择"
    assert row_of(runtime, grad.id) is None


# -- CNF-3 ------------------------------------------------------------------------------------------------
def test_wrong_info_is_reported_then_updated_then_confirmed_again(app, runtime, world, make_graduate, client_for,
                                                                  step):
    # rule CNF-3
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    with_info(step, grad.id, "archive")
    web = client_for("g1")
    resp = web.post("/graduate/confirmation", data={"choice": "error", **REPORT, "hukou_explanation": "不会保存"})
    assert resp.status_code == 302, text(resp)[:3000]
    status, confirmed_at, error_parts, mobile, changed = row_of(runtime, grad.id)
    assert status == "error_reported" and confirmed_at is None and mobile == "13912345678" and changed == []
    assert error_parts == {"destination": "有变化：已与新单位签约，去向有变化", "archive": "档案转递单位名称有误"}
    assert messages_of(runtime, "g1") == ["已提交去向登记信息有误"]
    with runtime.Session() as s:
        assert not is_confirmed(s, grad.id)

    page = text(web.get("/graduate/confirmation"))
    assert 'id="error-report"' in page and "有变化：已与新单位签约" in page and "档案转递单位名称有误" in page
    assert "请您按之前的登记方式更新为正确信息后，再次进行登记确认" in page
    assert 'href="/graduate/destination"' in page and "档案信息登记" in page  # where to update
    assert 'id="confirm-again"' not in page and 'id="revoke"' in page
    state = api.get(STATE, headers=g).json
    assert state["status"] == "error_reported" and state["missing_updates"] == ["destination", "archive"]
    assert state["may_confirm"] is False and state["may_revoke"] is True and state["error_mobile"] == "13912345678"
    early = api.post(f"{STATE}/confirm", headers=g)
    assert early.status_code == 409 and "尚未更新" in early.json["error"]["message"]
    assert api.post(f"{STATE}/report-error", headers=g, json=REPORT).status_code == 409  # revoke first to re-report

    # the graduate updates the archive info through its module, then the destination
    with_info(step, grad.id, "archive")
    state = api.get(STATE, headers=g).json
    assert state["changed_parts"] == ["archive"] and state["missing_updates"] == ["destination"]
    assert api.post(f"{STATE}/confirm", headers=g).status_code == 409
    step(lambda s: info_changed(s, grad.id, "destination"))
    page = text(web.get("/graduate/confirmation"))
    assert 'id="confirm-again"' in page and "已更新" in page
    state = api.get(STATE, headers=g).json
    assert state["may_confirm"] is True and state["missing_updates"] == []
    resp = api.post(f"{STATE}/confirm", headers=g, json={"info_version": state["info_version"]})
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "confirmed" and resp.json["changed_parts"] == [] and resp.json["error_parts"] == {}
    status, confirmed_at, error_parts, mobile, changed = row_of(runtime, grad.id)
    assert (status, error_parts, mobile, changed) == ("confirmed", {}, None, []) and confirmed_at is not None
    assert messages_of(runtime, "g1") == ["已提交去向登记信息有误", "已确认登记去向"]


BAD_REPORTS = {
    "501-character explanation": ({**REPORT, "archive_explanation": "长" * 501},
                                  "档案情况说明：不能超过500个字（现有501个）"),
    "ticked part without explanation": ({**REPORT, "destination_explanation": "   "}, "去向情况说明：请填写情况说明"),
    "bad mobile": ({**REPORT, "mobile": "1391234567"}, "联系方式：手机号码应为以13至19开头的11位数字"),
    "no mobile": ({**REPORT, "mobile": ""}, "联系方式：请填写手机号码"),
    "part that does not exist": ({**REPORT, "parts": ["hukou"], "hukou_explanation": "户口迁移地址有误"},
                                 "您的错误信息情况：户口迁移信息尚未登记，不能选择"),
    "unknown part": ({**REPORT, "parts": ["salary"]},
                     "您的错误信息情况：未知的错误信息类型“salary”（可选：destination、archive、hukou）"),
    "nothing ticked": ({**REPORT, "parts": []}, "您的错误信息情况：请选择错误信息情况"),
    "destination without 有变化/有错误": ({**REPORT, "destination_kind": "maybe"},
                                          "毕业去向信息：请选择毕业去向信息是有变化还是有错误"),
}


@pytest.mark.parametrize("case", list(BAD_REPORTS))
def test_bad_error_reports_are_refused_with_a_clear_message_and_nothing_changed(app, runtime, world, make_graduate,
                                                                                client_for, step, case):
    # rule CNF-3
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    with_info(step, grad.id, "archive")
    body, message = BAD_REPORTS[case]
    resp = api.post(f"{STATE}/report-error", headers=g, json=body)
    assert resp.status_code == 422 and resp.json["error"]["message"] == message, resp.json
    page = client_for("g1").post("/graduate/confirmation", data={**body, "choice": "error"})
    assert page.status_code == 422 and message in text(page)
    assert row_of(runtime, grad.id) is None and messages_of(runtime, "g1") == []


def test_an_explanation_of_exactly_500_characters_is_kept(app, runtime, world, make_graduate, step):
    # rule CNF-3
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    resp = api.post(f"{STATE}/report-error", headers=g,
                    json={"parts": "destination", "destination_kind": "wrong", "destination_explanation": "错" * 500,
                          "mobile": 13912345678})
    assert resp.status_code == 200, resp.json
    assert resp.json["error_parts"] == {"destination": "有错误：" + "错" * 500}
    assert row_of(runtime, grad.id)[0] == "error_reported"


def test_a_confirmed_graduate_may_still_report_an_error(app, runtime, world, make_graduate, client_for):
    # rule CNF-3
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    assert api.post(f"{STATE}/confirm", headers=g).status_code == 200
    web = client_for("g1")
    page = text(web.get("/graduate/confirmation"))
    assert 'id="report-later"' in page and 'id="submit-report"' in page
    bad = web.post("/graduate/confirmation", data={"choice": "error", "parts": "destination", "mobile": "13912345678"})
    assert bad.status_code == 422 and row_of(runtime, grad.id)[0] == "confirmed"
    ok = web.post("/graduate/confirmation", data={"choice": "error", "parts": "destination", "destination_kind": "wrong",
                                                  "destination_explanation": "去向类型选错了", "mobile": "13912345678"})
    assert ok.status_code == 302
    with runtime.Session() as s:
        assert not is_confirmed(s, grad.id)  # VER-6: reports depend on the confirmation holding
    assert row_of(runtime, grad.id)[0] == "error_reported"


# -- CNF-4 ------------------------------------------------------------------------------------------------
def test_a_reported_error_is_revoked_then_confirmed(app, runtime, world, make_graduate, client_for):
    # rule CNF-4
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    none = api.post(f"{STATE}/revoke", headers=g)
    assert none.status_code == 409 and "没有可撤销" in none.json["error"]["message"]
    assert row_of(runtime, grad.id) is None
    report = {"parts": ["destination"], "destination_kind": "wrong", "destination_explanation": "我以为去向有误",
              "mobile": "13912345678"}
    assert api.post(f"{STATE}/report-error", headers=g, json=report).status_code == 200
    resp = api.post(f"{STATE}/revoke", headers=g)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "unconfirmed" and resp.json["may_confirm"] is True and resp.json["error_parts"] == {}
    assert row_of(runtime, grad.id)[2:4] == ({}, None)
    assert api.post(f"{STATE}/revoke", headers=g).status_code == 409
    assert api.post(f"{STATE}/confirm", headers=g).json["status"] == "confirmed"

    # the same through the page: report, 实际信息无误，撤销确认, then 信息无误，确认登记去向
    web = client_for("g1")
    web.post("/graduate/confirmation", data={"choice": "error", **report})
    assert row_of(runtime, grad.id)[0] == "error_reported"
    page = text(web.get("/graduate/confirmation"))
    assert "实际信息无误，撤销确认" in page and 'action="/graduate/confirmation/revoke"' in page
    assert web.post("/graduate/confirmation/revoke").status_code == 302
    page = text(web.get("/graduate/confirmation"))
    assert 'data-status="reconfirm"' in page and 'id="confirmation-form"' in page and 'id="revoke"' not in page
    assert web.post("/graduate/confirmation", data={"choice": "confirm"}).status_code == 302
    assert row_of(runtime, grad.id)[0] == "confirmed"
    assert messages_of(runtime, "g1") == ["已提交去向登记信息有误", "已撤销信息有误的报告", "已确认登记去向",
                                          "已提交去向登记信息有误", "已撤销信息有误的报告", "已确认登记去向"]


# -- CNF-5 ------------------------------------------------------------------------------------------------
def test_a_later_change_asks_for_confirmation_again(app, runtime, world, make_graduate, client_for, step):
    # rules CNF-5, VER-6
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    first = api.post(f"{STATE}/confirm", headers=g).json["confirmed_at"]
    with_info(step, grad.id, "archive")  # e.g. the school registers the archive info later
    with runtime.Session() as s:
        assert not is_confirmed(s, grad.id)
    state = api.get(STATE, headers=g).json
    assert state["status"] == "reconfirm" and state["changed_parts"] == ["archive"] and state["may_confirm"] is True
    web = client_for("g1")
    page = text(web.get("/graduate/confirmation"))
    assert 'id="changed-parts"' in page and "在上次确认后有变化：档案转递信息" in page
    assert 'id="confirmation-form"' in page and "信息无误，确认登记去向" in page
    home = text(web.get("/graduate/destination"))
    assert 'data-status="reconfirm"' in home and "已有变化：档案转递信息" in home
    step(lambda s: info_changed(s, grad.id, "destination"))
    assert api.get(STATE, headers=g).json["changed_parts"] == ["destination", "archive"]

    resp = web.post("/graduate/confirmation", data={"choice": "confirm", "info_version": state["info_version"]})
    assert resp.status_code == 302
    status, confirmed_at, _, _, changed = row_of(runtime, grad.id)
    assert status == "confirmed" and changed == []
    state = api.get(STATE, headers=g).json
    assert state["confirmed_at"] >= first and state["changed_parts"] == [] and 'id="changed-parts"' not in text(
        web.get("/graduate/confirmation"))


def test_a_confirmation_of_info_that_changed_meanwhile_is_refused(app, runtime, world, make_graduate, client_for,
                                                                  step):
    # rules CNF-5, CNF-2
    grad = make_graduate("g1")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    seen = api.get(STATE, headers=g).json["info_version"]
    with_info(step, grad.id, "archive")  # registered while the graduate reads the page
    stale = api.post(f"{STATE}/confirm", headers=g, json={"info_version": seen})
    assert stale.status_code == 409 and "请重新核对" in stale.json["error"]["message"]
    web = client_for("g1")
    page = web.post("/graduate/confirmation", data={"choice": "confirm", "info_version": seen})
    assert page.status_code == 409 and "请重新核对" in text(page) and "档案转递单位名称" in text(page)
    assert row_of(runtime, grad.id) is None and messages_of(runtime, "g1") == []
    fresh = api.get(STATE, headers=g).json["info_version"]
    assert fresh != seen and fresh in text(page)  # the re-drawn page confirms what it now shows
    assert api.post(f"{STATE}/confirm", headers=g, json={"info_version": fresh}).status_code == 200


# -- scope, API document ------------------------------------------------------------------------------------
def test_only_the_graduate_confirms_and_reviewers_read_in_scope(app, runtime, world, make_graduate, make_employer,
                                                                client_for):
    # rules ROLE-1, CNF-2
    grad = make_graduate("g1")
    make_graduate("g2")
    make_employer("hr")
    api = app.test_client()
    g = file_and_approve(api, "g1")
    assert api.post(f"{STATE}/confirm", headers=g).status_code == 200
    for username in ("dept_info", "school", "hr", "admin"):
        headers = token(api, username)
        for path in ("/confirm", "/revoke"):
            assert api.post(STATE + path, headers=headers).status_code == 404, (username, path)
        assert api.get(STATE, headers=headers).status_code == 404
    assert client_for("dept_info").get("/graduate/confirmation").status_code == 404
    for username in ("dept_info", "school", "admin"):
        resp = api.get(f"/api/v1/graduates/{grad.id}/confirmation", headers=token(api, username))
        assert resp.status_code == 200 and resp.json["status"] == "confirmed", username
        assert "may_confirm" not in resp.json
    # logins are logged too (issue 12): take the tokens first, then count only the refusals
    headers = {username: token(api, username) for username in ("dept_econ", "g2", "hr", "school")}
    with runtime.Session() as s:
        logged = s.scalar(select(func.count()).select_from(AccessLog))
    for username in ("dept_econ", "g2", "hr"):
        resp = api.get(f"/api/v1/graduates/{grad.id}/confirmation", headers=headers[username])
        assert resp.status_code == 404 and resp.json["error"]["message"] == "毕业生不存在或无权访问", username
    missing = api.get("/api/v1/graduates/999999/confirmation", headers=headers["school"])
    assert missing.status_code == 404 and missing.json["error"]["message"] == "毕业生不存在或无权访问"
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AccessLog)) == logged + 4
    assert api.get(STATE).status_code == 401


def test_openapi_documents_the_confirmation_routes(app):
    # rule CNF-3
    doc = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/me/confirmation", "/me/confirmation/confirm", "/me/confirmation/report-error",
                 "/me/confirmation/revoke", "/graduates/{graduate_id}/confirmation"):
        assert path in doc["paths"], path
    report = doc["components"]["schemas"]["ConfirmationErrorReport"]
    assert report["properties"]["archive_explanation"]["maxLength"] == 500
    assert report["properties"]["parts"]["items"]["enum"] == ["destination", "archive", "hukou"]
    assert doc["paths"]["/me/confirmation/confirm"]["post"]["requestBody"]["required"] is False


@pytest.mark.parametrize(("act", "existing"), [("confirm", False), ("confirm", True), ("report_error", False)])
def test_the_same_act_twice_at_once_one_wins_the_other_gets_a_clear_conflict(app, runtime, world, make_graduate,
                                                                            actor, step, act, existing):
    # rules CNF-2, CNF-3 (design: one Confirmation row per graduate, locked or unique-keyed in the step)
    import threading

    from core.errors import Conflict
    from processes.confirmation import services

    grad = make_graduate("g1")
    file_and_approve(app.test_client(), "g1")
    g = actor("g1")
    if existing:  # a row to lock: confirmed once, then changed (CNF-5)
        step(lambda s: services.confirm(s, g, grad.id))
        step(lambda s: info_changed(s, grad.id, "archive"))
    before = len(messages_of(runtime, "g1"))
    clean = {"errors": {"destination": "有错误：去向类型选错了"}, "mobile": "13912345678"}
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt():
        with runtime.Session() as s:
            barrier.wait()
            try:
                s.connection(execution_options={"sqlite_immediate": True})
                if act == "confirm":
                    services.confirm(s, g, grad.id)
                else:
                    services.report_error(s, g, grad.id, clean)
                s.commit()
                outcomes.append("ok:" + act)
            except Conflict as exc:
                s.rollback()
                outcomes.append("conflict:" + exc.message)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"], outcomes
    assert row_of(runtime, grad.id)[0] == ("confirmed" if act == "confirm" else "error_reported")
    assert len(messages_of(runtime, "g1")) == before + 1  # the loser wrote nothing
