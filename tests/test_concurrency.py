"""Concurrent steps on one instance (issue 12 item 3): exactly one wins, every other gets a clear conflict.

Two completions in threads of this process; 50 clients over real HTTP against gunicorn (two worker processes);
a graduate's answer racing the invitation's expiry timer; 1,000 invitations accepted at once by 500 graduates.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import resource
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from core.db import utcnow
from core.errors import Conflict
from domain import seed
from domain.accounts import actor_for
from domain.models import Account, Agreement, Graduate, Message
from engine.models import AuditEvent, ProcessInstance, WorkItem
from engine.timers import fire_due_timers
from processes.agreements import services as agreements
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import TERMS, open_items, with_proof
from tests.fault_helpers import WebServer, app_env, assert_consistent, bearer, http, read_log, wait_until


def test_two_reviewers_completing_one_item_at_once(runtime, world, make_graduate, step, actor):
    # rules REV-2, ROLE-1
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                        with_proof(s, g.graduate_id)))
    item = open_items(runtime, inst.id, "Department")[0]
    dept = actor("dept_info")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(decision: str):
        with runtime.Session() as s:
            # both load the review page (a read) before either submits
            runtime.runner.open_work_item(s, item.id, dept)
            s.rollback()
            barrier.wait()
            try:
                s.connection(execution_options={"sqlite_immediate": True})
                reviews.review(s, runtime.runner, dept, item.id, decision, "理由" if decision == "reject" else "")
                s.commit()
                outcomes.append("ok:" + decision)
            except Conflict as exc:
                s.rollback()
                outcomes.append("conflict:" + exc.message)

    threads = [threading.Thread(target=attempt, args=(d,)) for d in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    oks = [o for o in outcomes if o.startswith("ok:")]
    conflicts = [o for o in outcomes if o.startswith("conflict:")]
    assert len(oks) == 1 and len(conflicts) == 1, outcomes
    assert "已被" in conflicts[0] or "处理" in conflicts[0]
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        expected = "等待学校审核" if oks[0] == "ok:approve" else "审核不通过（院系审核不通过）"
        assert row.status_label == expected
        completed = s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.instance_id == inst.id, WorkItem.role == "Department", WorkItem.state == "completed"))
        assert completed == 1
        audits = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == inst.id, AuditEvent.action == "complete", AuditEvent.task_name == "department_review"))
        assert audits == 1  # the loser wrote nothing
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def test_stale_version_is_refused_not_overwritten(runtime, world, make_graduate, step, actor):
    # rule REV-2
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                                        with_proof(s, g.graduate_id)))
    with runtime.Session() as stale:
        old = stale.get(ProcessInstance, inst.id)
        version = old.version
        item = open_items(runtime, inst.id, "Department")[0]
        dept = actor("dept_info")
        step(lambda s: reviews.review(s, runtime.runner, dept, item.id, "approve", ""))
        old.status_label = "被覆盖"
        try:
            stale.flush()
            raise AssertionError("a stale write must fail")
        except Exception as exc:  # PostgreSQL: the version check; SQLite: the stale snapshot cannot write
            assert "StaleData" in type(exc).__name__ or "locked" in str(exc)
            stale.rollback()
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        assert row.status_label == "等待学校审核" and row.version > version


@pytest.fixture(scope="module")
def web(runtime, database_url, settings, tmp_path_factory):
    """gunicorn over the tests' database (2 worker processes x 8 threads), shared by this module's tests."""
    logs = tmp_path_factory.mktemp("web")
    server = WebServer(app_env(database_url, settings.var_dir), logs / "gunicorn.log", workers=2, threads=8)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_fifty_clients_over_http_on_one_work_item_make_one_step(runtime, world, make_graduate, step, actor, web):
    # rules REV-2, ROLE-1: 50 reviewers' clients, each its own token, post the same decision at once
    make_graduate("g1")
    g = actor("g1")
    inst = step(lambda s: filing.start_filing(s, runtime.runner, g, s.get(Graduate, g.graduate_id),
                                              with_proof(s, g.graduate_id)))
    item = open_items(runtime, inst.id, "Department")[0]
    with runtime.Session() as s:
        for i in range(49):
            seed.make_account(s, f"dept_info{i}", "department", f"信息学院审核员{i}", school_id=world.school.id,
                              department_id=world.info.id, module_permissions=seed.ALL_READ_WRITE)
        s.commit()
    headers = [bearer(runtime, name) for name in ["dept_info", *(f"dept_info{i}" for i in range(49))]]
    barrier = threading.Barrier(50)

    def attempt(h):
        barrier.wait(30)
        return http("POST", f"{web.url}/api/v1/work-items/{item.id}/complete", {"decision": "approve"}, h, timeout=60)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(attempt, headers))
    statuses = sorted(status for status, _h, _b in answers)
    assert statuses == [200] + [409] * 49, (statuses, read_log(web.process.log_path))
    for status, _h, body in answers:
        if status == 409:  # a clear conflict in JSON, never a 500 or a silent second step
            assert "处理" in body["error"]["message"], body
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        assert row.status_label == "等待学校审核" and row.status == "running"
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == inst.id, AuditEvent.action == "complete",
            AuditEvent.task_name == "department_review")) == 1
        assert s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.instance_id == inst.id, WorkItem.role == "Department", WorkItem.state == "completed")) == 1
        assert [i.role for i in s.scalars(select(WorkItem).where(WorkItem.instance_id == inst.id,
                                                                  WorkItem.state == "open"))] == ["School"]
        winner = s.scalar(select(WorkItem.completed_by).where(WorkItem.id == item.id))
        assert winner in set(s.scalars(select(Account.id).where(Account.username.like("dept_info%"))))
        assert s.scalar(select(func.count()).select_from(Message)) == 1  # the graduate is told once (NOTE-1)


# -- a user step racing a timer on the same instance -------------------------------------------------------
class PauseAt:
    """Holds the thread that armed it just before its first SQL statement starting with one of `prefixes`
    (a real pause inside a real transaction: the step has read, and writes nothing until released)."""

    def __init__(self, engine, *prefixes: str):
        self.engine, self.prefixes = engine, tuple(p.upper() for p in prefixes)
        self.local = threading.local()
        self.reached, self.go = threading.Event(), threading.Event()
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self) -> None:
        self.local.armed = True

    def _before(self, _conn, _cursor, statement, *_args):
        if getattr(self.local, "armed", False) and statement.lstrip().upper().startswith(self.prefixes):
            self.local.armed = False
            self.reached.set()
            self.go.wait(30)

    def remove(self) -> None:
        """After the held thread has gone on: removing a listener while it runs breaks SQLAlchemy's dispatch."""
        event.remove(self.engine, "before_cursor_execute", self._before)


