"""Rate limits and constant-time look-ups (issue 8, VER-8): guessing a verification code, a graduate's
身份证号 or a password from one client stops at a 429 long before it could succeed; a blocked client is
told in Chinese when to try again; a right code with a wrong name, an unknown code and a missing name all
take the same answer and about the same time.

Each test's app has its own in-memory counters (create_app builds them), so hits never leak between tests.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from domain.graduate_info import register_info
from domain.models import Confirmation
from processes.verification import services
from processes.verification.models import VerificationLookup
from tests.conftest import REDIS_URL, port_open, require_service
from tests.test_api_signing import token

ARCHIVE = {"archive_type": "托管单位接收", "archive_unit": "北京市海淀区人力资源公共服务中心",
           "archive_address": "北京市海淀区"}


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(services, "now", lambda: datetime(2026, 6, 10, 2, 0, tzinfo=UTC))


def authorised(app, step, grad, username: str) -> str:
    """A confirmed graduate with archive info and a 生效中 archive report: its code."""
    def do(s):
        register_info(s, grad.id, "archive", ARCHIVE, "school")
        s.add(Confirmation(graduate_id=grad.id, status="confirmed", confirmed_at=utcnow(), error_parts={},
                           changed_parts=[]))

    step(do)
    api = app.test_client()
    resp = api.post("/api/v1/verification/reports", headers=token(api, username),
                    json={"kind": "archive", "valid_until": "2026-12-31"})
    assert resp.status_code == 201, resp.json
    return resp.json["report"]["code"]


def from_ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def logged(runtime) -> int:
    with runtime.Session() as s:
        return s.scalar(select(func.count()).select_from(VerificationLookup)) or 0


def assert_429(resp, *, json: bool) -> None:
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    if json:
        assert resp.json["error"]["message"].startswith("请求过于频繁")
    else:
        assert "请求过于频繁" in resp.get_data(as_text=True) and resp.mimetype == "text/html"


# -- VER-8: the public check -----------------------------------------------------------------------------
def test_wrong_codes_from_one_client_are_refused_after_the_30th_and_nothing_more_is_looked_up(
        app, runtime, world, make_graduate, step, clock):
    # rule VER-8. 100 wrong codes, not 1,001 as before: the limit is 30, and 70 refused in a row already show
    # that every request after it is refused and looks nothing up.
    grad = make_graduate("g1", name="陈诚")
    code = authorised(app, step, grad, "g1")
    public = app.test_client()
    statuses = []
    for _ in range(100):
        resp = public.get("/verify", query_string={"name": "陈诚", "code": services.new_code()}, **from_ip("10.1.1.1"))
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            last = resp
    first = statuses.index(429)
    print(f"\nverify: {first} wrong codes looked up, then 429 for the remaining {statuses.count(429)}")
    assert first == 30 and statuses[:first] == [200] * first and set(statuses[first:]) == {429}
    assert logged(runtime) == 30  # refused requests look nothing up
    assert_429(last, json=False)
    # the right code from the blocked client is refused too; another client still looks it up
    assert public.get("/verify", query_string={"name": "陈诚", "code": code}, **from_ip("10.1.1.1")).status_code == 429
    ok = public.get("/verify", query_string={"name": "陈诚", "code": code}, **from_ip("10.1.1.2"))
    assert ok.status_code == 200 and "北京市海淀区人力资源公共服务中心" in ok.get_data(as_text=True)
    # the PDF link counts against the same limits
    assert public.get("/verify/report.pdf", query_string={"name": "陈诚", "code": code},
                      **from_ip("10.1.1.1")).status_code == 429
    # showing the empty form is no look-up and is not limited
    assert public.get("/verify", **from_ip("10.1.1.1")).status_code == 200


def test_one_code_is_limited_whoever_asks(app, runtime, world, make_graduate, step, clock):
    # rule VER-8
    grad = make_graduate("g1", name="陈诚")
    code = authorised(app, step, grad, "g1")
    public = app.test_client()
    statuses = [public.get("/verify", query_string={"name": f"猜名{i}", "code": code},
                           **from_ip(f"10.2.0.{i}")).status_code for i in range(1, 26)]
    assert statuses == [200] * 20 + [429] * 5  # 20 an hour per code, from 25 different clients
    assert logged(runtime) == 20


def test_a_right_code_with_a_wrong_name_gets_the_answer_of_an_unknown_code(app, runtime, world, make_graduate, step,
                                                                           clock):
    # rules VER-4, VER-8
    grad = make_graduate("g1", name="陈诚")
    code = authorised(app, step, grad, "g1")
    public = app.test_client()
    wrong_name = public.get("/verify", query_string={"name": "陈成", "code": code})
    unknown = public.get("/verify", query_string={"name": "陈成", "code": services.new_code()})
    assert wrong_name.status_code == unknown.status_code == 200
    assert wrong_name.get_data(as_text=True).replace(code, "X") == \
        unknown.get_data(as_text=True).replace(unknown.request.args["code"], "X")
    assert services.NONE_ANSWER in wrong_name.get_data(as_text=True)
    with runtime.Session() as s:
        assert [(r.outcome, r.reason) for r in s.scalars(select(VerificationLookup).order_by(VerificationLookup.id))] \
            == [("none", "name"), ("none", "unknown")]


# -- the employer's graduate look-up ------------------------------------------------------------------------
def _employer(api) -> dict:
    from domain.seed import credit_code

    body = {"employer_name": "厦门某某咨询有限公司", "credit_code": credit_code(9901), "nature": "56", "industry": "I",
            "division_code": "350203", "employer_address": "厦门市思明区", "contact": "某经理", "mobile": "13900001111",
            "username": "prober", "password": "secret-123"}
    sent = api.post("/api/v1/employers", json=body)
    assert sent.status_code == 202  # issue 12: then the code sent to the contact
    from tests.test_employer_verification import last_code

    assert api.post("/api/v1/employers/verify", json={"token": sent.json["registration"]["token"],
                                                      "code": last_code(api.application.extensions["gradflow"])}).status_code == 201
    return {"Authorization": "Bearer " + api.post("/api/v1/token", json={"username": "prober",
                                                                         "password": "secret-123"}).json["token"]}


def _candidates(real: str) -> list[str]:
    """The 1,000 身份证号 that share the real one's region and birth date (each with its check digit)."""
    from stdnum.cn import ric

    out = []
    for seq in range(1000):
        body = f"{real[:14]}{seq:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


