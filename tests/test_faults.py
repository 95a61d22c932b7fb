"""Faults with real processes killed (issue 12 item 4): a web process killed mid-step, the broker stopped, the
database restarted under load. Each part is a real process (gunicorn, a Celery worker and beat, a private
redis-server, a private PostgreSQL cluster); none is the machine's own service.

The worker killed mid-delivery (exactly once after restart) is tests/test_sync_worker.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import Settings
from domain import seed
from domain.accounts import actor_for
from domain.models import Account, Graduate, Message
from engine.models import AuditEvent, OutboxMessage, ProcessInstance, WorkItem
from processes.destination import services as filing
from tests.conftest import TEST_MODULE, open_items, require_service, with_proof
from tests.fault_helpers import (
    PrivatePostgres,
    PrivateRedis,
    Process,
    WebServer,
    app_env,
    assert_consistent,
    bearer,
    gradflow_command,
    read_log,
    wait_until,
)
from tests.modules.testkit import SLOW_STEP_ENV

BROKER_OUTAGE_SECONDS = float(os.environ.get("GRADFLOW_TEST_BROKER_OUTAGE", "5"))  # bench/faults.py: 60


def _filings(runtime, actor, make_graduate, n: int, prefix: str = "g") -> list[int]:
    """n graduates, each with a destination filing waiting in 院系审核 (REV-1); their department items' ids."""
    ids = []
    for i in range(n):
        make_graduate(f"{prefix}{i}")
        g = actor(f"{prefix}{i}")
        with runtime.Session() as s:
            inst = filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                       with_proof(s, g.graduate_id))
            s.commit()
        ids.append(open_items(runtime, inst.id, "Department")[0].id)
    return ids


def _approve(server: WebServer, headers: dict, item_id: int):
    return server.request("POST", f"/api/v1/work-items/{item_id}/complete", {"decision": "approve"}, headers)


# -- a: a web process killed with SIGKILL mid-step ------------------------------------------------------------
def test_a_web_process_killed_mid_step_leaves_the_instance_where_it_was(runtime, database_url, settings, world,
                                                                      make_graduate, actor, tmp_path):
    # rules REV-1, REV-2: the department's approval is written but not committed when its gunicorn worker dies
    flag = tmp_path / "slow-step"
    server = WebServer(app_env(database_url, settings.var_dir, **{SLOW_STEP_ENV: str(flag)}),
                       tmp_path / "gunicorn.log", workers=1, threads=4)
    try:
        [item_id] = _filings(runtime, actor, make_graduate, 1)
        headers = bearer(runtime, "dept_info")
        with runtime.Session() as s:
            item = s.get(WorkItem, item_id)
            before = s.get(ProcessInstance, item.instance_id)
            instance_id, version, label = before.id, before.version, before.status_label
        server.wait_ready()
        [victim] = server.worker_pids()
        flag.write_text("hold", encoding="utf-8")
        answer: dict = {}
        posting = threading.Thread(target=lambda: answer.setdefault("r", _approve(server, headers, item_id)))
        posting.start()
        reached = Path(str(flag) + ".reached")
        wait_until(reached.exists, 60, "the step reaching its slow hook")
        assert reached.read_text(encoding="utf-8") == str(instance_id)
        os.kill(victim, signal.SIGKILL)  # mid-step: its rows are flushed inside an open transaction
        posting.join(30)
        assert answer["r"][0] in (0, 500, 502), answer  # the client saw the connection die, never a success
        flag.unlink()

        with runtime.Session() as s:  # the instance is at its previous step, nothing of the step survived
            inst = s.get(ProcessInstance, instance_id)
            assert (inst.version, inst.status_label) == (version, label) == (version, "等待院系审核")
            assert s.get(WorkItem, item_id).state == "open"
            assert s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "complete")) == 0
            assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert_consistent(runtime, instance_id)

        # gunicorn's master starts a new worker; the same step succeeds there
        wait_until(lambda: server.worker_pids() and victim not in server.worker_pids(), 30, "a new worker")
        server.wait_ready()
        status, _h, body = _approve(server, headers, item_id)
        assert status == 200 and body["status_label"] == "等待学校审核", body
        with runtime.Session() as s:
            assert s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "complete")) == 1
            assert s.get(ProcessInstance, instance_id).version == version + 1
        assert_consistent(runtime, instance_id)
    finally:
        if flag.exists():
            flag.unlink()
        server.stop()
        print(read_log(server.process.log_path, 1500))


