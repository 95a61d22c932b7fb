"""The permission matrix (ROLE-1, ROLE-2): every route row below × role (school, department, province, graduate,
employer, admin) × permission on the row's area (rw 读写 / ro 只读 / none 无权限, for school and department
accounts) × scope (own, another province's school, a missing id).

Expected answers: a role the route is not for, or none on its area: 404 (the page looks missing); read-only asking
to write: 403; read-only reading: 200; a target outside the scope: 404, the same answer as a missing id. No
foreign record's name ever shows. To cover a new route, add a `Route` row to ROUTES.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from domain.models import Account, Department, Graduate, Province, School
from tests.conftest import page_without_tokens, with_proof

pytestmark = pytest.mark.sqlite_half  # the policy answers the same on both backends; tests/test_scope.py keeps ROLE-1 on PostgreSQL

AREAS = ("basic", "archive", "hukou")
PERMS = ("rw", "ro", "none")
FOREIGN_NAME = "外省生"  # never shown to the own province's accounts
MISSING = 999999
ARCHIVE = {"archive_type": "转回生源地", "archive_unit": "厦门市思明区人才服务中心", "division_code": "350203",
           "archive_address": "湖滨南路1号", "archive_postcode": "361000", "archive_contact": "人事档案室",
           "archive_phone": "0592-1234567", "note": ""}
HUKOU = {"hukou_type": "转回生源地", "division_code": "350203", "hukou_address": "湖滨南路1号", "note": ""}
APPROVE = {"review-decision": "approve", "review-reason": ""}


# -- the data: two provinces, each a school with accounts for every area × permission -------------------------
@dataclass
class Side:
    province_id: int
    school_id: int
    department_id: int
    graduate_id: int  # a graduate with basic info, archive and hukou at the school
    school_account_id: int  # a school account the province manages (not one of the actors)
    dept_account_id: int  # a department account the school manages (not one of the actors)


@dataclass
class Ctx:
    runtime: Any
    own: Side
    foreign: Side
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def side(self, scope: str) -> Side:
        return self.foreign if scope == "foreign" else self.own

    def target(self, scope: str, value: int) -> int:
        return MISSING if scope == "missing" else value


def username(role: str, area: str | None, perm: str | None, prefix: str = "m") -> str:
    if role in ("school", "department"):
        return f"{prefix}_{role}_{area}_{perm}" if area else f"{prefix}_{role}_all_rw"
    return f"{prefix}_{role}"


def _build_side(s, prefix: str, code: str, name: str, school_code: str, grad_name: str) -> Side:
    from domain import seed

    province = seed.make_province(s, code=code, name=name)  # every module enabled (MOD-2)
    school = seed.make_school(s, province, code=school_code, name=f"{name}大学",
                              open_modules=["destination", "archive", "hukou"])  # and set up (MOD-4)
    dept = seed.make_department(s, school, "信息学院")
    for role, area, perm in itertools.chain(
            ((r, a, p) for r in ("school", "department") for a in AREAS for p in PERMS),
            ((r, None, None) for r in ("school", "department"))):
        perms = {a: "rw" for a in AREAS}
        if area:
            perms[area] = perm
        seed.make_account(s, username(role, area, perm, prefix), role, f"{role}-{area}-{perm}", school_id=school.id,
                          department_id=dept.id if role == "department" else None, module_permissions=perms)
    seed.make_account(s, username("province", None, None, prefix), "province", f"{name}教育厅",
                      province_id=province.id)
    grad = seed.make_graduate(s, school, dept, name=grad_name, username=f"{prefix}_graduate")
    seed.make_employer(s, f"{name}某公司", username=f"{prefix}_employer")
    target_school = seed.make_account(s, f"{prefix}_target_school", "school", "被管理的学校账号",
                                      school_id=school.id)
    target_dept = seed.make_account(s, f"{prefix}_target_dept", "department", "被管理的院系账号",
                                    school_id=school.id, department_id=dept.id)
    return Side(province.id, school.id, dept.id, grad.id, target_school.id, target_dept.id)


@pytest.fixture
def ctx(runtime):
    from domain import seed

    with runtime.Session() as s:
        own = _build_side(s, "m", "350000", "福建省", "10384", "本省生")
        foreign = _build_side(s, "f", "330000", "浙江省", "10335", FOREIGN_NAME)
        seed.make_account(s, "m_admin", "admin", "管理员")
        s.commit()
    return Ctx(runtime, own, foreign)


# -- fresh work items for the review rows -----------------------------------------------------------------------
def _fresh_instance(ctx: Ctx, scope: str, role: str, kind: str) -> int:
    """A new application of `kind` by a new graduate of the scope's school, waiting in the lane of `role`
    (a school account: school-only review, MOD-6; otherwise the department's first level)."""
    from domain import seed
    from domain.accounts import actor_for
    from processes.archive.kind import SPEC as ARCHIVE_SPEC
    from processes.destination import services as filing
    from processes.hukou.kind import SPEC as HUKOU_SPEC
    from processes.transfers import services as transfer_services

    side = ctx.side(scope)
    n = next(ctx.seq)
    with ctx.runtime.Session() as s:
        school = s.get(School, side.school_id)
        school.review_levels = "school_only" if role == "school" else "department_school"
        grad = seed.make_graduate(s, school, s.get(Department, side.department_id), name=f"申请人{n}",
                                  username=f"{scope}_applicant_{kind}_{n}")
        s.commit()
    with ctx.runtime.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        grad = s.get(Graduate, grad.id)
        actor = actor_for(s, s.scalar(select(Account).where(Account.id_number == grad.id_number)))
        if kind == "basic":
            inst = filing.start_filing(s, ctx.runtime.runner, actor, grad, with_proof(s, grad.id))
        else:
            spec = ARCHIVE_SPEC if kind == "archive" else HUKOU_SPEC
            inst = transfer_services.start(spec, s, ctx.runtime.runner, actor, grad, "registration",
                                           {**(ARCHIVE if kind == "archive" else HUKOU), "attachment_ids": []})
        s.get(School, side.school_id).review_levels = "department_school"
        s.commit()
        return inst.id


def _fresh_item(ctx: Ctx, scope: str, role: str, kind: str) -> int:
    from engine.models import WorkItem

    inst_id = _fresh_instance(ctx, scope, role, kind)
    with ctx.runtime.Session() as s:
        return s.scalar(select(WorkItem.id).where(WorkItem.instance_id == inst_id, WorkItem.state == "open"))


def item_url(kind: str) -> Callable[[Ctx, str, str], str]:
    def build(ctx: Ctx, scope: str, role: str) -> str:
        return f"/review/items/{MISSING if scope == 'missing' else _fresh_item(ctx, scope, role, kind)}"
    return build


def instance_url(kind: str) -> Callable[[Ctx, str, str], str]:
    def build(ctx: Ctx, scope: str, role: str) -> str:
        return f"/review/instances/{MISSING if scope == 'missing' else _fresh_instance(ctx, scope, role, kind)}"
    return build


def graduate_url(template: str) -> Callable[[Ctx, str, str], str]:
    def build(ctx: Ctx, scope: str, role: str) -> str:
        return template.format(id=ctx.target(scope, ctx.side(scope).graduate_id))
    return build


def account_url(template: str) -> Callable[[Ctx, str, str], str]:
    """A province manages school accounts, a school its department accounts."""
    def build(ctx: Ctx, scope: str, role: str) -> str:
        side = ctx.side(scope)
        return template.format(id=ctx.target(scope, side.school_account_id if role == "province"
                                             else side.dept_account_id))
    return build


def fixed(url: str) -> Callable[[Ctx, str, str], str]:
    return lambda ctx, scope, role: url


def reopen(module: str, url: str) -> Callable[[Ctx, str, str], str]:
    """The school's module settings are one way: take the module back first, so each call may open it."""
    def build(ctx: Ctx, scope: str, role: str) -> str:
        with ctx.runtime.Session() as s:
            school = s.get(School, ctx.own.school_id)
            school.open_modules = [m for m in school.open_modules if m != module]
            s.commit()
        return url
    return build


def re_enable(module: str, url: str) -> Callable[[Ctx, str, str], str]:
    def build(ctx: Ctx, scope: str, role: str) -> str:
        with ctx.runtime.Session() as s:
            province = s.get(Province, ctx.own.province_id)
            province.enabled_modules = [m for m in province.enabled_modules if m != module]
            s.commit()
        return url
    return build


def new_department_account(ctx: Ctx) -> dict[str, Any]:
    return {"username": f"new_dept_{next(ctx.seq)}", "display_name": "新院系账号", "password": "abc12345",
            "department_id": str(ctx.own.department_id), "perm-basic": "ro", "perm-archive": "none",
            "perm-hukou": "none"}


REVIEWERS = ("school", "department")


@dataclass(frozen=True)
class Route:
    """One row of the matrix."""

    name: str
    method: str
    url: Callable[[Ctx, str, str], str]  # (ctx, scope own/foreign/missing, role) -> the URL
    area: str | None  # the ROLE-2 area it belongs to (for school and department accounts), or None
    write: bool
    roles: tuple[str, ...]  # the roles it is for; every other role gets 404
    ok: int = 200
    target: bool = False  # it names one record: foreign and missing ids must answer 404 alike
    data: Callable[[Ctx], dict[str, Any]] | None = None
    api: bool = False  # /api/v1, authenticated by a token (JSON body)
    # the area comes from the record itself (a work item): outside the scope it is missing before it is read-only
    area_from_record: bool = False


ROUTES: list[Route] = [
    # 基本信息和就业信息: the reviews of destination filing, the school's department accounts, review levels
    Route("inbox", "GET", fixed("/review/inbox"), None, False, REVIEWERS),
    Route("basic review page", "GET", item_url("basic"), "basic", False, REVIEWERS, target=True),
    Route("basic review decision", "POST", item_url("basic"), "basic", True, REVIEWERS, ok=302, target=True, area_from_record=True,
          data=lambda ctx: APPROVE),
    Route("basic record", "GET", instance_url("basic"), "basic", False, REVIEWERS, target=True),
    Route("department accounts", "GET", fixed("/school/accounts"), "basic", False, ("school",)),
    Route("new department account", "POST", fixed("/school/accounts"), "basic", True, ("school",), ok=302,
          data=new_department_account),
    Route("one managed account", "GET", account_url("/accounts/{id}"), "basic", False, ("school", "province"),
          target=True),
    Route("set an account's permissions", "POST", account_url("/accounts/{id}/permissions"), "basic", True,
          ("school", "province"), ok=302, target=True,
          data=lambda ctx: {"perm-basic": "ro", "perm-archive": "none", "perm-hukou": "none"}),
    Route("disable an account", "POST", account_url("/accounts/{id}/disable"), "basic", True, ("school", "province"),
          ok=302, target=True),
    Route("review levels", "POST", fixed("/school/settings"), "basic", True, ("school",), ok=302,
          data=lambda ctx: {"what": "review_levels", "review_levels": "department_school"}),
    Route("api department accounts", "GET", fixed("/api/v1/school/accounts"), "basic", False, ("school",), api=True),
    Route("api one account", "GET", account_url("/api/v1/accounts/{id}"), "basic", False, ("school", "province"),
          target=True, api=True),
    Route("api review levels", "PUT", fixed("/api/v1/school/review-levels"), "basic", True, ("school",), api=True,
          data=lambda ctx: {"review_levels": "department_school"}),
    # 档案信息
    Route("archive list", "GET", fixed("/school/archive"), "archive", False, ("school",)),
    Route("archive of a graduate", "GET", graduate_url("/school/archive/{id}"), "archive", False, ("school",),
          target=True),
    Route("archive registered by the school", "POST", graduate_url("/school/archive/{id}"), "archive", True,
          ("school",), ok=302, target=True, data=lambda ctx: ARCHIVE),
    Route("api archive of a graduate", "GET", graduate_url("/api/v1/school/graduates/{id}/archive"), "archive",
          False, ("school",), target=True, api=True),
    Route("api archive registered by the school", "POST", graduate_url("/api/v1/school/graduates/{id}/archive"),
          "archive", True, ("school",), ok=201, target=True, api=True, data=lambda ctx: ARCHIVE),
    Route("archive review page", "GET", item_url("archive"), "archive", False, REVIEWERS, target=True),
    Route("archive review decision", "POST", item_url("archive"), "archive", True, REVIEWERS, ok=302, target=True,
          area_from_record=True,
          data=lambda ctx: APPROVE),
    Route("archive record", "GET", instance_url("archive"), "archive", False, REVIEWERS, target=True),
    Route("transfer codes", "GET", fixed("/school/verification"), "archive", False, ("school",)),
    Route("issue a transfer code", "POST", graduate_url("/school/verification/graduates/{id}/transfer-code"),
          "archive", True, ("school",), ok=302),
    Route("open the archive module", "POST", reopen("archive", "/school/settings"), "archive", True, ("school",),
          ok=302, data=lambda ctx: {"what": "module", "module": "archive"}),
    Route("api open the archive module", "POST", reopen("archive", "/api/v1/school/modules"), "archive", True,
          ("school",), api=True, data=lambda ctx: {"module": "archive"}),
    # 户口信息
    Route("hukou list", "GET", fixed("/school/hukou"), "hukou", False, ("school",)),
    Route("hukou of a graduate", "GET", graduate_url("/school/hukou/{id}"), "hukou", False, ("school",),
          target=True),
    Route("hukou registered by the school", "POST", graduate_url("/school/hukou/{id}"), "hukou", True, ("school",),
          ok=302, target=True, data=lambda ctx: HUKOU),
    Route("api hukou of a graduate", "GET", graduate_url("/api/v1/school/graduates/{id}/hukou"), "hukou", False,
          ("school",), target=True, api=True),
    Route("api hukou registered by the school", "POST", graduate_url("/api/v1/school/graduates/{id}/hukou"), "hukou",
          True, ("school",), ok=201, target=True, api=True, data=lambda ctx: HUKOU),
    Route("hukou review page", "GET", item_url("hukou"), "hukou", False, REVIEWERS, target=True),
    Route("hukou review decision", "POST", item_url("hukou"), "hukou", True, REVIEWERS, ok=302, target=True,
          area_from_record=True,
          data=lambda ctx: APPROVE),
    Route("open the hukou module", "POST", reopen("hukou", "/school/settings"), "hukou", True, ("school",), ok=302,
          data=lambda ctx: {"what": "module", "module": "hukou"}),
    # no area: the school's settings page, the province's pages (MOD-2, ROLE-2)
    Route("school settings", "GET", fixed("/school/settings"), None, False, ("school",)),
    Route("api school settings", "GET", fixed("/api/v1/school/settings"), None, False, ("school",), api=True),
    Route("province home", "GET", fixed("/province"), None, False, ("province",)),
    Route("province settings", "GET", fixed("/province/settings"), None, False, ("province",)),
    Route("province enables a module", "POST", re_enable("hukou", "/province/settings"), None, True, ("province",),
          ok=302, data=lambda ctx: {"module": "hukou"}),
    Route("province accounts", "GET", fixed("/province/accounts"), None, False, ("province",)),
    Route("api province settings", "GET", fixed("/api/v1/province/settings"), None, False, ("province",), api=True),
    Route("api province enables a module", "POST", re_enable("archive", "/api/v1/province/modules"), None, True,
          ("province",), api=True, data=lambda ctx: {"module": "archive"}),
]


def actors(route: Route) -> list[tuple[str, str | None]]:
    """Every role; school and department accounts with each permission on the route's area (rw elsewhere)."""
    perms = PERMS if route.area else ("rw",)
    return [(role, perm) for role in REVIEWERS for perm in perms] + \
        [(role, None) for role in ("province", "graduate", "employer", "admin")]


def expected(route: Route, role: str, perm: str | None, scope: str) -> int:
    if role not in route.roles:
        return 404
    if route.area_from_record and scope in ("foreign", "missing"):
        return 404  # ROLE-1
    if route.area and role in REVIEWERS:
        if perm == "none":
            return 404  # ROLE-2 无权限: cannot enter the module
        if route.write and perm == "ro":
            return 403  # ROLE-2 只读: view and download only
    if route.target and scope in ("foreign", "missing"):
        return 404  # ROLE-1
    return route.ok


class Callers:
    """One logged-in client (pages) or token (API) per account, made when first needed."""

    def __init__(self, app):
        self.app = app
        self.clients: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}

    def call(self, route: Route, name: str, url: str, data: dict[str, Any] | None):
        from domain.seed import DEMO_PASSWORD

        if route.api:
            if name not in self.tokens:
                resp = self.app.test_client().post("/api/v1/token", json={"username": name,
                                                                          "password": DEMO_PASSWORD})
                assert resp.status_code == 200, (name, resp.json)
                self.tokens[name] = resp.json["token"]
            client = self.app.test_client()
            kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.tokens[name]}"}}
            if route.method != "GET":
                kwargs["json"] = data or {}
            return client.open(url, method=route.method, **kwargs)
        if name not in self.clients:
            client = self.app.test_client()
            resp = client.post("/login", data={"username": name, "password": DEMO_PASSWORD})
            assert resp.status_code == 302, name
            self.clients[name] = client
        return self.clients[name].open(url, method=route.method, data=data)