def test_guessing_a_id_number_among_its_1000_candidates_stops_at_429_before_the_real_one(
        app, runtime, world, make_graduate, make_employer):
    # rules VER-8 (design), ONL-1. The attack walks the 1,000 candidates; it is refused from the 11th on, so
    # the guesses sent stop at the 61st, the real one at 51st (before: all 1,000, the real one at 501st).
    grad = make_graduate("g1", name="陈诚")
    api = app.test_client()
    hr = _employer(api)
    guesses = [c for c in _candidates(grad.id_number) if c != grad.id_number]
    assert len(guesses) >= 999
    guesses.insert(50, grad.id_number)  # the attack would have found it here
    guesses = guesses[:61]
    statuses = []
    for number in guesses:
        resp = api.post("/api/v1/graduates/lookup", headers=hr, json={"name": "陈诚", "id_number": number})
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            last = resp
    first = statuses.index(429)
    print(f"\nemployer lookup: {first} guesses answered, then 429 for {statuses.count(429)} of {len(guesses)}")
    assert first == 10 and set(statuses[:first]) == {404} and 200 not in statuses
    assert set(statuses[first:]) == {429}  # the real one (51st) among them
    assert_429(last, json=True)
    # the same person through the page and through an invitation: the same counters
    web = app.test_client()
    web.post("/login", data={"username": "prober", "password": "secret-123"})
    assert web.post("/employer/find", data={"name": "陈诚", "id_number": grad.id_number}).status_code == 429
    assert api.post("/api/v1/invitations", headers=hr,
                    json={"name": "陈诚", "id_number": grad.id_number}).status_code == 429
    # the probing account is spent for now (its per-account counter ran with the refused requests), and the
    # person stays protected for the hour whoever asks; another employer finds another graduate as before
    other = make_graduate("g2", name="李四")
    assert api.post("/api/v1/graduates/lookup", headers=hr,
                    json={"name": "李四", "id_number": other.id_number}).status_code == 429
    make_employer("hr2")
    second = app.test_client()
    hr2 = token(second, "hr2")
    assert second.post("/api/v1/graduates/lookup", headers=hr2, json={"name": "陈诚", "id_number": grad.id_number},
                       **from_ip("10.4.4.4")).status_code == 429
    ok = second.post("/api/v1/graduates/lookup", headers=hr2, json={"name": "李四", "id_number": other.id_number},
                     **from_ip("10.4.4.4"))
    assert ok.status_code == 200 and ok.json["graduate"]["id"] == other.id


