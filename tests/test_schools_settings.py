"""MOD-2..6: the province enables modules (one way) and picks the agreement type; a school with read-write on a
module's area completes its settings; only then its graduates use the module; review levels apply to
applications started after the change. Every change is audited (SettingChange)."""
from __future__ import annotations

from sqlalchemy import select

from domain.models import Account, Graduate, Province, School, SettingChange
from domain.seed import DEMO_PASSWORD, make_account, make_province, make_school
from tests.conftest import open_items, with_proof


def _province(runtime, world, enabled=None, agreement_type="three_party"):
    with runtime.Session() as s:
        prov = s.get(Province, world.province.id)
        prov.enabled_modules = list(enabled if enabled is not None else [])
        prov.agreement_type = agreement_type
        s.get(School, world.school.id).open_modules = []
        make_account(s, "province", "province", "福建省教育厅", province_id=world.province.id)
        s.commit()


def _state(runtime, world):
    with runtime.Session() as s:
        prov, school = s.get(Province, world.province.id), s.get(School, world.school.id)
        return list(prov.enabled_modules), prov.agreement_type, list(school.open_modules), school.review_levels


def _actions(runtime):
    with runtime.Session() as s:
        return [(r.action, r.target) for r in s.scalars(select(SettingChange).order_by(SettingChange.id))]


def test_the_province_enables_each_module_once_and_never_disables_it(app, runtime, world, client_for):
    # rule MOD-2
    _province(runtime, world)
    client = client_for("province")
    page = client.get("/province/settings").get_data(as_text=True)
    assert "一旦开启，不可再关闭" in page and 'id="enable-archive"' in page
    assert client.post("/province/settings", data={"module": "archive"}).status_code == 302
    assert _state(runtime, world)[0] == ["archive"]
    page = client.get("/province/settings").get_data(as_text=True)
    assert 'id="enable-archive"' not in page and 'id="enable-hukou"' in page  # no way to switch it off
    again = client.post("/province/settings", data={"module": "archive"})
    assert again.status_code == 409 and "不可再关闭" in again.get_data(as_text=True)
    assert client.post("/province/settings", data={"module": "nothing"}).status_code == 422
    assert _state(runtime, world)[0] == ["archive"]
    # the API refuses a disable with the same message, and changes nothing
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "province", "password": DEMO_PASSWORD}).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    resp = api.delete("/api/v1/province/modules/archive", headers=auth)
    assert resp.status_code == 409 and "不可再关闭" in resp.json["error"]["message"]
    resp = api.post("/api/v1/province/modules", headers=auth, json={"module": "hukou"})
    assert resp.status_code == 200 and resp.json["province"]["enabled_modules"] == ["archive", "hukou"]
    assert _state(runtime, world)[0] == ["archive", "hukou"]
    assert _actions(runtime) == [("enable_module", "province"), ("enable_module", "province")]
    with runtime.Session() as s:
        row = s.scalars(select(SettingChange).order_by(SettingChange.id)).first()
        assert row.before["enabled_modules"] == [] and row.after["enabled_modules"] == ["archive"]


def test_enabling_destination_sets_the_agreement_type_which_is_then_fixed(app, runtime, world, client_for):
    # rule MOD-3
    _province(runtime, world)
    client = client_for("province")
    resp = client.post("/province/settings", data={"module": "destination"})
    assert resp.status_code == 422 and "电子就业协议书类型" in resp.get_data(as_text=True)
    assert _state(runtime, world)[0] == []
    resp = client.post("/province/settings", data={"module": "destination", "agreement_type": "two_party"})
    assert resp.status_code == 302
    enabled, agreement_type, _, _ = _state(runtime, world)
    assert enabled == ["destination"] and agreement_type == "two_party"
    assert "两方协议" in client.get("/province/settings").get_data(as_text=True)
    api = app.test_client()
    token = api.post("/api/v1/token", json={"username": "province", "password": DEMO_PASSWORD}).json["token"]
    resp = api.put("/api/v1/province/agreement-type", headers={"Authorization": f"Bearer {token}"},
                   json={"agreement_type": "three_party"})
    assert resp.status_code == 409 and "不可再更改" in resp.json["error"]["message"]
    assert _state(runtime, world)[1] == "two_party"


def test_a_graduate_uses_a_module_only_after_province_and_school(app, runtime, world, make_graduate, client_for):
    # rules MOD-2, MOD-4
    _province(runtime, world)
    make_graduate("g1")
    grad = client_for("g1")
    resp = grad.get("/graduate/archive")
    assert resp.status_code == 403 and "省级主管部门尚未开通“档案信息登记”模块" in resp.get_data(as_text=True)
    school = client_for("school")
    page = school.get("/school/settings").get_data(as_text=True)
    assert 'id="open-archive"' not in page and "省级主管部门尚未开启该模块" in page
    # the school cannot open what the province has not enabled
    resp = school.post("/school/settings", data={"what": "module", "module": "archive"})
    assert resp.status_code == 409 and "省级主管部门尚未开启" in resp.get_data(as_text=True)
    client_for("province").post("/province/settings", data={"module": "archive"})
    resp = grad.get("/graduate/archive")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 403 and "学校就业部门" in text and "档案信息登记" in text  # says who must act
    assert 'id="open-archive"' in school.get("/school/settings").get_data(as_text=True)
    assert school.post("/school/settings", data={"what": "module", "module": "archive",
                                                 "review_levels": "department_school"}).status_code == 302
    assert _state(runtime, world)[2] == ["archive"]
    assert grad.get("/graduate/archive").status_code == 200
    modules = grad.get("/graduate").get_data(as_text=True)
    assert 'id="module-archive" href="/graduate/archive"' in modules
    # destination, still closed, tells the graduate who must act
    resp = grad.get("/graduate/destination")
    assert resp.status_code == 403 and "省级主管部门" in resp.get_data(as_text=True)
    assert _actions(runtime) == [("enable_module", "province"), ("open_module", "school")]