def _answer(resp) -> str:
    """A response's text without CSRF tokens and without the flash a previous successful call left behind."""
    return re.sub(r'<div class="flash[^"]*">[^<]*</div>', "", page_without_tokens(resp))


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_permission_matrix(app, runtime, ctx, route):
    # rules ROLE-1, ROLE-2
    callers = Callers(app)
    wrong = []
    for (role, perm), scope in itertools.product(actors(route), ("own", "foreign") if route.target else ("own",)):
        name = username(role, route.area, perm)
        url = route.url(ctx, scope, role)
        resp = callers.call(route, name, url, route.data(ctx) if route.data else None)
        want = expected(route, role, perm, scope)
        if resp.status_code != want:
            wrong.append(f"{role}/{perm}/{scope} {route.method} {url}: {resp.status_code}, expected {want}: "
                         f"{resp.get_data(as_text=True)[:160]!r}")
        elif FOREIGN_NAME in resp.get_data(as_text=True):
            wrong.append(f"{role}/{perm}/{scope} {url}: shows the other province's graduate")
        if scope == "foreign" and want == 404 and role in route.roles:
            # ROLE-1: the same answer as a missing id, word for word
            missing = callers.call(route, name, route.url(ctx, "missing", role),
                                   route.data(ctx) if route.data else None)
            if (missing.status_code, _answer(missing)) != (resp.status_code, _answer(resp)):
                wrong.append(f"{role}/{perm} {route.method} {url}: a foreign record answers unlike a missing one")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_every_area_and_role():
    # rule ROLE-2
    assert {r.area for r in ROUTES} >= set(AREAS)
    for area in AREAS:
        rows = [r for r in ROUTES if r.area == area]
        assert any(r.write for r in rows) and any(not r.write for r in rows), area
    assert {role for r in ROUTES for role in r.roles} >= {"school", "department", "province"}