def _invitation_due_in(runtime, step, actor, seconds: float):
    employer = actor("hr")
    start = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=seconds)  # answer_days=1: due in `seconds`
    inst = step(lambda s: agreements.invite(s, runtime.runner, employer, actor("g1").graduate_id, TERMS, 1, now=start))
    with runtime.Session() as s:
        return inst.id, s.scalar(select(Agreement.answer_deadline).where(Agreement.instance_id == inst.id))


@pytest.mark.parametrize("pause", ["before its first write", "after saving the instance"])
def test_an_answer_racing_the_expiry_timer_one_wins_never_both(runtime, world, make_graduate, make_employer, step,
                                                               actor, pause):
    # rules ONL-2, ONL-3: the graduate accepts just before the deadline; the expiry timer fires just after, while
    # the answer's transaction is still open. Exactly one of them takes effect; the other reports or retries.
    make_graduate("g1")
    make_employer("hr")
    instance_id, deadline = _invitation_due_in(runtime, step, actor, 2.0)
    graduate = actor("g1")
    postgres = runtime.db.dialect.name == "postgresql"
    prefixes = ("SAVEPOINT", "UPDATE", "INSERT") if pause == "before its first write" else ("INSERT INTO audit_event",)
    gate = PauseAt(runtime.db, *prefixes)
    outcome: dict[str, object] = {}

    def answer():
        with runtime.Session() as s:
            s.connection(execution_options={"sqlite_immediate": True})
            gate.arm()
            try:
                agreements.answer_invitation(s, runtime.runner, graduate, instance_id, "accept")
                s.commit()
                outcome["answer"] = "ok"
            except Conflict as exc:
                s.rollback()
                outcome["answer"] = exc.message

    def timer():
        outcome["fired"] = fire_due_timers(runtime.Session, runtime.runner)

    answering = threading.Thread(target=answer)
    answering.start()
    try:
        wait_until(lambda: gate.reached.is_set() or not answering.is_alive(), 10, "the answer reaching its pause")
        assert gate.reached.is_set(), f"the answer ended before its pause: {outcome}"
        wait_until(lambda: utcnow() > deadline, 5, "the deadline passing")
        timing = threading.Thread(target=timer)
        timing.start()
        if postgres:
            timing.join(10)  # never blocked: it claims the instance FOR UPDATE SKIP LOCKED
            assert not timing.is_alive()
        else:
            timing.join(0.5)  # SQLite: the answer holds the write lock from BEGIN IMMEDIATE, the timer waits for it
            assert timing.is_alive(), outcome
    finally:
        gate.go.set()
        answering.join(30)
        gate.remove()
    timing.join(30)
    assert "answer" in outcome and "fired" in outcome, outcome

    with runtime.Session() as s:
        inst = s.get(ProcessInstance, instance_id)
        agreement = s.scalar(select(Agreement).where(Agreement.instance_id == instance_id))
        labels = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                               .order_by(AuditEvent.id))]
    timer_won = postgres and pause == "before its first write"
    if timer_won:  # the timer claimed the unlocked row and committed first; the answer lost the version check
        assert outcome["fired"] == 1 and "刚被其他人处理" in str(outcome["answer"]), outcome
        assert (agreement.status, inst.status_label) == ("expired", "签约邀请逾期未回应 签约失败")
        assert agreement.active_key is None and labels == ["start", "timer"]
    else:  # the answer held the row (PostgreSQL: skipped) or the write lock (SQLite: waited); then nothing was due
        assert outcome == {"answer": "ok", "fired": 0}, outcome
        assert agreement.status == "accepted" and agreement.active_key == agreement.graduate_id
        assert inst.next_timer_at is None and "逾期" not in inst.status_label
        assert labels == ["start", "complete"]
        assert fire_due_timers(runtime.Session, runtime.runner) == 0  # a later tick has nothing to fire either
    assert_consistent(runtime, instance_id)


