"""Authorisation over EVERY route (issue 12, must-hold 1): each rule of app.url_map, each of its methods, is
asked by every role in its own scope and by actors of foreign scopes, over one seeded world.

Own scope: anonymous, graduate A, the employer that invited A, A's department, A's school, A's province and
the admin call every route with ids of their own scope (A's invitation and filing, the item waiting in their
lane, an account they manage, a dispute of their province). Each answer falls in a class: ok (2xx/3xx), bad
(authorised, the junk body refused: 400/409/422), no (401/403/404, or a redirect to the login page) or 405.
tests/test_authz_routes_known.py declares the class of every (method, endpoint) × role; any difference fails,
a role that gets MORE than declared too.

Foreign scope: graduate B of A's school, the other department, the reviewer of another school, another
employer and another province's user ask every route with the ids of A's scope: no 5xx, a foreign id answers
like a missing one (the same status), and no answer carries A's name, 身份证号, 考生号 or attachment URL
(the 422 page of issue 12 echoed a foreign attachment id).

Both share one world and one client (cookie and token) per account. A new endpoint or method fails
`test_every_route_is_classified` until it is declared: a decision, not an accident.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter

from domain.seed import DEMO_PASSWORD
from tests.conftest import TERMS, png_bytes, with_proof
from webapp.extensions import limiter

pytestmark = pytest.mark.sqlite_half  # the policy answers the same on both backends (test_scope keeps PostgreSQL)

NAME = "甲某某"  # graduate A's name: in no answer to a foreign actor
MISSING = 999999
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
SKIP = {"auth.logout", "static"}  # logout would end the shared client; static files are no one's records
# the role a table column names -> the account that plays it in its own scope
OWN = {"anon": None, "grad": "grad_a", "emp": "hr_a", "dept": "dept_info", "school": "school", "prov": "prov",
       "admin": "admin"}
# foreign actors -> the role whose own ids they are handed (A's records, seen from outside)
FOREIGN = {"grad_b": "grad", "dept_econ": "dept", "school2": "school", "hr_b": "emp", "prov2": "prov"}
# writes that remove what later calls use (approving the dispute disables hr_a): run after every other call
SPARE = {"roster_api.delete_graduate"}  # deletes a graduate of no records, not A
WORDS = {"action": "retry", "kind": "archive", "view": "signing", "module": "hukou"}  # string URL arguments
LAST = {"employer.decide", "roster.delete", "roster_api.delete_graduate", "schools.account_change",
        "schools_api.disable_account"}


@dataclass
class Sweep:
    ids: dict[str, dict[str, int]]  # role -> URL argument -> id of its own scope
    secrets: list[str]
    attachment_url: str
    clients: dict[str | None, tuple] = field(default_factory=dict)


def _tokens(client, username: str) -> tuple[dict, int]:
    """Two tokens: one the sweep uses, one of the same account that `DELETE /api/v1/tokens/<id>` may revoke."""
    spare = client.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json["id"]
    token = client.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}, spare


def _login(app, username: str | None) -> tuple:
    client = app.test_client()
    if username is None:
        return client, {}, MISSING
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code in (302, 303)
    headers, spare = _tokens(client, username)
    return client, headers, spare


@pytest.fixture
def sweep(app, runtime, world, make_graduate, make_employer, step, actor) -> Sweep:
    """A (信息学院, 厦门大学, 福建省) with an invitation from hr_a and a filing at the department; A3 of the same
    school with a filing at the school; another school, department, employer and province for the foreign actors;
    a credit-code dispute over hr_a's code."""
    from core.db import utcnow
    from domain import seed
    from domain.accounts import actor_for
    from domain.attachments import store_images
    from domain.employer_models import CreditCodeDispute, EmployerRegistration
    from domain.models import Account, Agreement, Employer, Graduate, Province, School
    from engine.models import ProcessVersion, WorkItem
    from processes.agreements import services as signing
    from processes.destination import services as filing

    grad_a = make_graduate("grad_a", name=NAME)
    make_graduate("grad_b", name="乙同学")
    grad_a3 = make_graduate("grad_a3", name="丁同学")
    hr_a = make_employer("hr_a", name="甲单位")
    make_employer("hr_b", name="乙单位", division_code="330106")
    with runtime.Session() as s:
        province = s.get(Province, world.province.id)
        s.get(School, world.school.id).open_modules = ["destination", "archive", "hukou"]  # MOD-4: every module open
        seed.make_account(s, "prov", "province", "福建省教育厅", province_id=province.id)
        # accounts the province and the school manage (disabling them leaves every actor signed in)
        managed = {"prov": seed.make_account(s, "managed_school", "school", "被管理的学校账号",
                                             school_id=world.school.id).id,
                   "school": seed.make_account(s, "managed_dept", "department", "被管理的院系账号",
                                               school_id=world.school.id, department_id=world.info.id).id}
        spare = seed.make_graduate(s, s.get(School, world.school.id), s.get(type(world.info), world.info.id),
                                   name="戊同学").id  # the API deletes this one (the page deletes A)
        province2 = seed.make_province(s, code="330000", name="浙江省")
        seed.make_account(s, "prov2", "province", "浙江省教育厅", province_id=province2.id)
        school2 = seed.make_school(s, province, code="10385", name="集美大学")
        dept2 = seed.make_department(s, school2, "航海学院")
        seed.make_account(s, "school2", "school", "集美大学就业部门", school_id=school2.id,
                          module_permissions=seed.ALL_READ_WRITE)
        seed.make_graduate(s, school2, dept2, name="丙同学", username="grad_c")
        attachment = store_images(s, grad_a.id, None, [("a.png", png_bytes())])[0]
        reg = EmployerRegistration(token="authz-sweep", fields={
            "employer_name": "甲单位", "credit_code": hr_a.credit_code, "nature": "56", "industry": "I",
            "division_code": "350203", "employer_address": "厦门市", "contact": "陈经理", "mobile": "13900000000"},
                                   username="hr_claimant", password_hash="x", channel="sms", target="13900000000",
                                   code_hash="x", code_expires_at=utcnow(), code_sent_at=utcnow(),
                                   verified_at=utcnow())
        s.add(reg)
        s.flush()
        dispute = CreditCodeDispute(registration_id=reg.id, credit_code=hr_a.credit_code,
                                    holder_employer_id=hr_a.id, reason="本单位的代码", status="pending")
        s.add(dispute)
        a = s.get(Graduate, grad_a.id)
        version = s.scalars(select(ProcessVersion).order_by(ProcessVersion.id)).first()
        s.commit()
        secrets = [x for x in (NAME, a.id_number, a.exam_no) if x]
        common = {"graduate_id": grad_a.id, "attachment_id": attachment.id, "version_id": version.id,
                  "process_id": version.process_id, "dispute_id": dispute.id, "account_id": managed["prov"], "spare_graduate_id": spare}
    invitation = step(lambda s: signing.invite(s, runtime.runner, actor("hr_a"), grad_a.id, TERMS, 7))

    def file(s, graduate_id: int):
        grad = s.get(Graduate, graduate_id)
        account = s.scalar(select(Account).where(Account.id_number == grad.id_number))
        return filing.start_filing(s, runtime.runner, actor_for(s, account), grad, with_proof(s, grad.id))

    filed = step(lambda s: file(s, grad_a.id))
    with runtime.Session() as s:
        s.get(School, world.school.id).review_levels = "school_only"  # MOD-6: A3's filing waits at the school
        s.commit()
    filed3 = step(lambda s: file(s, grad_a3.id))
    with runtime.Session() as s:
        s.get(School, world.school.id).review_levels = "department_school"
        s.commit()

    def item(instance_id: int) -> int:
        with runtime.Session() as s:
            return s.scalar(select(WorkItem.id).where(WorkItem.instance_id == instance_id, WorkItem.state == "open"))

    with runtime.Session() as s:
        agreement_id = s.scalar(select(Agreement.id).where(Agreement.instance_id == invitation.id))
        assert s.scalar(select(Employer.id).where(Employer.id == hr_a.id))
    signing_ids = {**common, "instance_id": invitation.id, "item_id": item(invitation.id), "agreement_id": agreement_id}
    filing_ids = {**common, "instance_id": filed.id, "item_id": item(filed.id), "agreement_id": agreement_id}
    ids = {"anon": signing_ids, "grad": signing_ids, "emp": signing_ids, "dept": filing_ids,
           "school": {**filing_ids, "instance_id": filed3.id, "item_id": item(filed3.id),
                      "account_id": managed["school"]},
           "prov": filing_ids, "admin": filing_ids}
    return Sweep(ids, secrets, f"/attachments/{attachment.id}")


