"""Shared fixtures: a real database per run (SQLite or PostgreSQL), truncated per test.

GRADFLOW_TEST_DB=sqlite (default) or postgresql picks the backend; `make test`
runs the suite on both. A service that is absent skips its tests loudly, and
GRADFLOW_REQUIRE_SERVICES=1 (set by .ci/run) turns every such skip into a failure.
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# Every test account gets a cheap hash (scrypt costs ~0.3 s each). Set when pytest loads this
# file, before any test module or fixture runs; domain.accounts.hash_password reads it per call.
os.environ.setdefault("GRADFLOW_PASSWORD_HASH", "pbkdf2:sha256:1")

ROOT = Path(__file__).resolve().parent.parent


def _scratch_in_memory() -> None:
    """Every temporary file of the run (tmp_path, the SQLite databases, the var dirs, the scenario runner's
    scratch runtimes, the workers' and servers' files) goes to /dev/shm unless TMPDIR is set. On this disk a
    commit's fsync costs ~3 ms (SQLite's WAL, a stored file), in tmpfs ~0.03 ms, and the suite commits tens
    of thousands of times. What the tests prove about crashes they prove by killing processes and private
    clusters (tests/test_faults.py), which tmpfs does not change."""
    import tempfile

    shm = Path("/dev/shm")
    if "TMPDIR" not in os.environ and shm.is_dir() and os.access(shm, os.W_OK):
        os.environ["TMPDIR"] = str(shm)  # the subprocesses (workers, gunicorn, the receiver) too
        tempfile.tempdir = str(shm)  # gettempdir() may already have answered /tmp


_scratch_in_memory()


def _cache_url_builders() -> None:
    """Most tests build their own Flask app, and 70 % of create_app is werkzeug compiling the URL
    builders of ~185 rules with ast + compile (~170 ms an app, ~3 min over both suites). The builder
    it generates depends only on the rule's text, trace and defaults (the rule itself arrives as the
    `.self` argument), so equal rules can share one. Test-only: production builds its app once."""
    from werkzeug.routing import rules

    original = rules.Rule._compile_builder
    cache: dict[tuple, object] = {}

    def cached(self, append_unknown: bool = True):
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown,
               tuple(sorted((k, type(v).__name__) for k, v in self._converters.items())))
        found = cache.get(key)
        if found is None:
            found = cache[key] = original(self, append_unknown)
        return found

    rules.Rule._compile_builder = cached


def _share_compiled_templates() -> None:
    """Each new app has its own Jinja environment, and so parsed and compiled every template it renders
    again (~20 ms a template, the first time each test's app renders it). One in-memory bytecode cache
    shared by every test app keeps the compiled code; jinja keys it by template name and a hash of its
    source, so an edited template is compiled anew. Every test app has the same environment options
    (create_app, Flask-Babel's i18n extension), so the code is the same. Test-only, like the one above."""
    import flask
    from jinja2 import BytecodeCache

    class MemoryBytecodeCache(BytecodeCache):
        def __init__(self) -> None:
            self.code: dict[tuple[str, str], object] = {}

        def load_bytecode(self, bucket) -> None:
            code = self.code.get((bucket.key, bucket.checksum))
            if code is not None:
                bucket.code = code

        def dump_bytecode(self, bucket) -> None:
            self.code[(bucket.key, bucket.checksum)] = bucket.code

    shared = MemoryBytecodeCache()
    original = flask.Flask.create_jinja_environment

    def create_jinja_environment(self):
        env = original(self)
        env.bytecode_cache = shared
        return env

    flask.Flask.create_jinja_environment = create_jinja_environment


def _cache_rule_parsing() -> None:
    """The other half of a rule's compile: werkzeug parses its text into regex parts (~40 % of what
    create_app still costs with the builders cached). The parts depend only on the text and the map's
    converter classes; the parse's side effects on the rule (its trace, converters, argument names) are
    replayed from the first parse. The converter objects are shared between apps: they keep their map but
    never use it (werkzeug 3.1's converters, webapp.converters.IdConverter). Test-only."""
    from werkzeug.routing import rules

    original = rules.Rule._parse_rule
    cache: dict[tuple, tuple] = {}

    def cached(self, rule: str):
        key = (rule, tuple(sorted(self.map.converters.items())))
        found = cache.get(key)
        if found is None:
            start = len(self._trace)
            parts = list(original(self, rule))
            trace = self._trace[start:]
            names = [name for dynamic, name in trace if dynamic]
            found = cache[key] = (parts, trace, {name: self._converters[name] for name in names})
            return iter(parts)
        parts, trace, converters = found
        self._trace.extend(trace)
        self._converters.update(converters)
        self.arguments.update(converters)
        return iter(parts)

    rules.Rule._parse_rule = cached


_cache_url_builders()
_cache_rule_parsing()
_share_compiled_templates()
TEST_PROCESSES = ROOT / "tests" / "data"
TEST_MODULE = "tests.modules.testkit"  # test-only handlers and senders for the BPMN in tests/data
PG_ADMIN_URL = os.environ.get("GRADFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# one Redis database per backend: `make test` runs the SQLite and the PostgreSQL suites side by side
REDIS_URL = os.environ.get("GRADFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/"
                           + ("14" if os.environ.get("GRADFLOW_TEST_DB") == "postgresql" else "15"))


def require_service(name: str, reason: str):
    """Skip loudly, or fail when CI demands every service."""
    message = f"SERVICE MISSING: {name}: {reason}"
    if os.environ.get("GRADFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (GRADFLOW_REQUIRE_SERVICES=1: CI must run this test)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run (starting Playwright and Chromium costs ~0.6 s); each test
    takes its own browser contexts from it (new cookies, storage and cache), through tests.test_browser's
    `browser` fixture."""
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def pytest_collection_modifyitems(config, items):
    """The tests that drive Chromium run last: Playwright's sync API keeps its event loop set on the main
    thread while it is started, where asyncio.run (the load and fault tests) would refuse to run, so the
    one session-wide Chromium starts with the first of them and stops at the end of the run."""
    items.sort(key=lambda item: "chromium" in getattr(item, "fixturenames", ()))


def backend() -> str:
    return os.environ.get("GRADFLOW_TEST_DB", "sqlite")


def _pg_database_url(tmp_name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{tmp_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{tmp_name}"'))
        # a scratch database need not wait for its WAL on disk (~3 ms a commit here); a server crash loses it anyway
        conn.execute(text(f'ALTER DATABASE "{tmp_name}" SET synchronous_commit = off'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + tmp_name


def _drop_pg(tmp_name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{tmp_name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if backend() == "postgresql":
        if not port_open("127.0.0.1", 5432):
            require_service("PostgreSQL", "nothing listens on 127.0.0.1:5432")
        name = f"gradflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = _pg_database_url(name)
        yield url
        _drop_pg(name)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory):
    from core.config import Settings

    var = tmp_path_factory.mktemp("var")
    return Settings(mode="embedded", database_url=database_url, secret_key="test-" + uuid.uuid4().hex,
                    extra_modules=(TEST_MODULE,), var_dir=var, script_time_limit_seconds=1)


@pytest.fixture(scope="session")
def runtime(settings):
    from gradflow.cli import migrate
    from gradflow.runtime import build_runtime

    migrate(settings.database_url)  # the real migrations, not create_all
    rt = build_runtime(settings)
    rt.deploy()
    yield rt
    rt.db.dispose()


TABLES_KEEP = {"process_version", "alembic_version"}
_SEQUENCES: dict[str, str | None] = {}


@pytest.fixture(autouse=True)
def _clean_tables(request):
    if "runtime" in request.fixturenames:
        from gradflow.runtime import make_process_wide

        # another test may have built a runtime of its own (a private cluster, a peak-season variant) since:
        # its spool directory and policy areas would be this test's otherwise
        rt = request.getfixturevalue("runtime")
        make_process_wide(rt.settings, rt.modules)
    yield
    if "runtime" not in request.fixturenames:
        return
    rt = request.getfixturevalue("runtime")
    from core.db import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in TABLES_KEEP]
    with rt.db.begin() as conn:
        # one query finds the tables this test wrote; only those are emptied. TRUNCATE of every table
        # cost ~0.35 s per test on PostgreSQL (a new file per table), most of that suite's time.
        probe = " UNION ALL ".join(f"SELECT '{name}' FROM (SELECT 1 FROM {name} LIMIT 1) AS t{i}"
                                   for i, name in enumerate(tables))
        written = {row[0] for row in conn.execute(text(probe))}
        # the audit tables are append-only (migration 0018): their triggers let a DELETE through only while
        # this transaction holds a row in audit_maintenance
        conn.execute(text("INSERT INTO audit_maintenance (reason) VALUES ('test cleanup')"))
        for name in (t for t in tables if t in written):  # children before parents
            conn.execute(text(f"DELETE FROM {name}"))
        conn.execute(text("DELETE FROM audit_maintenance"))
        if rt.db.dialect.name == "postgresql":  # ids start at 1 again, as with RESTART IDENTITY
            for name in (t for t in tables if t in written and "id" in Base.metadata.tables[t].c):
                if name not in _SEQUENCES:  # a table's sequence is looked up once a run
                    _SEQUENCES[name] = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": name})
                if _SEQUENCES[name]:
                    conn.execute(text(f"ALTER SEQUENCE {_SEQUENCES[name]} RESTART"))


@pytest.fixture
def session(runtime):
    with runtime.Session() as s:
        yield s


@dataclass
class World:
    province: object
    school: object
    info: object
    econ: object


@pytest.fixture
def world(runtime):
    """福建省 / 厦门大学 with two departments and one reviewer account each, plus a school reviewer."""
    from domain import seed

    with runtime.Session() as s:
        province = seed.make_province(s)
        school = seed.make_school(s, province)
        info = seed.make_department(s, school, "信息学院")
        econ = seed.make_department(s, school, "经济学院")
        rw = seed.ALL_READ_WRITE  # ROLE-2: these reviewers work every area
        seed.make_account(s, "school", "school", "学校就业部门", school_id=school.id, module_permissions=rw)
        seed.make_account(s, "dept_info", "department", "信息学院审核员", school_id=school.id, department_id=info.id,
                          module_permissions=rw)
        seed.make_account(s, "dept_econ", "department", "经济学院审核员", school_id=school.id, department_id=econ.id,
                          module_permissions=rw)
        seed.make_account(s, "admin", "admin", "管理员")
        s.commit()
        return World(province=province, school=school, info=info, econ=econ)


@pytest.fixture
def make_graduate(runtime, world):
    from domain import seed

    def make(username: str, department=None, **kw):
        with runtime.Session() as s:
            grad = seed.make_graduate(s, s.get(type(world.school), world.school.id),
                                      department or world.info, username=username, **kw)
            s.commit()
            return grad

    return make


@pytest.fixture
def app(runtime):
    from webapp import create_app

    app = create_app(runtime, TESTING=True, WTF_CSRF_ENABLED=False)
    return app


@pytest.fixture
def client_for(app):
    """A logged-in test client for a username (password: the demo password)."""
    from domain.seed import DEMO_PASSWORD

    def login(username: str):
        client = app.test_client()
        resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
        assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:500]
        return client

    return login


def png_bytes(color=(200, 30, 30), size=(64, 48)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def step(runtime):
    """Run fn(session) as one step transaction, like a request does."""

    def run(fn):
        with runtime.Session() as s:
            s.connection(execution_options={"sqlite_immediate": True})
            result = fn(s)
            s.commit()
            return result

    return run


@pytest.fixture
def actor(runtime):
    from sqlalchemy import select

    from domain.accounts import actor_for
    from domain.models import Account

    def get(username: str):
        with runtime.Session() as s:
            return actor_for(s, s.scalar(select(Account).where(Account.username == username)))

    return get


def wait_past(moment, margin: float = 0.15) -> None:
    """Sleep until the real clock is just past `moment` (a timer's due time, an answer deadline): the steps
    the test ran since it set the moment have used up part of the wait already, unlike a fixed sleep."""
    import time
    from datetime import UTC, datetime

    delay = (moment - datetime.now(UTC)).total_seconds() + margin
    if delay > 0:
        time.sleep(delay)


def open_items(runtime, instance_id: int, role: str | None = None):
    from sqlalchemy import select

    from engine.models import WorkItem

    with runtime.Session() as s:
        q = select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
        if role:
            q = q.where(WorkItem.role == role)
        return list(s.scalars(q.order_by(WorkItem.id)))


FREELANCE = {"dest_type": "freelance", "fields": {"note": "自由撰稿"}, "attachment_ids": []}


def with_proof(session, graduate_id: int, clean: dict | None = None) -> dict:
    """DST-1: the application plus the proof image a graduate uploads with a type that needs one."""
    from domain.attachments import store_images

    clean = dict(FREELANCE if clean is None else clean)
    stored = store_images(session, graduate_id, None, [("proof.png", png_bytes())])
    return {**clean, "attachment_ids": list(clean.get("attachment_ids") or []) + [a.id for a in stored]}


@pytest.fixture
def make_employer(runtime, world):
    from domain import seed

    def make(username: str, name: str = "厦门星海科技有限公司", **kw):
        with runtime.Session() as s:
            employer = seed.make_employer(s, name, username=username, **kw)
            s.commit()
            return employer

    return make


TERMS = {"job_category": "13", "job_category_name": "工程技术人员", "position": "软件工程师", "work_place": "厦门市",
         "salary_regular": 12000, "trial_months": 3, "salary_trial": 10000, "penalty": 5000,
         "archive_type": "签约单位接收", "hukou_type": "签约单位接收", "supplement": "包食宿"}
OFFLINE = {**TERMS, "employer_name": "福州海峡贸易有限公司", "credit_code": "91350200MA0000001W", "nature": "56",
           "nature_name": "其他企业", "industry": "F", "industry_name": "批发和零售业", "employer_address": "福州市鼓楼区",
           "contact": "林女士", "landline": "", "mobile": "13912345678", "email": ""}


def page_without_tokens(resp) -> str:
    """A page's text minus its CSRF tokens, which carry a timestamp and differ from second to second."""
    import re

    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1"', resp.get_data(as_text=True))