# -- 1,000 invitations accepted at once by 500 graduates (2 each) ---------------------------------------------
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _clone_invitations(runtime, step, actor, employers: list[str], graduate_ids: list[int]) -> list[int]:
    """One real invitation through the engine, copied in bulk for every (employer, graduate): its stored workflow,
    its agreement row (ONL-5 key per pair) and its open answer item, as invite() would have written them."""
    first = {}
    for username in employers:
        inst = step(lambda s, u=username: agreements.invite(s, runtime.runner, actor(u), graduate_ids[0], TERMS, 7))
        first[username] = inst.id
    ids = []
    with runtime.Session() as s:
        for template_id in first.values():
            template = s.get(ProcessInstance, template_id)
            agreement = s.scalar(select(Agreement).where(Agreement.instance_id == template_id))
            item = s.scalar(select(WorkItem).where(WorkItem.instance_id == template_id, WorkItem.state == "open"))
            ids.append(template_id)
            rows = []
            for gid in graduate_ids[1:]:
                grad = s.get(Graduate, gid)
                inst = ProcessInstance(**{c: getattr(template, c) for c in (
                    "process_id", "version_id", "title", "category", "status", "status_label", "next_timer_at",
                    "employer_id", "school_id", "cohort")}, graduate_id=gid, department_id=grad.department_id,
                    subject_name=grad.name, subject_no=grad.student_no, serialized="{}")
                rows.append((inst, grad))
            s.add_all([inst for inst, _ in rows])
            s.flush()
            copies = [Agreement(graduate_id=gid, employer_id=agreement.employer_id, instance_id=inst.id, kind="online",
                                status="invited", cohort=agreement.cohort, fields=agreement.fields,
                                answer_deadline=agreement.answer_deadline,
                                open_invite_key=f"{agreement.employer_id}:{gid}")
                      for inst, gid in ((inst, grad.id) for inst, grad in rows)]
            s.add_all(copies)
            s.flush()
            for (inst, grad), copy in zip(rows, copies, strict=True):
                fresh: dict[str, str] = {}  # every task of the copy gets its own id (work_item.task_id is unique)
                serialized = UUID_RE.sub(lambda m, f=fresh: f.setdefault(m.group(0), str(uuid.uuid4())),
                                         template.serialized)
                inst.serialized = serialized.replace(f'"agreement_id": {agreement.id}', f'"agreement_id": {copy.id}')
                s.add(WorkItem(**{c: getattr(item, c) for c in (
                    "task_name", "title", "role", "form_key", "status_label", "optional", "employer_id",
                    "school_id", "cohort", "category", "process_id", "created_at")},
                    task_id=fresh[item.task_id], instance_id=inst.id, graduate_id=grad.id,
                    department_id=grad.department_id,
                    subject_name=grad.name, subject_no=grad.student_no))
                ids.append(inst.id)
        s.commit()
    return ids


def _graduates(s, first: Graduate, n: int) -> list[Graduate]:
    """`first` (made by seed.make_graduate) and n - 1 copies of it and its account, each with its own
    身份证号, 考生号, 学号, phone, e-mail and username, written in one flush."""
    account = s.scalar(select(Account).where(Account.username == "g0"))
    rows, accounts = [first], []
    for i in range(1, n):
        number = seed.id_number(seq=900000 + i)
        rows.append(Graduate(**{c.key: getattr(first, c.key) for c in Graduate.__table__.columns if c.key != "id"}
                             | {"id_number": number, "exam_no": f"2635{i:010d}", "student_no": f"B{i:09d}",
                                "email": f"b{i}@example.edu.cn", "phone": f"137{i:08d}"}))
        accounts.append(Account(**{c.key: getattr(account, c.key) for c in Account.__table__.columns
                                   if c.key not in ("id", "api_token_hash")} | {"username": f"g{i}", "id_number": number}))
    s.add_all(rows[1:] + accounts)
    s.flush()
    return rows