def _url(app, rule, ids: dict) -> str | None:
    values = {}
    for name in rule.arguments:
        conv = rule._converters.get(name)
        if isinstance(conv, AnyConverter):
            values[name] = sorted(conv.items)[0] if hasattr(conv, "items") else conv.regex.split("|")[0]
        elif name in ids:
            values[name] = ids[name]
        elif name.endswith("_id") or type(conv).__name__ in ("IntegerConverter", "NumberConverter"):
            values[name] = MISSING
        else:
            values[name] = WORDS.get(name, "x")
    if rule.endpoint in SPARE:
        values["graduate_id"] = ids.get("spare_graduate_id", MISSING)
    try:
        return app.url_map.bind("localhost").build(rule.endpoint, values, append_unknown=False)
    except Exception:  # noqa: BLE001 - a converter this filler cannot satisfy: reported by the caller
        return None


def _call(client, headers: dict, url: str, method: str, ids: dict):
    kwargs: dict = {"headers": headers if url.startswith("/api/") else {}}
    if method != "GET":
        body = {"attachment_ids": [ids.get("attachment_id", MISSING)], "graduate_id": ids.get("graduate_id", MISSING)}
        if url.startswith("/api/"):
            kwargs["json"] = body
        else:
            kwargs["data"] = {k: str(v[0] if isinstance(v, list) else v) for k, v in body.items()}
    return client.open(url, method=method, **kwargs)


