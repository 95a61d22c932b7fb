"""ROLE-2: the province's school accounts and the school's department accounts, their module permissions, disabling
and password resets, the audit trail (SettingChange), through the pages and /api/v1."""
from __future__ import annotations

from sqlalchemy import func, select

from domain.models import Account, ApiToken, SettingChange
from domain.seed import DEMO_PASSWORD, make_account, make_department, make_province, make_school


def _province(runtime, world, username="province"):
    with runtime.Session() as s:
        acc = make_account(s, username, "province", "福建省教育厅", province_id=world.province.id)
        s.commit()
        return acc.id


def _foreign(runtime):
    """A second province with its own school and accounts (ROLE-1 scope)."""
    with runtime.Session() as s:
        prov = make_province(s, code="330000", name="浙江省")
        school = make_school(s, prov, code="10335", name="浙江大学")
        dept = make_department(s, school, "计算机学院")
        make_account(s, "zj_province", "province", "浙江省教育厅", province_id=prov.id)
        sch = make_account(s, "zj_school", "school", "浙江大学就业中心", school_id=school.id)
        dep = make_account(s, "zj_dept", "department", "计算机学院审核员", school_id=school.id, department_id=dept.id)
        s.commit()
        return {"province": prov.id, "school": school.id, "school_account": sch.id, "dept_account": dep.id,
                "department": dept.id}


def _account(runtime, username):
    with runtime.Session() as s:
        return s.scalar(select(Account).where(Account.username == username))


def _changes(runtime, action=None):
    with runtime.Session() as s:
        q = select(SettingChange)
        if action:
            q = q.where(SettingChange.action == action)
        return list(s.scalars(q.order_by(SettingChange.id)))