def test_only_a_school_account_with_read_write_on_the_area_completes_the_settings(app, runtime, world, client_for,
                                                                                  step):
    # rules MOD-4, ROLE-2
    _province(runtime, world, enabled=["archive", "hukou"])
    step(lambda s: setattr(s.scalar(select(Account).where(Account.username == "school")), "module_permissions",
                           {"basic": "rw", "archive": "ro", "hukou": "none"}))
    school = client_for("school")
    page = school.get("/school/settings").get_data(as_text=True)
    assert 'id="open-archive"' not in page and 'id="open-hukou"' not in page
    assert "需由对该模块有读写权限的学校账号完成设置" in page
    assert school.post("/school/settings", data={"what": "module", "module": "archive"}).status_code == 403
    assert school.post("/school/settings", data={"what": "module", "module": "hukou"}).status_code == 404
    assert _state(runtime, world)[2] == [] and _actions(runtime) == []


def test_review_levels_apply_to_applications_started_after_the_change(app, runtime, world, make_graduate,
                                                                     client_for, step, actor):
    # rule MOD-6
    from processes.destination import services as filing

    make_graduate("g1")
    make_graduate("g2")

    def file(username):
        a = actor(username)
        return step(lambda s: filing.start_filing(s, runtime.runner, a, s.get(Graduate, a.graduate_id),
                                                  with_proof(s, a.graduate_id)))

    first = file("g1")
    school = client_for("school")
    assert school.post("/school/settings", data={"what": "review_levels",
                                                 "review_levels": "school_only"}).status_code == 302
    assert _state(runtime, world)[3] == "school_only"
    second = file("g2")
    assert [i.role for i in open_items(runtime, first.id)] == ["Department"]
    assert [i.role for i in open_items(runtime, second.id)] == ["School"]
    assert school.post("/school/settings", data={"what": "review_levels", "review_levels": "nobody"}).status_code == 422
    assert _state(runtime, world)[3] == "school_only"
    assert _actions(runtime) == [("set_review_levels", "school")]


def test_module_settings_api_and_scope(app, runtime, world):
    # rules MOD-2, MOD-4, ROLE-1
    _province(runtime, world, enabled=["hukou"])
    with runtime.Session() as s:
        other = make_province(s, code="330000", name="浙江省", enabled_modules=[])
        make_school(s, other, code="10335", name="浙江大学")
        make_account(s, "zj_province", "province", "浙江省教育厅", province_id=other.id)
        s.commit()
    api = app.test_client()

    def auth(username):
        token = api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json["token"]
        return {"Authorization": f"Bearer {token}"}

    sauth = auth("school")
    info = api.get("/api/v1/school/settings", headers=sauth).json["school"]
    hukou = next(m for m in info["modules"] if m["module"] == "hukou")
    assert hukou == {"module": "hukou", "name": "户口信息登记", "area": "hukou", "enabled_by_province": True,
                     "open": False}
    resp = api.post("/api/v1/school/modules", headers=sauth, json={"module": "hukou", "review_levels": "school_only"})
    assert resp.status_code == 200, resp.json
    assert _state(runtime, world)[2:] == (["hukou"], "school_only")
    assert api.post("/api/v1/school/modules", headers=sauth, json={"module": "archive"}).status_code == 409
    # the other province's settings and schools never show
    zauth = auth("zj_province")
    doc = api.get("/api/v1/province/settings", headers=zauth).json
    assert [s["name"] for s in doc["schools"]] == ["浙江大学"] and doc["province"]["enabled_modules"] == []
    assert api.post("/api/v1/province/modules", headers=zauth, json={"module": "archive"}).status_code == 200
    assert _state(runtime, world)[0] == ["hukou"]  # Fujian untouched
    # a school is not a province
    assert api.post("/api/v1/province/modules", headers=sauth, json={"module": "archive"}).status_code == 404


def test_province_home_and_menus(app, runtime, world, client_for):
    # rule MOD-2
    _province(runtime, world)
    client = client_for("province")
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/province")
    page = client.get("/province").get_data(as_text=True)
    assert "欢迎使用本系统" in page and 'href="/province/settings"' in page
    for element in ("nav-province-home", "nav-province-accounts", "nav-province-settings"):
        assert f'id="{element}"' in page
    assert 'id="nav-school-settings"' not in page
    school_page = client_for("school").get("/school/settings").get_data(as_text=True)
    for element in ("nav-school-settings", "nav-school-accounts", "nav-school-archive", "nav-school-hukou",
                    "nav-school-transfer-codes"):
        assert f'id="{element}"' in school_page
    assert 'id="nav-province-home"' not in school_page
