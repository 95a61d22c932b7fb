"""The production timer/outbox path with real parts: Redis broker, `gradflow worker`, `gradflow beat`.

Why a real worker subprocess and not CELERY_EAGER or a mocked task: gradflow.celery_app
reads its configuration from the environment at import time, and the worker builds its
own runtime (its own settings, engine, SpecRegistry, and the process modules named in
GRADFLOW_EXTRA_MODULES; it never deploys). Only a separate process fed by a real broker and a real
beat shows that this wiring works end to end (env -> settings -> beat -> Redis -> task ->
runtime -> shared database), that a worker can step an instance of a process it never
deployed itself (the BPMN text lives in process_version and specs are loaded by version
id), and that the database (a SQLite file in WAL mode, or PostgreSQL) is really shared
between the web/test process and the worker.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from tests.conftest import REDIS_URL, ROOT, port_open, require_service

WAIT_SECONDS = 30


def _gradflow_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("gradflow")  # the console script `make worker` runs
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "gradflow.cli", *args]


def _start(args: list[str], env: dict, log_path: Path) -> tuple[subprocess.Popen, object]:
    log = open(log_path, "wb")
    # A new session: the process and the children it forks (prefork pool) share one
    # process group, so teardown can make sure none of them outlives the test.
    proc = subprocess.Popen(args, env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, log


def _stop(proc: subprocess.Popen, log, timeout: float = 15) -> None:
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish the current task, exit
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of this group only (pool children)
        except (ProcessLookupError, PermissionError):
            pass
        log.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"


@pytest.mark.service
def test_worker_and_beat_fire_timer_and_deliver_outbox(runtime, database_url, tmp_path):
    from engine import services
    from engine.models import AuditEvent, OutboxMessage, ProcessInstance, ProcessVersion

    broker = urlparse(REDIS_URL)
    host, port = broker.hostname or "127.0.0.1", broker.port or 6379
    if not port_open(host, port):
        require_service("Redis", f"nothing listens on {host}:{port} (broker for the Celery worker test)")

    # The worker does not deploy (`gradflow deploy` is the one explicit step): timer_outbox, a test-only
    # process, must come from the database; its handler and sender come from the test module.
    processes_dir = ROOT / "processes"
    assert not any("timer_outbox" in p.read_text(encoding="utf-8") for p in processes_dir.rglob("*.bpmn"))

    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    with runtime.Session() as s:
        instance = runtime.runner.start(s, "timer_outbox", services.SYSTEM, scope={},
                                        data={"due_at": due.isoformat()})
        s.commit()
        instance_id, version_id = instance.id, instance.version_id
        assert instance.status == "running"
        assert instance.next_timer_at == due.replace(tzinfo=None)
        versions_before = s.scalar(select(func.count()).select_from(ProcessVersion)
                                   .where(ProcessVersion.process_id == "timer_outbox"))

    # Messages left in the test broker's queues by an earlier, aborted run would only
    # delay this worker (the tasks take no arguments), but drop them anyway.
    import redis

    redis.Redis.from_url(REDIS_URL).delete("celery", "outbox", "timers")

    var_dir = tmp_path / "worker-var"
    env = {
        **os.environ,
        "GRADFLOW_MODE": "production",  # the configuration checks production runs with
        "SECRET_KEY": "worker-test-" + uuid.uuid4().hex,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_EAGER": "0",
        "DATABASE_URL": database_url,
        "GRADFLOW_VAR_DIR": str(var_dir),
        "GRADFLOW_TIMER_POLL_SECONDS": "1",
        "GRADFLOW_EXTRA_MODULES": "tests.modules.testkit",
        "PYTHONPATH": str(ROOT),  # the test module lives in tests/, not in the installed packages
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_RESULT_BACKEND", None)
    env.pop("GRADFLOW_PASSWORD_HASH", None)  # the tests' cheap hash is refused in production mode
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    ping_file = var_dir / "outbox" / "ping.jsonl"

    started = time.monotonic()
    procs = []
    ok = False
    try:
        procs.append(_start(_gradflow_command("worker", "--concurrency", "1"), env, worker_log))
        procs.append(_start(_gradflow_command("beat"), env, beat_log))

        state = {}
        while time.monotonic() - started < WAIT_SECONDS:
            for proc, _ in procs:
                assert proc.poll() is None, f"{proc.args} exited early with code {proc.returncode}"
            with runtime.Session() as s:
                inst = s.get(ProcessInstance, instance_id)
                rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)))
                state = {
                    "status": inst.status,
                    "status_label": inst.status_label,
                    "last_error": inst.last_error,
                    "outbox": [(r.kind, r.delivered_at, r.attempts, r.last_error) for r in rows],
                }
            if (state["status"] == "completed" and state["outbox"]
                    and all(r[1] is not None for r in state["outbox"]) and ping_file.exists()):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started

        assert state.get("status") == "completed", f"not completed after {WAIT_SECONDS}s: {state}"
        assert state["status_label"] == "已触发"
        assert state["last_error"] is None
        with runtime.Session() as s:
            rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)))
            assert [r.kind for r in rows] == ["test.ping"], state
            row = rows[0]
            assert row.delivered_at is not None, state
            assert row.attempts == 0 and row.last_error is None
            # Fired by the timer, not early: the row was written after the due time.
            assert row.created_at >= due.replace(tzinfo=None)
            assert s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "timer")) == 1
            # The worker deployed nothing: timer_outbox still has only the version the test deployed.
            assert s.scalar(select(func.count()).select_from(ProcessVersion)
                            .where(ProcessVersion.process_id == "timer_outbox")) == versions_before
            assert s.get(ProcessInstance, instance_id).version_id == version_id
        lines = [json.loads(line) for line in ping_file.read_text(encoding="utf-8").splitlines() if line]
        assert [line["instance_id"] for line in lines] == [instance_id], lines
        assert lines[0]["outbox_id"] == row.id
        print(f"timer fired and outbox delivered by the worker {elapsed:.1f}s after start")
        ok = True
    finally:
        for proc, log in reversed(procs):  # beat first, so no tick is left queued for nobody
            _stop(proc, log)
        if not ok:
            print("----- gradflow worker log -----\n" + _read(worker_log))
            print("----- gradflow beat log -----\n" + _read(beat_log))


def test_outbox_delivery_is_idempotent_under_concurrent_deliverers(runtime):
    """Two deliverers race over the same pending rows; every row is sent exactly once."""
    from engine import outbox
    from engine.models import OutboxMessage

    kind = "test.concurrent_delivery"
    calls: list[tuple[int, str]] = []
    lock = threading.Lock()

    def record(row, _sessions) -> None:
        with lock:
            calls.append((row.id, threading.current_thread().name))
        time.sleep(0.01)  # a slow send keeps the row claimed while the other deliverer arrives

    senders = {**runtime.extensions.senders, kind: record}

    with runtime.Session() as s:
        s.add_all([OutboxMessage(kind=kind, payload={"n": n}) for n in range(30)])
        s.commit()
        ids = sorted(s.scalars(select(OutboxMessage.id).where(OutboxMessage.kind == kind)))
    assert len(ids) == 30

    barrier = threading.Barrier(2)
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def deliver():
        try:
            barrier.wait(timeout=10)
            results[threading.current_thread().name] = outbox.deliver_pending(runtime.Session, senders)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, name=f"deliverer-{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a deliverer hung"
    assert not errors, errors

    sent = sorted(row_id for row_id, _ in calls)
    assert sent == ids, "each row must be sent exactly once"
    assert sum(results.values()) == len(ids), results
    with runtime.Session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
        assert all(r.delivered_at is not None and r.attempts == 0 for r in rows)
    assert outbox.deliver_pending(runtime.Session, senders) == 0  # nothing left to send again
    assert len(calls) == len(ids)
    print("rows per deliverer:", results)


@pytest.mark.service
def test_a_timer_backlog_is_drained_by_helpers_on_every_timer_worker_process(runtime, database_url, tmp_path):
    # rules ONL-2, NOTE-2: a tick that finds more than a batch due sends GRADFLOW_TIMER_WORKERS - 1 helpers;
    # the two processes of `gradflow worker --queues timers --concurrency 2` share the backlog, each instance once
    import re

    from celery import Celery

    from engine import services
    from engine.models import AuditEvent, ProcessInstance
    from engine.timers import BATCH, SQLITE_BATCH

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time: helpers would only queue for its write lock")
    broker = urlparse(REDIS_URL)
    if not port_open(broker.hostname or "127.0.0.1", broker.port or 6379):
        require_service("Redis", f"nothing listens on {broker.hostname}:{broker.port} (broker for the worker test)")
    n = 3 * BATCH  # with two batches the tick could claim the second before its helper started
    assert SQLITE_BATCH < BATCH
    due = datetime.now(UTC) + timedelta(seconds=5)  # after the instances are made; the tick waits for the worker
    with runtime.Session() as s:
        started = [runtime.runner.start(s, "timer_outbox", services.SYSTEM, scope={},
                                        data={"due_at": due.isoformat(), "pause_ms": 10}) for _ in range(n)]
        assert {i.status for i in started} == {"running"}
        s.commit()
        ids = [i.id for i in started]
    import redis

    redis.Redis.from_url(REDIS_URL).delete("celery", "outbox", "timers", "documents")
    env = {**os.environ, "GRADFLOW_MODE": "production", "SECRET_KEY": "worker-test-" + uuid.uuid4().hex,
           "CELERY_BROKER_URL": REDIS_URL, "CELERY_EAGER": "0", "DATABASE_URL": database_url,
           "GRADFLOW_VAR_DIR": str(tmp_path / "var"), "GRADFLOW_TIMER_POLL_SECONDS": "60",
           "GRADFLOW_TIMER_WORKERS": "2", "GRADFLOW_EXTRA_MODULES": "tests.modules.testkit",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("CELERY_RESULT_BACKEND", None)
    env.pop("GRADFLOW_PASSWORD_HASH", None)
    log_path = tmp_path / "timers.log"
    proc, log = _start(_gradflow_command("worker", "--queues", "timers", "--concurrency", "2", "--name",
                                         "timers@%h"), env, log_path)
    ok = False
    try:
        deadline = time.monotonic() + 60
        while "ready" not in _read(log_path) and time.monotonic() < deadline:
            assert proc.poll() is None, _read(log_path)
            time.sleep(0.2)
        while datetime.now(UTC) < due + timedelta(milliseconds=200):
            time.sleep(0.05)
        Celery(broker=REDIS_URL).send_task("gradflow.fire_due_timers", queue="timers")  # one tick, as beat sends
        done = 0
        while time.monotonic() < deadline:
            with runtime.Session() as s:
                done = s.scalar(select(func.count()).select_from(ProcessInstance).where(
                    ProcessInstance.id.in_(ids), ProcessInstance.status == "completed")) or 0
            if done == n and len(re.findall(r"succeeded in [\d.]+s: (\d+)", _read(log_path))) == 2:
                break
            time.sleep(0.2)
        counts = [int(c) for c in re.findall(r"succeeded in [\d.]+s: (\d+)", _read(log_path))]
        assert done == n, f"{done} of {n} fired"
        assert len(counts) == 2 and sum(counts) == n and min(counts) > 0, counts  # the tick and its helper
        with runtime.Session() as s:
            events = dict(s.execute(select(AuditEvent.instance_id, func.count()).where(
                AuditEvent.instance_id.in_(ids), AuditEvent.action == "timer").group_by(AuditEvent.instance_id)).all())
        assert events == {i: 1 for i in ids}  # each fired once
        print(f"timer backlog of {n}: fired {counts[0]} + {counts[1]} by the tick and its helper")
        ok = True
    finally:
        _stop(proc, log)
        if not ok:
            print("----- timer worker log -----\n" + _read(log_path))
            (ROOT / "test-output").mkdir(exist_ok=True)
            (ROOT / "test-output" / "timers_helper_worker.log").write_text(_read(log_path), encoding="utf-8")