def test_province_creates_a_school_account_with_default_permissions(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    client = client_for("province")
    assert client.get("/province/accounts").status_code == 200
    resp = client.post("/province/accounts", data={"username": "xmu_jy", "display_name": "厦门大学就业中心",
                                                   "password": "abc12345", "school_id": str(world.school.id)})
    assert resp.status_code == 302
    acc = _account(runtime, "xmu_jy")
    assert acc.role == "school" and acc.school_id == world.school.id
    # defaults: basic read-write, archive and hukou none (seed 002 表1 注意)
    assert acc.module_permissions == {"basic": "rw", "archive": "none", "hukou": "none"}
    assert acc.password_hash != "abc12345" and acc.password_hash.startswith("pbkdf2:")
    rows = _changes(runtime, "create_account")
    assert len(rows) == 1 and rows[0].target_id == acc.id and rows[0].after["permissions"]["basic"] == "rw"
    assert rows[0].account_id == _account(runtime, "province").id and rows[0].before is None
    # the new account logs in and lands on the inbox
    new = app.test_client()
    assert new.post("/login", data={"username": "xmu_jy", "password": "abc12345"}).status_code == 302


def test_bad_input_is_refused_with_a_reason_and_changes_nothing(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    foreign = _foreign(runtime)
    client = client_for("province")
    cases = [
        ({"username": "school", "display_name": "重名", "password": "abc12345"}, "已被使用"),
        ({"username": "a", "display_name": "短", "password": "abc12345"}, "用户名须为3至50位"),
        ({"username": "newone", "display_name": "弱密码", "password": "12345678"}, "密码至少8位"),
        ({"username": "newone", "display_name": "", "password": "abc12345"}, "请填写账号名称"),
        ({"username": "newone", "display_name": "外省", "password": "abc12345",
          "school_id": str(foreign["school"])}, "请选择本省的高校"),
        ({"username": "newone", "display_name": "坏权限", "password": "abc12345", "perm-archive": "admin"},
         "只能是读写、只读或无权限"),
    ]
    with runtime.Session() as s:
        before = s.scalar(select(func.count()).select_from(Account))
    for data, message in cases:
        body = {"school_id": str(world.school.id), **data}
        resp = client.post("/province/accounts", data=body)
        assert resp.status_code == 422, (data, resp.status_code)
        assert message in resp.get_data(as_text=True), message
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == before
    assert _changes(runtime) == []


def test_province_sets_permissions_and_the_school_account_acts_on_them(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    school = _account(runtime, "school")
    client = client_for("province")
    resp = client.post(f"/accounts/{school.id}/permissions",
                       data={"perm-basic": "rw", "perm-archive": "ro", "perm-hukou": "none"})
    assert resp.status_code == 302
    assert _account(runtime, "school").module_permissions == {"basic": "rw", "archive": "ro", "hukou": "none"}
    row = _changes(runtime, "set_permissions")[0]
    assert row.before["permissions"]["archive"] == "rw" and row.after["permissions"]["archive"] == "ro"
    sc = client_for("school")
    assert sc.get("/school/archive").status_code == 200  # read-only: views
    assert sc.get("/school/hukou").status_code == 404  # none: cannot enter
    page = sc.get("/school/settings").get_data(as_text=True)
    assert 'id="nav-school-archive"' in page and 'id="nav-school-hukou"' not in page


def test_the_department_accounts_of_a_school_are_managed_by_the_school(app, runtime, world, client_for):
    # rule ROLE-2
    client = client_for("school")
    assert client.get("/school/accounts").status_code == 200
    resp = client.post("/school/accounts", data={"username": "dept_new", "display_name": "新院系审核员",
                                                 "password": "abc12345", "department_id": str(world.econ.id),
                                                 "perm-basic": "rw", "perm-archive": "ro", "perm-hukou": "none"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    dept = _account(runtime, "dept_new")
    assert dept.role == "department" and dept.department_id == world.econ.id
    assert dept.module_permissions == {"basic": "rw", "archive": "ro", "hukou": "none"}
    # reset the password: the old one stops working, the new one works
    assert client.post(f"/accounts/{dept.id}/password", data={"password": "xyz98765"}).status_code == 302
    login = app.test_client()
    assert login.post("/login", data={"username": "dept_new", "password": "abc12345"}).status_code == 401
    assert login.post("/login", data={"username": "dept_new", "password": "xyz98765"}).status_code == 302
    assert [r.action for r in _changes(runtime)] == ["create_account", "reset_password"]
    # a department account of another school is not there (ROLE-1)
    foreign = _foreign(runtime)
    for url in (f"/accounts/{foreign['dept_account']}", "/accounts/999999"):
        assert client.get(url).status_code == 404
    assert client.post(f"/accounts/{foreign['dept_account']}/disable").status_code == 404
    assert _account(runtime, "zj_dept").active


def test_a_department_never_gets_more_than_the_school_has(app, runtime, world, client_for, step):
    # rule ROLE-2
    step(lambda s: setattr(s.get(Account, _account(runtime, "school").id), "module_permissions",
                           {"basic": "rw", "archive": "ro", "hukou": "none"}))
    client = client_for("school")
    resp = client.post("/school/accounts", data={"username": "dept_new", "display_name": "新院系审核员",
                                                 "password": "abc12345", "department_id": str(world.econ.id),
                                                 "perm-basic": "rw", "perm-archive": "rw", "perm-hukou": "none"})
    assert resp.status_code == 422 and "不能高于学校账号自己的权限" in resp.get_data(as_text=True)
    assert _account(runtime, "dept_new") is None
    dept = _account(runtime, "dept_info")
    resp = client.post(f"/accounts/{dept.id}/permissions", data={"perm-basic": "rw", "perm-archive": "rw",
                                                                 "perm-hukou": "rw"})
    assert resp.status_code == 422
    assert _account(runtime, "dept_info").module_permissions == {"basic": "rw", "archive": "rw", "hukou": "rw"}


def test_lowering_a_school_account_lowers_its_departments(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    client = client_for("province")
    school = _account(runtime, "school")
    client.post(f"/accounts/{school.id}/permissions", data={"perm-basic": "rw", "perm-archive": "ro",
                                                            "perm-hukou": "none"})
    assert _account(runtime, "dept_info").module_permissions == {"basic": "rw", "archive": "ro", "hukou": "none"}
    capped = [r for r in _changes(runtime, "set_permissions") if r.target_id == _account(runtime, "dept_info").id]
    assert capped and capped[0].reason


def test_disabling_an_account_ends_its_sessions_and_tokens(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    school_client = client_for("school")
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "school", "password": DEMO_PASSWORD}).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/school/settings", headers=auth).status_code == 200
    school = _account(runtime, "school")
    province = client_for("province")
    assert province.post(f"/accounts/{school.id}/disable").status_code == 302
    assert not _account(runtime, "school").active
    # the logged-in browser session and the API token both stop working
    resp = school_client.get("/school/settings")
    assert resp.status_code in (302, 401) and "/login" in resp.headers.get("Location", "/login")
    assert api.get("/api/v1/school/settings", headers=auth).status_code == 401
    with runtime.Session() as s:
        assert s.scalar(select(ApiToken).where(ApiToken.account_id == school.id)).revoked_at is not None
    assert app.test_client().post("/login", data={"username": "school", "password": DEMO_PASSWORD}).status_code == 401
    row = _changes(runtime, "disable_account")[0]
    assert row.before == {"active": True} and row.after == {"active": False}
    # enabled again, it logs in
    assert province.post(f"/accounts/{school.id}/enable").status_code == 302
    assert app.test_client().post("/login", data={"username": "school",
                                                  "password": DEMO_PASSWORD}).status_code == 302


def test_a_province_never_reaches_another_provinces_accounts(app, runtime, world, client_for):
    # rule ROLE-2
    _province(runtime, world)
    foreign = _foreign(runtime)
    client = client_for("province")
    hidden = client.get(f"/accounts/{foreign['school_account']}")
    missing = client.get("/accounts/999999")
    assert hidden.status_code == missing.status_code == 404
    assert client.post(f"/accounts/{foreign['school_account']}/disable").status_code == 404
    assert "zj_school" not in client.get("/province/accounts").get_data(as_text=True)
    # a province does not manage department accounts, even of its own schools
    assert client.get(f"/accounts/{_account(runtime, 'dept_info').id}").status_code == 404
    assert _account(runtime, "zj_school").active and _changes(runtime) == []


def test_the_account_api(app, runtime, world):
    # rule ROLE-2
    _province(runtime, world)
    foreign = _foreign(runtime)
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "province", "password": DEMO_PASSWORD}).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    resp = api.post("/api/v1/province/accounts", headers=auth, json={
        "username": "xmu_api", "display_name": "厦大接口账号", "password": "abc12345", "school_id": world.school.id,
        "permissions": {"archive": "ro"}})
    assert resp.status_code == 201, resp.json
    new_id = resp.json["id"]
    assert resp.json["permissions"] == {"basic": "rw", "archive": "ro", "hukou": "none"}
    again = api.post("/api/v1/province/accounts", headers=auth, json={
        "username": "xmu_api", "display_name": "重名", "password": "abc12345", "school_id": world.school.id})
    assert again.status_code == 422 and "已被使用" in again.json["error"]["message"]
    assert api.put(f"/api/v1/accounts/{new_id}/permissions", headers=auth,
                   json={"permissions": {"hukou": "bad"}}).status_code == 422
    resp = api.put(f"/api/v1/accounts/{new_id}/permissions", headers=auth,
                   json={"permissions": {"basic": "ro", "archive": "rw", "hukou": "rw"}})
    assert resp.status_code == 200 and resp.json["account"]["permissions"]["basic"] == "ro"
    listed = api.get("/api/v1/province/accounts", headers=auth).json["items"]
    assert {a["username"] for a in listed} == {"school", "xmu_api"}
    detail = api.get(f"/api/v1/accounts/{new_id}", headers=auth).json
    assert [c["action"] for c in detail["changes"]] == ["set_permissions", "create_account"]
    assert api.post(f"/api/v1/accounts/{new_id}/disable", headers=auth).json["account"]["active"] is False
    assert api.get(f"/api/v1/accounts/{foreign['school_account']}", headers=auth).status_code == 404
    assert api.get("/api/v1/accounts/999999", headers=auth).status_code == 404
    # a school's department accounts through the API, never above its own
    stoken = api.post("/api/v1/token", json={"username": "school", "password": DEMO_PASSWORD}).json["token"]
    sauth = {"Authorization": f"Bearer {stoken}"}
    resp = api.post("/api/v1/school/accounts", headers=sauth, json={
        "username": "dept_api", "display_name": "接口院系", "password": "abc12345", "department_id": world.info.id})
    assert resp.status_code == 201 and resp.json["permissions"]["basic"] == "rw"
    assert api.post("/api/v1/school/accounts", headers=sauth, json={
        "username": "dept_api2", "display_name": "外校院系", "password": "abc12345",
        "department_id": foreign["department"]}).status_code == 422
    assert len(api.get("/api/v1/school/accounts", headers=sauth).json["items"]) == 3
    # a province is not a school, a school not a province
    assert api.get("/api/v1/school/accounts", headers=auth).status_code == 404
    assert api.get("/api/v1/province/accounts", headers=sauth).status_code == 404