def answer_class(resp) -> str:
    """ok: reached and done (2xx, or 3xx anywhere but the login page); bad: authorised, the input refused;
    no: refused or made to look missing; 405; anything else by its code."""
    code = resp.status_code
    if 300 <= code < 400:
        return "no" if "/login" in resp.headers.get("Location", "") else "ok"
    if 200 <= code < 300:
        return "ok"
    if code in (401, 403, 404):
        return "no"
    if code in (400, 409, 413, 422):
        return "bad"
    return str(code)


def _rules(app):
    """(method, rule) pairs: reads first, then writes, the ones that remove what others use last."""
    pairs = [(m, r) for r in app.url_map.iter_rules() if r.endpoint not in SKIP for m in (r.methods or set()) & METHODS]
    return sorted(pairs, key=lambda p: (p[0] != "GET", p[1].endpoint in LAST, p[1].endpoint, p[0], p[1].rule))


def _client(app, sweep: Sweep, username: str | None) -> tuple:
    if username not in sweep.clients:
        sweep.clients[username] = _login(app, username)
    return sweep.clients[username]


def _spec(entry: str) -> dict[str, str]:
    """'grad emp:bad' -> {'grad': 'ok', 'emp': 'bad'}; every role not named: 'no'."""
    found = {role: "no" for role in OWN}
    for word in entry.split():
        role, _, cls = word.partition(":")
        assert role in OWN, f"unknown role {role!r} in {entry!r}"
        found[role] = cls or "ok"
    return found


def _entry(observed: dict[str, str]) -> str:
    return " ".join(role if cls == "ok" else f"{role}:{cls}" for role, cls in observed.items() if cls != "no")


def test_every_route_is_classified(app):
    # issue 12 must-hold 1: an unlisted route or method forces a decision
    from tests.test_authz_routes_known import EXPECTED

    declared = set(EXPECTED)
    present = {f"{m} {r.endpoint}" for m, r in _rules(app)}
    assert not sorted(present - declared), f"undeclared (add to test_authz_routes_known): {sorted(present - declared)}"
    assert not sorted(declared - present), f"declared but gone: {sorted(declared - present)}"


