"""Instance state in its own table (issue 11): stored compressed, never read by list queries, compacted when the
instance finishes; the runner's in-process workflow cache never serves a stale workflow; migration 0021 moves the
state both ways; the timer job fires batches, each timer once, and a failing instance does not stop the rest."""
from __future__ import annotations

import json
import time
import zlib
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select, text

from engine.models import AuditEvent, InstanceState, ProcessInstance
from engine.serialization import FINISHED_LEVEL, SERIALIZER, dump_workflow
from engine.services import SYSTEM
from engine.timers import fire_due_timers
from processes.review import services as reviews
from tests.conftest import open_items
from tests.modules import testkit
from tests.test_admin_inspector import section, states
from tests.test_engine import _file


@contextmanager
def statements(runtime):
    """The SQL the runtime's engine runs inside the block (and "COMMIT" for each transaction it commits)."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def commit(_conn):
        seen.append("COMMIT")

    event.listen(runtime.db, "before_cursor_execute", record)
    event.listen(runtime.db, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(runtime.db, "before_cursor_execute", record)
        event.remove(runtime.db, "commit", commit)


def stored(runtime, instance_id: int) -> tuple[ProcessInstance, InstanceState]:
    with runtime.Session() as s:
        inst = s.get(ProcessInstance, instance_id)
        state = s.get(InstanceState, instance_id)
        s.expunge_all()
        return inst, state


def approve(runtime, step, actor, instance_id: int, user: str, role: str, decision: str = "approve") -> None:
    item = open_items(runtime, instance_id, role)[0]
    a = actor(user)
    step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, "材料不全" if decision != "approve" else ""))


def test_the_state_round_trips_through_its_own_table_compressed(runtime, world, make_graduate, step, actor):
    # rule DST-1
    make_graduate("g1")
    inst = _file(runtime, step, actor)
    row, state = stored(runtime, inst.id)
    assert "serialized" not in ProcessInstance.__table__.columns  # the instance row holds no state
    doc = json.loads(zlib.decompress(state.data))
    assert "spec" not in doc and "tasks" in doc and state.size == len(state.data)
    assert state.size <= 6 * 1024  # issue 11: stored state per instance at most 6 KB
    assert len(json.dumps(doc)) > 3 * state.size  # compressed, not just moved
    with runtime.Session() as s:
        inst = s.get(ProcessInstance, inst.id)
        workflow = runtime.runner.load(s, inst)
        assert dump_workflow(workflow) == inst.serialized  # what is stored is what loads
        assert workflow.get_tasks(manual=True)
        library = json.loads(SERIALIZER.serialize_json(workflow))  # SpiffWorkflow's own, spec included
        assert library.pop("spec") and "subprocess_specs" in library
        library.pop("subprocess_specs")
        assert json.loads(dump_workflow(workflow)) == library  # ours converts no spec, and the rest is the same


def test_list_queries_never_read_the_state(runtime, world, make_graduate, step, actor, client_for):
    # rule REV-2
    for user in ("g1", "g2"):
        make_graduate(user)
        _file(runtime, step, actor, user)
    admin, dept = client_for("admin"), client_for("dept_info")
    with statements(runtime) as seen:
        assert admin.get("/admin/instances").status_code == 200
        assert admin.get("/admin/instances?status=running&sort=updated").status_code == 200
        assert dept.get("/review/inbox").status_code == 200
        with runtime.Session() as s:
            rows = list(s.scalars(select(ProcessInstance)))
            assert len(rows) == 2 and all(r.status_label for r in rows)
    assert seen and not [q for q in seen if "instance_state" in q]
    with statements(runtime) as seen:  # the data filter is the one list that reads it
        page = admin.get("/admin/instances?data=dest_type%3Dfreelance").get_data(as_text=True)
    assert [q for q in seen if "instance_state" in q]
    assert page.count('href="/admin/instances/') >= 2


def test_a_finished_instance_is_compacted_and_its_admin_pages_still_work(runtime, world, make_graduate, step,
                                                                         actor, client_for):
    # rules REV-1, REV-2
    make_graduate("g1")
    inst = _file(runtime, step, actor)
    running = stored(runtime, inst.id)[1]
    approve(runtime, step, actor, inst.id, "dept_info", "Department")
    approve(runtime, step, actor, inst.id, "school", "School", "reject")  # the filing ends: 审核不通过
    row, state = stored(runtime, inst.id)
    assert row.status == "completed"
    text_ = zlib.decompress(state.data)
    assert state.data == zlib.compress(text_, FINISHED_LEVEL)  # recompressed at the strongest level
    assert zlib.compress(text_, 1) != state.data and running.data != state.data
    admin = client_for("admin")
    page = admin.get(f"/admin/instances/{inst.id}").get_data(as_text=True)
    s = states(page)
    assert s["fill_destination"] == ["已完成"] and "review_call" in s
    history = section(page, "history")
    assert "发起" in history and "院系审核" in history and "学校审核" in history and "材料不全" in history
    marks = admin.get(f"/admin/instances/{inst.id}/marks/destination_filing.json").get_json()
    assert marks["elements"]["fill_destination"]["state"] == "completed"
    review_marks = admin.get(f"/admin/instances/{inst.id}/marks/review.json").get_json()
    assert {v["state"] for v in review_marks["elements"].values()} == {"completed"}


def test_the_workflow_cache_never_serves_a_stale_workflow(runtime, settings, world, make_graduate, step, actor):
    # rules REV-2, DST-1
    from gradflow.runtime import build_runtime

    make_graduate("g1")
    inst = _file(runtime, step, actor)
    cache = runtime.runner.cache
    assert inst.id in cache._entries  # this process keeps the workflow its step saved
    other = build_runtime(settings)  # a second process: its own runner and cache
    try:
        approve(other, step, actor, inst.id, "dept_info", "Department")
    finally:
        other.db.dispose()
    assert inst.id in cache._entries  # still here, now stale: the instance moved on elsewhere
    with runtime.Session() as s:
        hits, misses = cache.hits, cache.misses
        workflow = runtime.runner.load(s, s.get(ProcessInstance, inst.id))
        assert (cache.hits, cache.misses) == (hits, misses + 1)  # not served: the stored state is loaded
        ready = {t.task_spec.bpmn_id for t in workflow.get_tasks(manual=True) if t.state == 16}
        assert "school_review" in ready and "department_review" not in ready
    approve(runtime, step, actor, inst.id, "school", "School")  # the step on it is the right one
    assert stored(runtime, inst.id)[0].status_label == "审核通过"
    with runtime.Session() as s:  # and this process's own save is served from memory
        hits = cache.hits
        workflow = runtime.runner.load(s, s.get(ProcessInstance, inst.id))
        assert cache.hits == hits + 1
        assert "effective_destination" in {t.task_spec.bpmn_id for t in workflow.get_tasks(manual=True)
                                           if t.state == 16}


def test_a_rolled_back_step_leaves_nothing_in_the_cache(runtime, world, make_graduate, step, actor):
    # rule REV-2
    make_graduate("g1")
    inst = _file(runtime, step, actor)
    item = open_items(runtime, inst.id, "Department")[0]
    dept = actor("dept_info")
    with runtime.Session() as s:
        reviews.review(s, runtime.runner, dept, item.id, "approve", "")
        s.flush()
        s.rollback()  # the step's save is undone: its workflow must not be served
    assert inst.id not in runtime.runner.cache._entries
    with runtime.Session() as s:
        misses = runtime.runner.cache.misses
        workflow = runtime.runner.load(s, s.get(ProcessInstance, inst.id))
        assert runtime.runner.cache.misses == misses + 1
        assert "department_review" in {t.task_spec.bpmn_id for t in workflow.get_tasks(manual=True)
                                       if t.state == 16}
    approve(runtime, step, actor, inst.id, "dept_info", "Department")  # the real step still works
    assert open_items(runtime, inst.id, "School")


def test_migration_0021_moves_the_state_both_ways(runtime, settings, world, make_graduate, step, actor):
    # design: migrations are the schema; the backfill keeps every instance's state
    from alembic.config import Config

    from alembic import command
    from tests.conftest import ROOT

    make_graduate("g1")
    make_graduate("g2")
    running = _file(runtime, step, actor, "g1")
    done = _file(runtime, step, actor, "g2")
    approve(runtime, step, actor, done.id, "dept_info", "Department", "reject")
    with runtime.Session() as s:
        before = {i: s.get(ProcessInstance, i).serialized for i in (running.id, done.id)}
    runtime.db.dispose()  # no pooled connection holds the tables while they change
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url)
    try:
        command.downgrade(cfg, "0020")
        with runtime.db.connect() as conn:
            down = dict(conn.execute(text("SELECT id, serialized FROM process_instance")).all())
        assert down == before
        command.upgrade(cfg, "head")
    finally:
        command.upgrade(cfg, "head")
    with runtime.Session() as s:
        for instance_id, json_text in before.items():
            state = s.get(InstanceState, instance_id)
            assert zlib.decompress(state.data).decode() == json_text and state.size == len(state.data)
        finished = s.get(InstanceState, done.id)
        assert finished.data == zlib.compress(zlib.decompress(finished.data), FINISHED_LEVEL)
    approve(runtime, step, actor, running.id, "dept_info", "Department")  # the backfilled state steps on


def test_timers_fire_in_batches_once_each_and_a_failing_one_stops_nothing(runtime, world, step, monkeypatch):
    # rules ONL-2
    monkeypatch.setitem(testkit.BROKEN, "on", True)
    monkeypatch.setattr(testkit, "CALLS", [])
    due = datetime.now(UTC) + timedelta(seconds=1)
    ids = [step(lambda s, k=k: runtime.runner.start(
        s, "timer_outbox", SYSTEM, scope={}, data={"due_at": due.isoformat(), "flaky": k == 2})).id
        for k in range(5)]
    time.sleep(1.2)
    with statements(runtime) as seen:
        fired = fire_due_timers(runtime.Session, runtime.runner, batch=3)
    assert fired == 4  # the failing one (the third) did not stop the others of its batch nor the next batch
    assert seen.count("COMMIT") == 2  # two transactions of up to three instances, not one per instance
    with runtime.Session() as s:
        rows = {r.id: r for r in s.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids)))}
        events = dict(s.execute(select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.action == "timer").group_by(AuditEvent.instance_id)).all())
    broken = ids[2]
    assert rows[broken].status == "running" and rows[broken].last_error.startswith("流程执行出错：测试处理程序故障")
    assert rows[broken].next_timer_at is None  # not fired again by the job
    assert all(rows[i].status == "completed" and rows[i].last_error is None for i in ids if i != broken)
    assert events == {i: 1 for i in ids if i != broken}  # each fired exactly once
    assert fire_due_timers(runtime.Session, runtime.runner) == 0  # nothing is due twice


def test_a_timer_batch_whose_instance_moved_since_it_was_read_writes_nothing(runtime, world, step):
    # rules ONL-2: the batch's one UPDATE of its instance rows checks each row's version, as a single step does
    import pytest
    from sqlalchemy.orm import selectinload

    from core.errors import Conflict

    due = datetime.now(UTC) + timedelta(seconds=1)
    ids = [step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                                data={"due_at": due.isoformat()})).id for _ in range(3)]
    time.sleep(1.2)
    with runtime.Session() as stale:
        instances = list(stale.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))
                                       .order_by(ProcessInstance.id).options(selectinload(ProcessInstance.state))))
        with runtime.Session() as other:  # another writer moves the second one after the batch read it
            other.get(ProcessInstance, ids[1]).title = "已被改动"
            other.commit()
        with pytest.raises(Conflict):
            runtime.runner.fire_timer_batch(stale, instances)
        stale.rollback()
    with runtime.Session() as s:
        rows = list(s.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))))
        assert {r.status for r in rows} == {"running"} and not s.scalar(select(func.count()).select_from(
            AuditEvent).where(AuditEvent.instance_id.in_(ids), AuditEvent.action == "timer"))
    assert fire_due_timers(runtime.Session, runtime.runner) == 3  # the job then fires each once
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id.in_(ids), AuditEvent.action == "timer")) == 3