_ACCEPT: dict = {}  # what the forked accepting processes inherit


def _forked() -> None:
    _ACCEPT["runtime"].db.dispose(close=False)  # the parent's pooled connections are not this process's to use


def _accept_one(pair) -> str:
    runtime, actors = _ACCEPT["runtime"], _ACCEPT["actors"]
    graduate_id, instance_id = pair
    with runtime.Session() as s:
        s.connection(execution_options={"sqlite_immediate": True})
        try:
            agreements.answer_invitation(s, runtime.runner, actors[graduate_id], instance_id, "accept")
            s.commit()
            return "ok"
        except Conflict as exc:
            s.rollback()
            return exc.message


def _accept_chunk(pairs) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(_accept_one, pairs))


def test_hundreds_of_invitations_accepted_at_once_give_each_graduate_one_agreement(
        runtime, world, make_employer, step, actor):
    # rules ONL-3, ONL-4, ONL-5: 200 graduates (PostgreSQL; 60 on SQLite, whose writers queue on one lock), each
    # invited by two employers, accept both invitations at the same moment from 2 processes x 8 threads (SQLite:
    # 1 x 8), each with its own session. 500 graduates proved nothing more and cost 15 s of `make test`'s 4 minutes.
    n = 200 if runtime.db.dialect.name == "postgresql" else 60
    setup_started, setup_cpu = time.monotonic(), time.process_time()
    make_employer("hr")
    make_employer("hr2", name="泉州某制造公司")
    with runtime.Session() as s:
        school, dept = s.get(type(world.school), world.school.id), s.get(type(world.info), world.info.id)
        graduates = _graduates(s, seed.make_graduate(s, school, dept, username="g0"), n)
        s.commit()
        actors = {g.id: actor_for(s, s.scalar(select(Account).where(Account.username == f"g{i}")))
                  for i, g in enumerate(graduates)}
    graduates_done = time.monotonic()
    instance_ids = _clone_invitations(runtime, step, actor, ["hr", "hr2"], list(actors))
    setup = (f"setup {graduates_done - setup_started:.1f}s graduates + {time.monotonic() - graduates_done:.1f}s "
             f"invitations ({time.process_time() - setup_cpu:.1f}s CPU)")
    with runtime.Session() as s:
        pairs = sorted(s.execute(select(Agreement.graduate_id, Agreement.instance_id)
                                 .where(Agreement.instance_id.in_(instance_ids))).all())
    assert len(pairs) == 2 * n

    started = time.monotonic()
    # PostgreSQL: two processes (forked: each with its own connections) of 8 threads each; a graduate's two
    # invitations are next to each other in the list, so they are answered at the same moment by different processes
    _ACCEPT["runtime"], _ACCEPT["actors"] = runtime, actors
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = 2 if runtime.db.dialect.name == "postgresql" else 1  # SQLite's writers queue on one lock anyway
    with multiprocessing.get_context("fork").Pool(procs, initializer=_forked) as pool:
        results = [r for chunk in pool.map(_accept_chunk, [pairs[i::procs] for i in range(procs)]) for r in chunk]
    elapsed = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    refused = [r for r in results if r != "ok"]
    assert results.count("ok") == n and len(refused) == n, {r: results.count(r) for r in set(results)}
    assert all("就业协议" in r or "刚被其他人处理" in r or "繁忙" in r for r in refused), set(refused)
    with runtime.Session() as s:
        per_graduate = dict(s.execute(select(Agreement.graduate_id, func.count()).where(
            Agreement.status == "accepted").group_by(Agreement.graduate_id)).all())
        assert len(per_graduate) == n and set(per_graduate.values()) == {1}  # ONL-3: one each, none without
        assert s.scalar(select(func.count()).select_from(Agreement).where(Agreement.active_key.is_not(None))) == n
        assert s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.state == "open", WorkItem.form_key == "invitation_answer")) == n  # the other stays view-only
    for instance_id in instance_ids[:: max(1, len(instance_ids) // 50)]:
        assert_consistent(runtime, instance_id)
    print(f"{setup}; {2 * n} accepts from {procs} process(es) x 8 threads in {elapsed:.1f}s ({cpu:.1f}s CPU): {n} agreements, "
          f"{len(refused)} refused; load {os.getloadavg()[0]:.1f}")