# -- b: the broker stopped while steps go on -----------------------------------------------------------------
def _notifications(runtime) -> tuple[int, int]:
    with runtime.Session() as s:
        rows = list(s.execute(select(OutboxMessage.delivered_at).where(OutboxMessage.kind.like("notify.%"))))
    return len(rows), sum(1 for (d,) in rows if d is not None)


def _spooled(var_dir: Path) -> list[int]:
    import json

    ids = []
    for name in ("sms.jsonl", "email.jsonl"):
        path = var_dir / "outbox" / name
        if path.exists():
            ids += [json.loads(line)["outbox_id"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    return ids


def run_broker_outage(runtime, database_url: str, var_dir: Path, work_dir: Path, items: list[int], headers: dict,
                      outage: float, report: dict | None = None) -> None:
    """Steps through gunicorn before, during and after a stop of the Celery broker (a private redis-server);
    afterwards every notification the steps wrote is delivered by the worker exactly once. Shared with
    bench/faults.py, which runs it with a 60 s outage and prints `report`."""
    report = {} if report is None else report
    redis = PrivateRedis(work_dir)
    worker_var = work_dir / "worker-var"
    broker_env = {"CELERY_BROKER_URL": redis.url, "CELERY_EAGER": "0", "GRADFLOW_TIMER_POLL_SECONDS": "1"}
    env = app_env(database_url, worker_var, **broker_env)
    procs: list[Process] = []
    server = None
    ok = False
    try:
        redis.start()
        procs.append(Process(gradflow_command("worker", "--concurrency", "1"), env, work_dir / "worker.log"))
        procs.append(Process(gradflow_command("beat"), env, work_dir / "beat.log"))
        server = WebServer(app_env(database_url, var_dir, **broker_env), work_dir / "gunicorn.log", workers=1)
        redis.wait_ready()
        server.wait_ready()
        third = len(items) // 3
        before, during, after = items[:third], items[third:2 * third], items[2 * third:]

        def step_all(ids: list[int]) -> list[float]:
            took = []
            for item_id in ids:
                t = time.monotonic()
                status, _h, body = _approve(server, headers, item_id)
                assert status == 200, (status, body)
                took.append(time.monotonic() - t)
            return took

        def delivered_all() -> bool:
            total, delivered = _notifications(runtime)
            return total > 0 and total == delivered

        step_all(before)
        wait_until(delivered_all, 60, "notifications delivered before the outage")
        report["before"] = _notifications(runtime)

        redis.stop()  # the broker is gone: beat cannot queue ticks, the worker loses its connection
        stopped = time.monotonic()
        took = step_all(during)  # the web side keeps accepting steps: their outbox rows are in the database
        report["during_steps"], report["during_p_max"] = len(took), max(took)
        while time.monotonic() - stopped < outage:
            assert all(p.alive() for p in procs), "a worker or beat exited while the broker was down"
            time.sleep(0.2)
        total, delivered = _notifications(runtime)
        assert delivered == report["before"][1] < total, (delivered, total)  # nothing sent without the broker
        report["outage"] = time.monotonic() - stopped

        redis.start()  # the same port, empty (it keeps nothing on disk)
        restarted = time.monotonic()
        step_all(after)
        wait_until(delivered_all, 120, "every notification delivered after the broker came back")
        report["resumed_after"] = time.monotonic() - restarted
        total, delivered = _notifications(runtime)
        spooled = _spooled(worker_var)
        with runtime.Session() as s:
            ids = sorted(s.scalars(select(OutboxMessage.id).where(OutboxMessage.kind.like("notify.%"))))
        assert sorted(spooled) == ids, "each notification sent exactly once"  # nothing lost, nothing twice
        report["notifications"] = total
        for item_id in items:
            with runtime.Session() as s:
                assert s.get(WorkItem, item_id).state == "completed"
        ok = True
    finally:
        if server is not None:
            server.stop()
        for proc in reversed(procs):
            proc.stop()
        redis.stop()
        if not ok:
            for name in ("worker", "beat", "gunicorn"):
                print(f"----- {name} -----\n" + read_log(work_dir / f"{name}.log"))


@pytest.mark.service
@pytest.mark.one_backend  # production-only (a real broker and worker; the embedded default has neither)
def test_the_broker_stopped_steps_go_on_and_delivery_resumes_exactly_once(runtime, database_url, settings, world,
                                                                          make_graduate, actor, tmp_path):
    # rules REV-2, NOTE-1: every approval tells the graduate (message, SMS and e-mail through the outbox)
    if shutil.which("redis-server") is None:
        require_service("redis-server", "not installed (a private broker is started for this test)")
    report: dict = {}
    items = _filings(runtime, actor, make_graduate, 6)
    run_broker_outage(runtime, database_url, settings.var_dir, tmp_path, items, bearer(runtime, "dept_info"),
                      BROKER_OUTAGE_SECONDS, report)
    print("broker outage:", report)


# -- c: the database restarted under load --------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_pg(tmp_path_factory):
    """A PostgreSQL cluster of this module's own, migrated and deployed: the test restarts it."""
    if not PrivatePostgres.available():
        require_service("PostgreSQL server binaries", "initdb/pg_ctl not found (a private cluster is restarted)")
    from gradflow.cli import migrate
    from gradflow.runtime import build_runtime

    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        migrate(pg.url)
        var = tmp_path_factory.mktemp("pgvar")
        rt = build_runtime(Settings(mode="embedded", database_url=pg.url, secret_key="t-" + uuid.uuid4().hex,
                                    extra_modules=(TEST_MODULE,), var_dir=var, script_time_limit_seconds=1))
        rt.deploy()
        yield pg, rt
        rt.db.dispose()
    finally:
        pg.destroy()


def _seed_private(rt, n: int) -> list[int]:
    with rt.Session() as s:
        province = seed.make_province(s)
        school = seed.make_school(s, province)
        dept = seed.make_department(s, school, "信息学院")
        seed.make_account(s, "dept_info", "department", "信息学院审核员", school_id=school.id, department_id=dept.id,
                          module_permissions=seed.ALL_READ_WRITE)
        grads = [seed.make_graduate(s, school, dept, username=f"r{i}") for i in range(n)]
        s.commit()
        for i, grad in enumerate(grads):
            g = actor_for(s, s.scalar(select(Account).where(Account.username == f"r{i}")))
            filing.start_filing(s, rt.runner, g, grad, with_proof(s, grad.id))
        s.commit()
        return list(s.scalars(select(WorkItem.id).where(WorkItem.role == "Department", WorkItem.state == "open")
                              .order_by(WorkItem.id)))


def run_database_restart(rt, pg: PrivatePostgres, server: WebServer, items: list[int], headers: dict,
                         down_seconds: float | None = None, clients: int = 4) -> dict:
    """`clients` threads read the inbox and approve `items` through gunicorn while PostgreSQL is stopped (fast:
    active backends are terminated mid-transaction) and started again. Down until `down_seconds` have passed, or
    (None) until 8 requests were answered 503. A refused step is tried again later, as a client would.
    Shared with bench/faults.py. Returns every answer as (time, what, status, headers, body) and the times."""
    answers: list[tuple[float, str, int, dict, object]] = []
    todo = list(items)
    stop = threading.Event()
    lock = threading.Lock()

    def load():
        while not stop.is_set():
            with lock:
                item_id = todo.pop(0) if todo else None
            if item_id is None:
                status, head, body = server.request("GET", "/api/v1/work-items", headers=headers, timeout=20)
                answers.append((time.monotonic(), "read", status, head, body))
            else:
                status, head, body = _approve(server, headers, item_id)
                answers.append((time.monotonic(), f"step:{item_id}", status, head, body))
                if status not in (200, 409):  # 409: done already (see the test)
                    with lock:
                        todo.append(item_id)
            time.sleep(0.02)

    threads = [threading.Thread(target=load) for _ in range(clients)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: sum(1 for a in answers if a[2] == 200) >= 10, 90, "load running")
        down_at = time.monotonic()
        pg.stop("fast")
        if down_seconds is None:
            wait_until(lambda: sum(1 for a in answers if a[0] > down_at and a[2] == 503) >= 8, 60, "503s while down")
        else:
            time.sleep(down_seconds)
        up_at = time.monotonic()
        pg.start()
        wait_until(lambda: not todo and sum(1 for a in answers if a[0] > up_at and a[2] == 200) >= 10, 120,
                   "every step done after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    first_ok = min((a[0] for a in answers if a[0] > up_at and a[2] == 200), default=up_at)
    return {"answers": answers, "down_at": down_at, "up_at": up_at, "first_ok_after_start": first_ok - up_at}


@pytest.mark.one_backend  # its own PostgreSQL cluster, whatever the suite's backend
@pytest.mark.service
def test_the_database_restarted_under_load_gives_503s_then_success(private_pg, tmp_path):
    # rules REV-1, REV-2, ROLE-1: reviewers keep reading their inbox and approving while PostgreSQL restarts
    pg, rt = private_pg
    items = _seed_private(rt, 40)
    server = WebServer(app_env(pg.url, rt.settings.var_dir), tmp_path / "gunicorn.log", workers=2, threads=4)
    headers = bearer(rt, "dept_info")
    try:
        server.wait_ready()
        run = run_database_restart(rt, pg, server, items, headers)
    finally:
        server.stop()
    answers = run["answers"]
    statuses = {a[2] for a in answers}
    history = {what: [a[2] for a in answers if a[1] == what] for what in {a[1] for a in answers}}
    assert statuses <= {200, 409, 503}, ({s: sum(1 for a in answers if a[2] == s) for s in statuses},
                                         [(a[1], a[2], a[4]) for a in answers if a[2] not in (200, 409, 503)][:3])
    for what, seen in history.items():
        if 409 in seen:  # a step whose commit went through as the database went down was answered 503 (its answer
            # was lost with the connection); its retry is then a clear "already done", never a second step
            assert what.startswith("step:") and seen[:seen.index(409)][-1:] == [503] and seen.count(200) == 0, seen
    for _t, _what, status, _head, body in answers:
        if status == 409:
            assert "已被处理" in body["error"]["message"], body
    for _t, _what, status, head, body in answers:
        if status == 503:  # clear: JSON with the reason and when to come back
            assert head.get("Retry-After") == "30" and head["Content-Type"].startswith("application/json"), head
            assert body["error"]["message"] == "系统暂时无法访问数据库，请稍后重试" and body["error"]["details"] == {
                "retry_after": 30}
    done = {int(a[1].split(":")[1]) for a in answers if a[1].startswith("step:") and a[2] in (200, 409)}
    assert done == set(items)  # every step done in the end
    rt.db.dispose()  # this test process's own pooled connections died with the restart (the server's answered 503)
    with rt.Session() as s:
        for item_id in items:
            item = s.get(WorkItem, item_id)
            assert item.state == "completed"
            assert s.scalar(select(func.count()).select_from(AuditEvent).where(  # once: a 503 left nothing behind
                AuditEvent.instance_id == item.instance_id, AuditEvent.action == "complete")) == 1
        instance_ids = list(s.scalars(select(ProcessInstance.id)))
    for instance_id in instance_ids:  # none corrupted: each loads, its open items match its workflow
        assert_consistent(rt, instance_id)
    print(f"{len(answers)} answers, {sum(1 for a in answers if a[2] == 503)} x 503 during the restart, "
          f"first success {run['first_ok_after_start']:.1f}s after start")