def test_none_hides_the_area_from_menus_and_inbox(app, runtime, ctx):
    # rule ROLE-2
    items = {kind: _fresh_item(ctx, "own", "department", kind) for kind in AREAS}
    callers = Callers(app)
    inbox = Route("inbox", "GET", fixed("/review/inbox"), None, False, REVIEWERS)
    for area in AREAS:
        shown = callers.call(inbox, username("department", area, "none"), "/review/inbox", None).get_data(as_text=True)
        for kind, item_id in items.items():
            assert (f"/review/items/{item_id}" in shown) == (kind != area), (area, kind)
        ro = callers.call(inbox, username("department", area, "ro"), "/review/inbox", None).get_data(as_text=True)
        assert f"/review/items/{items[area]}" in ro and "查看（只读）" in ro
        page = callers.call(inbox, username("department", area, "ro"), f"/review/items/{items[area]}", None)
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="read-only-notice"' in text and 'id="submit-review"' not in text
    menu = Route("settings", "GET", fixed("/school/settings"), None, False, ("school",))
    for area, element in (("archive", "nav-school-archive"), ("hukou", "nav-school-hukou")):
        assert f'id="{element}"' not in callers.call(menu, username("school", area, "none"), "/school/settings",
                                                     None).get_data(as_text=True)
        assert f'id="{element}"' in callers.call(menu, username("school", area, "ro"), "/school/settings",
                                                 None).get_data(as_text=True)
