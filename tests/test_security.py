"""Issue 12, reliability and security: nothing lost, nobody let in.

A session ends for every copy of its cookie at logout; API tokens expire, are several per account and
can be listed and revoked; an unknown username costs the same password-hash work as a known one and
every failed login is logged; the embedded secret and SQLite file are private (0600); an unreachable
database is a clear 503; every response carries a Referrer-Policy (and HSTS in production).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from core.config import ConfigError, load_settings
from core.db import make_engine, make_session_factory, utcnow
from domain import accounts
from domain.models import AccessLog, Account, ApiToken
from domain.seed import DEMO_PASSWORD
from tests.conftest import port_open

INBOX = "/review/inbox"
DOWN_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x"  # nothing listens on port 1
DB_DOWN = "系统暂时无法访问数据库，请稍后重试"


def _token(client, username: str, **extra) -> dict:
    resp = client.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD, **extra})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json


def _bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def _account(runtime, username: str) -> Account:
    with runtime.Session() as s:
        return s.scalar(select(Account).where(Account.username == username))


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- 1. sessions ---------------------------------------------------------------------------------------


def test_a_cookie_copied_before_logout_no_longer_logs_in(app, world, client_for):
    # rule ROLE-1
    browser = client_for("dept_info")
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    assert copy.get(INBOX).status_code == 200  # the copy works while the session lives

    assert browser.post("/logout").status_code == 302
    resp = copy.get(INBOX)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert browser.get(INBOX).status_code == 302

    again = client_for("dept_info")  # a new login gets a session of the new version
    assert again.get(INBOX).status_code == 200
    assert copy.get(INBOX).status_code == 302


def test_logout_ends_the_accounts_other_sessions_and_the_api_session_too(app, world, client_for):
    # rule ROLE-1
    first, second = client_for("dept_info"), client_for("dept_info")
    assert second.get("/api/v1/me").status_code == 200
    first.post("/logout")
    assert second.get("/api/v1/me").status_code == 401
    assert second.get(INBOX).status_code == 302


def test_a_session_without_a_version_is_refused(app, runtime, world):
    # rule ROLE-1: a session written before the version existed, or forged without it
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(_account(runtime, "dept_info").id)
        sess["_fresh"] = True
    assert client.get(INBOX).status_code == 302


def test_a_password_change_ends_sessions_and_revokes_tokens(app, runtime, world, client_for):
    # rule ROLE-1
    browser = client_for("dept_info")
    api = app.test_client()
    token = _token(api, "dept_info")["token"]
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "dept_info"))
        before = account.session_version
        accounts.change_password(s, account, "new-password-1")
        s.commit()
        assert account.session_version == before + 1
    assert browser.get(INBOX).status_code == 302
    assert api.get("/api/v1/me", headers=_bearer(token)).status_code == 401
    resp = app.test_client().post("/login", data={"username": "dept_info", "password": "new-password-1"})
    assert resp.status_code == 302


def test_cookies_are_secure_and_csrf_tokens_expire_in_production(app, runtime, world):
    prod = _production_app(runtime)
    assert prod.config["SESSION_COOKIE_SECURE"] is True and prod.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is False  # the embedded default is plain http://127.0.0.1
    for each in (prod, app):
        assert each.config["WTF_CSRF_TIME_LIMIT"] == 8 * 3600
    resp = prod.test_client().post("/login", data={"username": "dept_info", "password": DEMO_PASSWORD},
                                   base_url="https://localhost")
    assert resp.status_code == 302
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def _production_app(runtime):
    from webapp import create_app

    prod_runtime = dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, mode="production"))
    return create_app(prod_runtime, TESTING=True, WTF_CSRF_ENABLED=False)


# -- 2. API tokens -------------------------------------------------------------------------------------


def test_a_second_token_leaves_the_first_one_working(app, world):
    # rule ROLE-1
    c = app.test_client()
    first, second = _token(c, "dept_info", label="脚本"), _token(c, "dept_info")
    for issued in (first, second):
        assert c.get("/api/v1/me", headers=_bearer(issued["token"])).json["username"] == "dept_info"
    assert first["expires_in"] == 12 * 3600 and first["label"] == "脚本" and first["active"] is True
    assert first["id"] != second["id"]


def test_tokens_expire_after_the_configured_hours(app, runtime, world):
    # rule ROLE-1
    c = app.test_client()
    issued = _token(c, "dept_info")
    with runtime.Session() as s:
        row = s.get(ApiToken, issued["id"])
        lifetime = row.expires_at - row.created_at
        assert lifetime == timedelta(hours=runtime.settings.api_token_hours) == timedelta(hours=12)
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    resp = c.get("/api/v1/me", headers=_bearer(issued["token"]))
    assert resp.status_code == 401 and resp.json["error"]["message"] == "令牌无效或已失效"


def test_tokens_are_listed_without_secrets_and_revoked_one_by_one(app, runtime, world):
    # rule ROLE-1
    c = app.test_client()
    first, second = _token(c, "dept_info", label="笔记本"), _token(c, "dept_info")
    listed = c.get("/api/v1/tokens", headers=_bearer(first["token"])).json["tokens"]
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    assert [t["current"] for t in listed] == [False, True]
    assert listed[1]["label"] == "笔记本" and listed[1]["last_used_at"]
    flat = repr(listed)
    assert first["token"] not in flat and second["token"] not in flat and "hash" not in flat

    resp = c.delete(f"/api/v1/tokens/{second['id']}", headers=_bearer(first["token"]))
    assert resp.status_code == 200 and resp.json["revoked_at"] and resp.json["active"] is False
    refused = c.get("/api/v1/me", headers=_bearer(second["token"]))
    assert refused.status_code == 401 and refused.json["error"]["message"]
    assert c.get("/api/v1/me", headers=_bearer(first["token"])).status_code == 200
    listed = c.get("/api/v1/tokens", headers=_bearer(first["token"])).json["tokens"]
    assert [t["active"] for t in listed] == [False, True]


def test_another_accounts_token_cannot_be_revoked_or_seen(app, runtime, world):
    # rule ROLE-1
    c = app.test_client()
    mine, theirs = _token(c, "dept_info"), _token(c, "dept_econ")
    resp = c.delete(f"/api/v1/tokens/{theirs['id']}", headers=_bearer(mine["token"]))
    assert resp.status_code == 404 and resp.json["error"]["message"]
    assert c.delete("/api/v1/tokens/999999", headers=_bearer(mine["token"])).status_code == 404
    assert c.get("/api/v1/me", headers=_bearer(theirs["token"])).status_code == 200
    listed = c.get("/api/v1/tokens", headers=_bearer(mine["token"])).json["tokens"]
    assert [t["id"] for t in listed] == [mine["id"]]
    with runtime.Session() as s:
        assert s.get(ApiToken, theirs["id"]).revoked_at is None
        assert s.scalar(select(AccessLog).where(AccessLog.reason.like("api token%"))) is not None


def test_a_logged_in_browser_lists_its_tokens_and_revokes_with_csrf(runtime, world):
    # rule ROLE-1
    import re

    from webapp import create_app

    app = create_app(runtime, TESTING=True)  # CSRF on
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    c.post("/login", data={"username": "dept_info", "password": DEMO_PASSWORD, "csrf_token": csrf})
    issued = _token(app.test_client(), "dept_info")
    assert [t["id"] for t in c.get("/api/v1/tokens").json["tokens"]] == [issued["id"]]
    assert c.delete(f"/api/v1/tokens/{issued['id']}").status_code == 400  # no X-CSRFToken
    header = {"X-CSRFToken": c.get("/api/v1/csrf-token").json["csrf_token"]}
    assert c.delete(f"/api/v1/tokens/{issued['id']}", headers=header).status_code == 200
    assert c.get("/api/v1/me", headers=_bearer(issued["token"])).status_code == 401


def test_the_old_single_token_column_authenticates_nobody(app, runtime, world):
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "dept_info"))
        account.api_token_hash = hashlib.sha256(b"old-token").hexdigest()
        s.commit()
    assert app.test_client().get("/api/v1/me", headers=_bearer("old-token")).status_code == 401
    with runtime.Session() as s:
        assert accounts.account_by_token(s, "old-token") is None


def test_an_account_keeps_at_most_twenty_live_tokens(runtime, world):
    with runtime.Session() as s:
        account = s.scalar(select(Account).where(Account.username == "dept_info"))
        issued = [accounts.issue_api_token(s, account, timedelta(hours=1))[0] for _ in range(21)]
        s.commit()
        assert accounts.account_by_token(s, issued[0]) is None  # the oldest one made room
        assert all(accounts.account_by_token(s, t) is not None for t in issued[1:])

        other = s.scalar(select(Account).where(Account.username == "dept_econ"))
        old = accounts.issue_api_token(s, other, timedelta(hours=1), now=utcnow() - timedelta(days=40))[1]
        recent = accounts.issue_api_token(s, other, timedelta(hours=1), now=utcnow() - timedelta(days=2))[1]
        s.commit()
        accounts.issue_api_token(s, other, timedelta(hours=1))
        s.commit()
        # dead for over 30 days: deleted (looked up by hash: SQLite may give a deleted id to the next row)
        hashes = set(s.scalars(select(ApiToken.token_hash).where(ApiToken.account_id == other.id)))
        assert old.token_hash not in hashes and recent.token_hash in hashes and len(hashes) == 2
        assert s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.account_id == account.id)) == 21


def test_token_hours_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADFLOW_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GRADFLOW_MODE", raising=False)
    monkeypatch.setenv("GRADFLOW_API_TOKEN_HOURS", "2")
    assert load_settings().api_token_hours == 2
    monkeypatch.setenv("GRADFLOW_API_TOKEN_HOURS", "0")
    with pytest.raises(ConfigError, match="GRADFLOW_API_TOKEN_HOURS"):
        load_settings()


# -- 3. login timing and logging -----------------------------------------------------------------------


@pytest.fixture
def hash_checks(monkeypatch):
    calls: list[str] = []
    real = accounts.check_password_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(stored)
        return real(stored, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return calls


def test_an_unknown_username_costs_one_hash_check_like_a_known_one(runtime, world, hash_checks):
    with runtime.Session() as s:
        for username, password in [("nobody", "x"), ("dept_info", "wrong"), ("dept_info", DEMO_PASSWORD)]:
            hash_checks.clear()
            try:
                accounts.authenticate(s, username, password)
            except accounts.LoginRefused:
                pass
            assert len(hash_checks) == 1, username
        s.execute(text("UPDATE account SET active = :no WHERE username = 'dept_info'"), {"no": False})
        hash_checks.clear()
        with pytest.raises(accounts.LoginRefused):
            accounts.authenticate(s, "dept_info", DEMO_PASSWORD)
        assert len(hash_checks) == 1
    # the dummy hash is made with the configured method (the tests' cheap one), like the accounts' own
    assert accounts.dummy_password_hash().startswith(os.environ["GRADFLOW_PASSWORD_HASH"] + "$")


def test_failed_logins_are_logged_without_the_password(app, runtime, world):
    c = app.test_client()
    assert c.post("/login", data={"username": "nobody", "password": "Secret-1"}).status_code == 401
    assert c.post("/login", data={"username": "dept_info", "password": "Secret-2"}).status_code == 401
    long_name = "x" * 300
    assert c.post("/api/v1/token", json={"username": long_name, "password": "Secret-3"}).status_code == 401
    assert c.post("/login", data={"username": "dept_info", "password": DEMO_PASSWORD}).status_code == 302
    with runtime.Session() as s:
        rows = list(s.scalars(select(AccessLog).where(AccessLog.kind == "login_failed").order_by(AccessLog.id)))
    assert [(r.path, r.reason) for r in rows] == [
        ("/login", "login failed nobody"),
        ("/login", "login failed dept_info"),
        ("/api/v1/token", "login failed " + "x" * 50),
    ]
    assert not any("Secret" in r.reason for r in rows)


def test_a_graduate_without_basic_info_refused_at_login_is_logged(app, runtime, world):
    # rule GRAD-2
    from domain import seed

    with runtime.Session() as s:
        seed.make_account(s, "nobasic", "graduate", "无信息", id_number="350203200001010011")
        s.commit()
    resp = app.test_client().post("/login", data={"username": "nobasic", "password": DEMO_PASSWORD})
    assert resp.status_code == 401 and "基本信息" in resp.get_data(as_text=True)
    with runtime.Session() as s:
        assert s.scalar(select(AccessLog.reason)) == "login refused, no basic info nobasic"


# -- 4. private files ----------------------------------------------------------------------------------


def test_the_embedded_secret_key_and_sqlite_file_are_private(monkeypatch, tmp_path):
    var = tmp_path / "var"
    monkeypatch.setenv("GRADFLOW_VAR_DIR", str(var))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("GRADFLOW_MODE", raising=False)
    monkeypatch.delenv("GRADFLOW_API_TOKEN_HOURS", raising=False)
    settings = load_settings()
    assert len(settings.secret_key) == 64
    assert _mode(var / "secret_key") == 0o600
    assert _mode(var / "gradflow.sqlite3") == 0o600
    assert load_settings().secret_key == settings.secret_key  # kept, not rewritten

    # a key written by an older version with the umask's 0644 is closed up
    os.chmod(var / "secret_key", 0o644)
    assert load_settings().secret_key == settings.secret_key
    assert _mode(var / "secret_key") == 0o600


def test_build_runtime_creates_the_sqlite_file_private_before_sqlalchemy_does(settings, tmp_path):
    from gradflow.runtime import build_runtime

    path = tmp_path / "new" / "dir" / "db.sqlite3"
    rt = build_runtime(dataclasses.replace(settings, database_url=f"sqlite:///{path}"), modules=[])
    try:
        assert _mode(path) == 0o600
        with rt.db.begin() as conn:  # first connect: WAL mode, a write
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _mode(path) == 0o600
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            assert _mode(wal) == 0o600
    finally:
        rt.db.dispose()

    os.chmod(path, 0o644)  # a file SQLAlchemy created earlier (e.g. by `gradflow migrate`) is closed up
    rt = build_runtime(dataclasses.replace(settings, database_url=f"sqlite:///{path}"), modules=[])
    rt.db.dispose()
    assert _mode(path) == 0o600


# -- 5. the database is unreachable --------------------------------------------------------------------


@pytest.fixture
def down_app(runtime):
    """The app over a runtime whose engine points at a PostgreSQL port where nothing listens."""
    from webapp import create_app

    if port_open("127.0.0.1", 1):
        pytest.skip("something listens on 127.0.0.1:1")
    engine = make_engine(DOWN_URL)
    down = dataclasses.replace(runtime, db=engine, Session=make_session_factory(engine))
    yield create_app(down, TESTING=True, WTF_CSRF_ENABLED=False)
    engine.dispose()


def test_an_unreachable_database_is_a_503_page_with_retry_after(down_app):
    resp = down_app.test_client().post("/login", data={"username": "dept_info", "password": DEMO_PASSWORD})
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
    assert resp.mimetype == "text/html" and DB_DOWN in resp.get_data(as_text=True)

    client = down_app.test_client()  # a logged-in visitor: loading the account itself fails
    with client.session_transaction() as sess:
        sess["_user_id"] = "1"
    resp = client.get(INBOX)
    assert resp.status_code == 503 and DB_DOWN in resp.get_data(as_text=True)


def test_an_unreachable_database_is_a_503_json_under_the_api(down_app):
    client = down_app.test_client()
    for resp in (client.get("/api/v1/me", headers=_bearer("some-token")),
                 client.post("/api/v1/token", json={"username": "dept_info", "password": DEMO_PASSWORD})):
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "30"
        assert resp.json["error"]["message"] == DB_DOWN
        assert resp.headers["Referrer-Policy"] == "same-origin"


def test_a_lock_conflict_is_still_a_conflict_not_an_outage():
    from webapp.session import is_lock_conflict

    assert is_lock_conflict(OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")))
    assert is_lock_conflict(OperationalError("UPDATE", {}, Exception("could not serialize access")))
    assert not is_lock_conflict(OperationalError("connect", {}, Exception("connection refused")))


# -- 6. security headers -------------------------------------------------------------------------------


def test_every_response_has_a_referrer_policy_and_hsts_only_in_production(app, runtime, world, client_for):
    c = client_for("dept_info")
    for resp in (c.get(INBOX), c.get("/api/v1/me"), c.get("/no-such-page"), app.test_client().get("/login"),
                 app.test_client().get("/api/v1/work-items")):
        assert resp.headers["Referrer-Policy"] == "same-origin", resp.request.path
        assert "Strict-Transport-Security" not in resp.headers
    # the assist link keeps its stricter policy: its token is in the URL
    assert app.test_client().get("/assist/not-a-token").headers["Referrer-Policy"] == "no-referrer"

    prod = _production_app(runtime).test_client()
    for path in ("/login", "/api/v1/openapi.json", "/assist/not-a-token"):
        resp = prod.get(path, base_url="https://localhost")
        assert resp.headers["Strict-Transport-Security"].startswith("max-age="), path
    assert prod.get("/login", base_url="https://localhost").headers["Referrer-Policy"] == "same-origin"
