"""Deploying process files: many processes at once, and versions deployed by another process.

These tests build their own scratch database (a fresh SQLite file, or a fresh PostgreSQL
database under GRADFLOW_TEST_DB=postgresql), migrated with the project's real migrations,
so they start from an empty process_version table and need no shared fixture.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.conftest import PG_ADMIN_URL, ROOT, TEST_PROCESSES, backend, port_open, require_service

PROCESSES = ROOT / "processes"
WORKERS = 4


@pytest.fixture
def scratch_url(tmp_path):
    """A fresh, migrated, empty database of the backend under test."""
    from gradflow.cli import migrate

    if backend() == "postgresql":
        if not port_open("127.0.0.1", 5432):
            require_service("PostgreSQL", "nothing listens on 127.0.0.1:5432")
        name = f"gradflow_deploy_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        try:
            migrate(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
        migrate(url)
        yield url


@pytest.fixture
def sessions(scratch_url):
    from core.db import make_engine, make_session_factory

    eng = make_engine(scratch_url)
    yield make_session_factory(eng)
    eng.dispose()


# One OS process of the concurrent-deploy test: its own engine and its own SpecRegistry, as
# a web process or worker starting up would have. It waits at a file barrier so all four
# deploy at the same moment, and keeps its transaction open a moment after deploying (as a
# slow start-up would) so every other deploy overlaps an uncommitted insert.
_DEPLOY_CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path

    from sqlalchemy import select

    from core.db import make_engine, make_session_factory
    from engine.models import ProcessVersion
    from engine.specs import SpecRegistry, read_process_files

    url, processes, barrier, index, count = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    eng = make_engine(url)
    Session = make_session_factory(eng)
    registry = SpecRegistry([processes])
    read_process_files(processes)  # imports and a first file read done before the barrier
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("ready-*"))) < count:
        if time.monotonic() > deadline:
            sys.exit("barrier timed out")
        time.sleep(0.005)
    with Session() as session:
        rows = registry.deploy(session)
        time.sleep(0.5)
        session.commit()
        inserted = sorted(r.process_id for r in rows)
    with Session() as session:
        ids = session.scalars(select(ProcessVersion.process_id).distinct()).all()
        latest = {pid: registry.latest_version_id(session, pid) for pid in sorted(ids)}
    print(json.dumps({"inserted": inserted, "latest": latest}))
    eng.dispose()
""")