def test_the_find_page_and_the_api_per_client_and_per_account(app, runtime, world, make_graduate):
    # rules VER-8 (design), ONL-1
    make_graduate("g1", name="陈诚")
    api = app.test_client()
    hr = _employer(api)
    names = [f"某{i}" for i in range(40)]  # a different person each time: only the account and client limits
    from domain.seed import id_number

    statuses = [api.post("/api/v1/graduates/lookup", headers=hr,
                         json={"name": n, "id_number": id_number(seq=5000 + i)}).status_code
                for i, n in enumerate(names)]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429  # 20 a minute per account


def _statements(session, fn) -> list[str]:
    """The SQL a call sends: the same statements whether a row exists or not means the same work."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [q for q in seen if q.strip().upper() not in {"BEGIN", "BEGIN IMMEDIATE"}]


def test_the_graduate_lookup_does_the_same_work_whether_the_name_exists_or_not(runtime, world, make_graduate):
    # rule ONL-1 (issue 8: no timing oracle on a name; the timings are in bench/lookup_timing.py)
    from processes.agreements.services import find_graduate

    grad = make_graduate("g1", name="陈诚")
    wrong = _candidates(grad.id_number)[1 if grad.id_number != _candidates(grad.id_number)[1] else 2]
    with runtime.Session() as s:
        find_graduate(s, "陈诚", wrong, None)
        exists = _statements(s, lambda: find_graduate(s, "陈诚", wrong, None))
        missing = _statements(s, lambda: find_graduate(s, "无此人", wrong, None))
        assert exists == missing and len(exists) == 1
        assert find_graduate(s, "陈诚", wrong, None) is None and find_graduate(s, "陈诚", grad.id_number, None).id
        assert find_graduate(s, "陈诚", None, None) is None


def test_a_code_lookup_does_the_same_work_for_an_unknown_code_and_a_wrong_name(app, runtime, world, make_graduate,
                                                                              step, clock):
    # rules VER-4, VER-8
    grad = make_graduate("g1", name="陈诚")
    code = authorised(app, step, grad, "g1")
    with runtime.Session() as s:
        services.lookup(s, "陈诚", services.new_code(), client="t", via="page")
        s.flush()
        unknown = _statements(s, lambda: services.lookup(s, "陈诚", services.new_code(), client="t", via="page"))
        wrong_name = _statements(s, lambda: services.lookup(s, "陈成", code, client="t", via="page"))
        s.rollback()
    assert [q.split(" WHERE")[0] for q in unknown] == [q.split(" WHERE")[0] for q in wrong_name]


# -- logins ---------------------------------------------------------------------------------------------------
def test_a_hundred_wrong_passwords_in_a_row_hit_a_limit(app, runtime, world, make_graduate):
    # design: login limits per client and per username (issue 8)
    make_graduate("g1")
    web = app.test_client()
    statuses = [web.post("/login", data={"username": "g1", "password": f"guess{i}"}).status_code for i in range(100)]
    first = statuses.index(429)
    print(f"\nlogin: {first} wrong passwords answered 401, then 429 for {statuses.count(429)}")
    assert first == 10 and set(statuses[:first]) == {401} and set(statuses[first:]) == {429}
    assert_429(web.post("/login", data={"username": "g1", "password": "guess"}), json=False)
    # the token API shares the username's counter (and says so in JSON), whoever asks
    api = app.test_client()
    resp = api.post("/api/v1/token", json={"username": "g1", "password": "demo1234"}, **from_ip("10.3.3.3"))
    assert_429(resp, json=True)
    # other accounts still log in, also from the same client: successful logins are not counted
    make_graduate("g2")
    assert web.post("/login", data={"username": "g2", "password": "demo1234"}).status_code == 302
    assert web.get("/login").status_code in (200, 302)  # showing the form is never limited


def test_wrong_passwords_for_many_usernames_from_one_client_hit_the_client_limit(app, runtime, world):
    # design: login limits per client (issue 8)
    api = app.test_client()
    statuses = [api.post("/api/v1/token", json={"username": f"user{i}", "password": "x"}).status_code
                for i in range(40)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


def test_employer_registration_is_limited_per_client(app, runtime, world):
    # design: registration limits (issue 8)
    api = app.test_client()
    statuses = [api.post("/api/v1/employers", json={"employer_name": "x"}).status_code for _ in range(7)]
    assert statuses == [422] * 5 + [429] * 2
    assert app.test_client().post("/employer/register", data={}).status_code == 429  # the page shares it
    assert app.test_client().get("/employer/register").status_code == 200


def test_each_app_counts_on_its_own(runtime, world):
    # design: tests (and embedded processes) get their own in-memory counters
    from webapp import create_app

    first = create_app(runtime, TESTING=True, WTF_CSRF_ENABLED=False)
    second = create_app(runtime, TESTING=True, WTF_CSRF_ENABLED=False)
    a = first.test_client()
    assert [a.post("/api/v1/token", json={"username": "nobody", "password": "x"}).status_code
            for _ in range(11)][-1] == 429
    b = second.test_client()
    assert b.post("/api/v1/token", json={"username": "nobody", "password": "x"}).status_code == 401
    disabled = create_app(runtime, TESTING=True, RATELIMIT_ENABLED=False).test_client()
    assert {disabled.post("/api/v1/token", json={"username": "nobody", "password": "x"}).status_code
            for _ in range(12)} == {401}
    assert a.post("/api/v1/token", json={"username": "nobody", "password": "x"}).status_code == 429


def test_production_counts_in_redis_shared_by_every_web_process(runtime, world):
    # design: storage Redis in production (GRADFLOW_RATELIMIT_STORAGE_URL, default the broker's Redis)
    import dataclasses
    from urllib.parse import urlparse

    if not port_open(urlparse(REDIS_URL).hostname or "127.0.0.1", urlparse(REDIS_URL).port or 6379):
        require_service("Redis", f"nothing listens at {REDIS_URL}")
    from webapp import create_app

    settings = dataclasses.replace(runtime.settings, ratelimit_storage_url=REDIS_URL)
    shared = dataclasses.replace(runtime, settings=settings)
    one, two = (create_app(shared, TESTING=True) for _ in range(2))
    with one.app_context():
        from webapp.extensions import limiter

        limiter.storage.reset()
    a, b = one.test_client(), two.test_client()
    statuses = [c.post("/api/v1/token", json={"username": "redis-probe", "password": "x"}).status_code
                for c in (a, b) * 6]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]  # one count across both apps
    with one.app_context():
        limiter.storage.reset()


def test_a_storage_outage_counts_in_the_process_instead_of_failing(runtime, world):
    # design: Redis down -> per-process counting, never a 500
    import dataclasses

    from webapp import create_app
    from webapp.extensions import limiter

    settings = dataclasses.replace(runtime.settings, ratelimit_storage_url="redis://127.0.0.1:1/0")  # nothing there
    app = create_app(dataclasses.replace(runtime, settings=settings), TESTING=True)
    try:
        c = app.test_client()
        statuses = [c.post("/api/v1/token", json={"username": "nobody", "password": "x"}).status_code
                    for _ in range(12)]
        assert statuses == [401] * 10 + [429] * 2
    finally:
        limiter._storage_dead = False  # the extension's flag is process-wide; later tests' apps are healthy


def test_settings_take_the_storage_from_the_environment(monkeypatch):
    # design: one setting, declared in core/config.py
    from core.config import ConfigError, load_settings

    for name in ("GRADFLOW_RATELIMIT_STORAGE_URL", "CELERY_BROKER_URL", "DATABASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADFLOW_MODE", "embedded")
    assert load_settings().ratelimit_storage_url == "memory://"
    monkeypatch.setenv("GRADFLOW_MODE", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/x")
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    monkeypatch.setenv("GRADFLOW_PASSWORD_HASH", "scrypt")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert load_settings().ratelimit_storage_url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@127.0.0.1//")
    with pytest.raises(ConfigError, match="GRADFLOW_RATELIMIT_STORAGE_URL"):
        load_settings()
    monkeypatch.setenv("GRADFLOW_RATELIMIT_STORAGE_URL", "redis://127.0.0.1:6379/3")
    assert load_settings().ratelimit_storage_url == "redis://127.0.0.1:6379/3"
