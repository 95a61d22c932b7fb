"""core.db.keep_prepared_statements (issue 11): psycopg's prepared statements survive read-only transactions,
and a transaction that wrote anything is still rolled back for real.

PostgreSQL only (the SQLite driver prepares nothing on a server); each test uses its own engine from
core.db.make_engine over the tests' database and a probe table of its own.
"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from core.db import make_engine
from tests.conftest import backend

pytestmark = pytest.mark.one_backend  # the PostgreSQL half runs them

PROBE = "prepared_probe"
READ = text(f"SELECT v FROM {PROBE} WHERE id = :id")
PREPARED = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :probe")


@pytest.fixture
def engine(runtime):
    if backend() != "postgresql":
        pytest.skip("prepared statements live on a PostgreSQL server: the PostgreSQL half of make test runs these")
    url = runtime.settings.database_url
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {PROBE} (id integer PRIMARY KEY, v text)"))
        conn.execute(text(f"TRUNCATE {PROBE}"))
        conn.execute(text(f"INSERT INTO {PROBE} VALUES (1, 'one')"))
    eng = make_engine(url)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {PROBE}"))
    admin.dispose()


def _reads_then(eng, end: str, times: int = 7) -> set[int]:
    """`times` transactions that each read the probe row and end with `end`; the backends that served them."""
    pids = set()
    for _ in range(times):
        with Session(eng) as s:
            assert s.execute(READ, {"id": 1}).scalar_one() == "one"
            pids.add(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
            if end == "rollback":
                s.rollback()
            # "close": the session closes with its read transaction open (a read request's teardown)
    return pids


def _prepared(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(PREPARED, {"probe": f"%FROM {PROBE}%"}).scalar_one()


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_read_only_transactions_keep_the_connections_prepared_statements(engine, end):
    # issue 11: psycopg prepares a statement after five runs, and forgot it at every ROLLBACK
    pids = _reads_then(engine, end)
    assert len(pids) == 1  # one pooled connection served every read, so its cache is what is measured
    assert _prepared(engine) == 1


def test_a_plain_engine_forgets_them_which_is_what_the_hook_prevents(engine, runtime):
    plain = create_engine(runtime.settings.database_url, pool_size=1)
    try:
        assert len(_reads_then(plain, "rollback")) == 1
        assert _prepared(plain) == 0  # psycopg's DEALLOCATE ALL after each ROLLBACK
    finally:
        plain.dispose()


def test_a_transaction_that_wrote_is_still_rolled_back(engine):
    with Session(engine) as s:
        s.execute(text(f"INSERT INTO {PROBE} VALUES (2, 'two')"))
        assert s.execute(READ, {"id": 2}).scalar_one() == "two"
        s.rollback()
    with Session(engine) as s:  # a write followed by reads is a write transaction
        s.execute(text(f"UPDATE {PROBE} SET v = 'changed' WHERE id = 1"))
        for _ in range(3):
            s.execute(READ, {"id": 1})
        # closed without commit: the pool's reset on return rolls it back
    with Session(engine) as s:
        with s.begin_nested():
            s.execute(text(f"INSERT INTO {PROBE} VALUES (3, 'three')"))
        s.rollback()
    with engine.connect() as conn:
        rows = dict(conn.execute(text(f"SELECT id, v FROM {PROBE}")).all())
    assert rows == {1: "one"}


def test_settings_changed_in_a_read_transaction_are_rolled_back_not_kept(engine):
    for change in ("SET application_name = 'leaked'", "SELECT set_config('application_name', 'leaked', false)"):
        with Session(engine) as s:
            s.execute(text(change))
            s.rollback()
        with engine.connect() as conn:
            assert conn.execute(text("SHOW application_name")).scalar_one() != "leaked", change


def test_a_notification_sent_by_a_select_is_rolled_back_not_sent(engine, runtime):
    import psycopg

    dsn = runtime.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN gradflow_probe")
        with Session(engine) as s:
            s.execute(text("SELECT pg_notify('gradflow_probe', 'rolled back')"))
            s.rollback()
        with Session(engine) as s:
            s.execute(text("SELECT pg_notify('gradflow_probe', 'committed')"))
            s.commit()
        got = [n.payload for n in listener.notifies(timeout=1.0, stop_after=1)]
    assert got == ["committed"]


def test_a_failed_read_transaction_is_rolled_back_and_the_connection_works(engine):
    with Session(engine) as s:
        with pytest.raises(ProgrammingError):
            s.execute(text(f"SELECT no_such_column FROM {PROBE}"))
        s.rollback()
        assert s.execute(READ, {"id": 1}).scalar_one() == "one"
    _reads_then(engine, "rollback")
    assert _prepared(engine) == 1


def test_with_prepared_statements_off_nothing_is_prepared(engine, runtime):
    # GRADFLOW_PG_PREPARED_STATEMENTS=0: behind a pooler that cannot keep them
    off = make_engine(runtime.settings.database_url, prepared_statements=False)
    try:
        for end in ("rollback", "close"):
            assert len(_reads_then(off, end)) == 1
        assert _prepared(off) == 0
    finally:
        off.dispose()


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("1", True), ("0", False), ("off", False)])
def test_the_setting_is_read_from_the_environment(monkeypatch, raw, expected):
    from core.config import load_settings

    if raw is None:
        monkeypatch.delenv("GRADFLOW_PG_PREPARED_STATEMENTS", raising=False)
    else:
        monkeypatch.setenv("GRADFLOW_PG_PREPARED_STATEMENTS", raw)
    assert load_settings().pg_prepared_statements is expected


def test_the_runtime_builds_its_engine_with_the_setting(engine, runtime):
    import dataclasses

    from gradflow.runtime import build_runtime

    rt = build_runtime(dataclasses.replace(runtime.settings, pg_prepared_statements=False))
    try:
        assert len(_reads_then(rt.db, "close")) == 1
        assert _prepared(rt.db) == 0
    finally:
        rt.db.dispose()
    assert len(_reads_then(runtime.db, "close")) >= 1  # the suite's runtime, setting on: they are kept
    assert _prepared_anywhere(runtime.db) >= 1


def _prepared_anywhere(eng) -> int:
    """Prepared statements of the probe on any pooled connection of `eng` (each connection has its own)."""
    found = 0
    conns = [eng.connect() for _ in range(3)]
    try:
        for conn in conns:
            found = max(found, conn.execute(PREPARED, {"probe": f"%FROM {PROBE}%"}).scalar_one())
    finally:
        for conn in conns:
            conn.close()
    return found