def _own(app, sweep: Sweep, pairs, observed: dict, problems: list[str]) -> None:
    """Every (method, rule) of `pairs` × role in its own scope, against the declared class."""
    from tests.test_authz_routes_known import EXPECTED

    for method, rule in pairs:
        key = f"{method} {rule.endpoint}"
        limiter.reset()  # each route starts with fresh rate limits: its answers depend on no earlier route
        for role, username in OWN.items():
            client, headers, spare = _client(app, sweep, username)
            ids = {**sweep.ids[role], "token_id": spare}
            url = _url(app, rule, ids)
            if url is None:
                problems.append(f"cannot build {rule.rule}")
                break
            resp = _call(client, headers, url, method, ids)
            cls = observed.setdefault(key, {})[role] = answer_class(resp)
            want = _spec(EXPECTED.get(key, ""))[role]
            if cls != want:
                problems.append(f"{role} {method} {url}: {resp.status_code} ({cls}), declared {want}: "
                                f"{resp.get_data()[:120].decode('utf-8', 'replace')!r}")


RECORD_ARGS = {"instance_id", "item_id", "attachment_id", "agreement_id", "graduate_id", "account_id", "dispute_id"}


def _foreign(app, sweep: Sweep, pairs, problems: list[str]) -> None:
    """Every (method, rule) × foreign actor with the ids of A's scope: no 5xx, nothing of A, like a missing id."""
    for method, rule in pairs:
        limiter.reset()
        for username, role in FOREIGN.items():
            client, headers, _ = _client(app, sweep, username)
            ids = sweep.ids[role]
            url = _url(app, rule, ids)
            if url is None:
                problems.append(f"cannot build {rule.rule}")
                break
            resp = _call(client, headers, url, method, ids)
            text = resp.get_data().decode("utf-8", "replace")  # binary answers (PDF, xlsx) too
            if resp.status_code >= 500:
                problems.append(f"{username} {method} {url}: {resp.status_code}")
            leaked = [x for x in sweep.secrets if x in text] + ([sweep.attachment_url]
                                                                if sweep.attachment_url in text else [])
            if leaked:
                problems.append(f"{username} {method} {url}: {resp.status_code} shows {leaked}")
            named = set(rule.arguments) & RECORD_ARGS
            # a 404 already looks missing; any other answer is asked again about a missing record
            if named and resp.status_code != 404:
                missing = {**ids, **{name: MISSING for name in named}}
                other = _call(client, headers, _url(app, rule, missing) or url, method, missing)
                if other.status_code != resp.status_code:
                    problems.append(f"{username} {method} {url}: {resp.status_code}, a missing id "
                                    f"{other.status_code}: the answer tells the record exists")


def test_every_route_answers_as_declared_and_leaks_nothing(app, runtime, sweep):
    # issue 12 must-hold 1, rules ROLE-1, ROLE-2: every route × role in its own scope answers as declared, and
    # every route × foreign actor answers about A's records as about missing ones, showing nothing of A.
    # One world and one client per account: own reads, then the foreign actors (A intact), then own writes.
    started = time.monotonic()
    pairs = _rules(app)
    reads, writes = [p for p in pairs if p[0] == "GET"], [p for p in pairs if p[0] != "GET"]
    own: list[str] = []
    foreign: list[str] = []
    observed: dict[str, dict[str, str]] = {}
    _own(app, sweep, reads, observed, own)
    _foreign(app, sweep, pairs, foreign)
    _own(app, sweep, writes, observed, own)
    if os.environ.get("GRADFLOW_AUTHZ_WRITE"):  # regenerate the table to review: GRADFLOW_AUTHZ_WRITE=path
        with open(os.environ["GRADFLOW_AUTHZ_WRITE"], "w", encoding="utf-8") as out:
            for key in sorted(observed, key=lambda k: (k.split()[1], k.split()[0])):
                out.write(f"    {key!r}: {_entry(observed[key])!r},\n")
    print(f"authz sweep: {len(pairs)} (method, endpoint) pairs, {time.monotonic() - started:.1f} s")
    assert not own + foreign, "\n".join(["own scope, unlike the declared answer:", *own,
                                         "foreign scope:", *foreign])
