"""Audit coverage (issue 12, must-hold 6): one of each kind of act, through the pages and the API, and the row
it leaves in an append-only log (tests/test_audit_append_only.py proves the database refuses to rewrite them):

- audit_event: every engine step (start, complete), a reviewer's decision, an admin's action on an instance;
- setting_change: accounts, permissions and module settings, sync retries, dispute decisions;
- verification_lookup: every public verification look-up (VER-8);
- access_log, by kind: login and login_failed (pages and API), logout, lookup (the public agreement check),
  refusal (ROLE-1), and step: any other write (a school's edit of basic info, a graduate's contact details,
  a school's direct archive registration), which webapp.session.run_step records when the step wrote no
  audit row of its own.
"""
from __future__ import annotations

from sqlalchemy import func, select

from domain.models import AccessLog, Graduate, Province, SettingChange
from domain.seed import DEMO_PASSWORD
from engine.models import AuditEvent, WorkItem
from processes.verification.models import VerificationLookup
from tests.conftest import with_proof
from tests.test_roster_edit import form as roster_row

ARCHIVE = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
           "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
           "archive_phone": "0592-1234567", "note": ""}


def _count(runtime, model, *where) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _access(runtime, kind: str, **match) -> list[AccessLog]:
    with runtime.Session() as s:
        rows = list(s.scalars(select(AccessLog).where(AccessLog.kind == kind).order_by(AccessLog.id)))
    return [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]


def _token(app, username: str) -> dict:
    resp = app.test_client().post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 200
    return {"Authorization": f"Bearer {resp.json['token']}"}


def test_logins_logouts_and_refusals_are_logged(app, runtime, world, make_graduate):
    # issue 12 must-hold 6: login (success and failure, page and API) and logout; rule ROLE-1: refusals
    grad = make_graduate("grad_a")
    client = app.test_client()
    assert client.post("/login", data={"username": "grad_a", "password": "wrong-1"}).status_code == 401
    assert client.post("/login", data={"username": "grad_a", "password": DEMO_PASSWORD}).status_code == 302
    assert [r.reason for r in _access(runtime, "login_failed")] == ["login failed grad_a"]
    assert [r.reason for r in _access(runtime, "login")] == ["login grad_a"]
    assert client.get("/review/instances/999999").status_code == 404  # not a reviewer: refused
    assert client.post("/logout").status_code == 302
    assert [r.path for r in _access(runtime, "logout")] == ["/logout"]
    api = app.test_client()
    assert api.post("/api/v1/token", json={"username": "grad_a", "password": "wrong-2"}).status_code == 401
    _token(app, "grad_a")
    assert [r.path for r in _access(runtime, "login_failed")][-1] == "/api/v1/token"
    assert [r.reason for r in _access(runtime, "login")][-1] == "api token grad_a"
    headers = _token(app, "dept_econ")
    assert api.get(f"/api/v1/graduates/{grad.id}/confirmation", headers=headers).status_code == 404
    assert _access(runtime, "refusal"), "a refusal out of scope is logged"
    accounts = {r.account_id for r in _access(runtime, "login")} | {r.account_id for r in _access(runtime, "logout")}
    assert None not in accounts  # each names the account


def test_steps_edits_and_admin_actions_are_logged(app, runtime, world, make_graduate, client_for, step, actor):
    # issue 12 must-hold 6: every step (audit_event), every edit and admin action (setting_change, or a step row)
    from processes.destination import services as filing

    grad = make_graduate("grad_a")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, actor("grad_a"), s.get(Graduate, grad.id),
                                              with_proof(s, grad.id)))
    assert _count(runtime, AuditEvent, AuditEvent.instance_id == inst.id, AuditEvent.action == "start") == 1
    with runtime.Session() as s:
        item_id = s.scalar(select(WorkItem.id).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
    dept = client_for("dept_info")
    assert dept.post(f"/review/items/{item_id}", data={"review-decision": "approve", "review-reason": ""}) \
        .status_code == 302  # a reviewer's decision through the page
    assert _count(runtime, AuditEvent, AuditEvent.instance_id == inst.id, AuditEvent.decision == "approve") == 1
    admin = client_for("admin")
    assert admin.post(f"/admin/instances/{inst.id}/suspend", data={"reason": "核查"}).status_code == 302
    assert _count(runtime, AuditEvent, AuditEvent.instance_id == inst.id, AuditEvent.action == "suspend") == 1
    assert admin.post("/admin/sync/retry-failed").status_code == 302
    assert _count(runtime, SettingChange, SettingChange.action == "sync_retry") == 1
    # a province's setting (setting_change)
    from domain import seed

    with runtime.Session() as s:
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=world.province.id)
        s.get(Province, world.province.id).enabled_modules = ["destination", "archive"]
        s.commit()
    prov = _token(app, "prov")
    assert app.test_client().post("/api/v1/province/modules", json={"module": "hukou"}, headers=prov).status_code \
        == 200
    assert _count(runtime, SettingChange, SettingChange.action == "enable_module") == 1
    # writes outside any process: each leaves a step row naming who, where and which operation
    school = _token(app, "school")
    api = app.test_client()
    added = api.post("/api/v1/school/graduates", json=roster_row(1), headers=school)  # GRAD-1 basic info
    assert added.status_code == 201, added.json
    assert api.delete(f"/api/v1/school/graduates/{added.json['id']}", headers=school).status_code == 200  # GRAD-5
    with runtime.Session() as s:
        s.get(type(world.school), world.school.id).open_modules = ["destination", "archive", "hukou"]
        s.commit()
    assert api.post(f"/api/v1/school/graduates/{grad.id}/archive", json=ARCHIVE, headers=school).status_code == 201
    mine = _token(app, "grad_a")
    assert api.post("/api/v1/me/contact", json={"phone": "13912349999", "email": "a@example.com"},
                    headers=mine).status_code == 200
    steps = [r.reason for r in _access(runtime, "step")]
    assert {"POST roster_api.add_graduate", "DELETE roster_api.delete_graduate"} <= set(steps)
    assert "POST archive_api.school_archive" in steps
    assert "POST api.update_contact" in steps
    assert all(r.account_id for r in _access(runtime, "step")), [(r.reason, r.account_id) for r in _access(runtime, "step")]
    # a step that wrote its own audit rows gets no second one
    assert not any(reason.startswith("POST review.item") for reason in steps)


def test_public_look_ups_are_logged(app, runtime, world, make_graduate):
    # rule VER-8 (design): every public look-up is logged; issue 12: the agreement check page too
    make_graduate("grad_a", name="甲某某")
    anon = app.test_client()
    assert anon.get("/verify?name=甲某某&code=ABCDEFGHJKLMNPQ").status_code in (200, 404)
    assert anon.get("/verify?name=甲某某&code=ZZZZZZZZZZZZZZZ").status_code in (200, 404)
    assert _count(runtime, VerificationLookup) == 2
    assert anon.get("/agreements/check?no=2026350000000000001&name=甲某某").status_code == 200
    assert [r.reason for r in _access(runtime, "lookup")] == ["agreement check 2026350000000000001 none"]
    assert anon.get("/agreements/check").status_code == 200  # the empty form is no look-up
    assert len(_access(runtime, "lookup")) == 1