def _last_error(stderr: str) -> str:
    """The exception line of a child's traceback, without the SQL parameters that follow it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("sqlalchemy.", "psycopg.", "sqlite3.")) or "Error:" in line.split(" ", 1)[0]:
            return line[:300]
    return "\n".join(lines[-5:])[-1500:]


def test_four_processes_deploying_at_once_all_succeed_with_one_row_per_version(scratch_url, tmp_path):
    # design: deploy is one explicit step
    from engine.models import ProcessVersion

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _DEPLOY_CHILD, scratch_url, str(PROCESSES), str(barrier), str(i),
                          str(WORKERS)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    failures = [f"deploy {i} exited {rc}: {_last_error(err)}" for i, (rc, _out, err) in enumerate(results) if rc]
    if failures:
        pytest.fail(f"{len(failures)} of {WORKERS} concurrent deploys failed:\n" + "\n".join(failures), pytrace=False)

    reports = [json.loads(out.strip().splitlines()[-1]) for _rc, out, _err in results]
    eng = create_engine(scratch_url)
    try:
        with eng.connect() as conn:
            counts = dict(conn.execute(select(ProcessVersion.process_id, func.count())
                                       .group_by(ProcessVersion.process_id)).all())
    finally:
        eng.dispose()
    assert counts, "nothing was deployed"
    assert set(counts.values()) == {1}, counts  # each process id: exactly one version row
    assert {pid for r in reports for pid in r["latest"]} == set(counts)
    # Every caller sees the same rows, and each row was inserted by exactly one caller.
    assert all(r["latest"] == reports[0]["latest"] for r in reports), reports
    inserted = sorted(pid for r in reports for pid in r["inserted"])
    assert inserted == sorted(counts), reports


class _NoUserTasks:
    """Access policy for a process without user tasks: nobody sees or completes an item."""

    def may_see_item(self, actor, item):
        return False

    def may_complete(self, actor, item):
        return False

    def item_filter(self, actor):
        return text("1 = 0")


def test_a_running_process_starts_new_instances_on_a_version_another_process_deployed(sessions, tmp_path):
    # design: deploy is one explicit step
    from engine import services
    from engine.models import ProcessInstance
    from engine.runner import Runner
    from engine.specs import SpecRegistry

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    shutil.copy(TEST_PROCESSES / "timer_outbox.bpmn", first / "timer_outbox.bpmn")
    original = (first / "timer_outbox.bpmn").read_text(encoding="utf-8")
    assert 'name="测试：定时器与发件箱"' in original
    (second / "timer_outbox.bpmn").write_text(original.replace("测试：定时器与发件箱", "测试：定时器与发件箱（新版）"),
                                              encoding="utf-8")
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()

    with sessions() as s:
        v1_rows = SpecRegistry([first]).deploy(s)
        s.commit()
    assert [r.process_id for r in v1_rows] == ["timer_outbox"]
    v1 = v1_rows[0].id

    # The "web process": its own registry and runner, already running an instance on version 1.
    web = Runner(SpecRegistry([first]), services.Extensions(), _NoUserTasks(), script_time_limit=1)
    with sessions() as s:
        assert web.registry.latest_version_id(s, "timer_outbox") == v1
        old = web.start(s, "timer_outbox", services.SYSTEM, scope={}, data={"due_at": due})
        s.commit()
    assert old.version_id == v1 and old.title == "测试：定时器与发件箱"

    # Another process deploys the changed file.
    with sessions() as s:
        v2_rows = SpecRegistry([second]).deploy(s)
        s.commit()
    assert [r.process_id for r in v2_rows] == ["timer_outbox"]
    v2 = v2_rows[0].id
    assert v2 != v1

    with sessions() as s:
        assert web.registry.latest_version_id(s, "timer_outbox") == v2
        fresh = web.start(s, "timer_outbox", services.SYSTEM, scope={}, data={"due_at": due})
        s.commit()
    assert fresh.version_id == v2 and fresh.title == "测试：定时器与发件箱（新版）"

    with sessions() as s:
        kept = s.get(ProcessInstance, old.id)
        assert kept.version_id == v1  # the running instance keeps the version it started on
        assert web.load(s, kept).spec.name == "timer_outbox"
        assert web.registry.load(s, kept.version_id).name == "测试：定时器与发件箱"
        # Re-deploying the old files from the web process's registry makes no new version.
        assert web.registry.deploy(s) == []
        s.commit()


def test_process_files_are_read_from_subfolders_and_a_repeated_name_is_refused(tmp_path):
    # design: deploy is one explicit step
    from core.errors import EngineError
    from engine.specs import SpecRegistry, read_process_files

    (tmp_path / "family_a").mkdir()
    (tmp_path / "family_b" / "deeper").mkdir(parents=True)
    shutil.copy(TEST_PROCESSES / "timer_outbox.bpmn", tmp_path / "family_a" / "timer_outbox.bpmn")
    shutil.copy(TEST_PROCESSES / "review_without_return.bpmn",
                tmp_path / "family_b" / "deeper" / "review_without_return.bpmn")
    assert set(read_process_files(tmp_path)) == {"timer_outbox.bpmn", "review_without_return.bpmn"}

    shutil.copy(TEST_PROCESSES / "timer_outbox.bpmn", tmp_path / "family_b" / "timer_outbox.bpmn")
    with pytest.raises(EngineError, match="timer_outbox.bpmn"):
        read_process_files(tmp_path)

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(TEST_PROCESSES / "timer_outbox.bpmn", other / "timer_outbox.bpmn")
    with pytest.raises(EngineError, match="timer_outbox.bpmn"):
        SpecRegistry([tmp_path / "family_a", other]).read_files()
