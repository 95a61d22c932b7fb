"""Two concurrent completions of one work item: exactly one wins, the other gets a clear conflict."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from core.errors import Conflict
from domain.models import Graduate, Message
from engine.models import AuditEvent, ProcessInstance, WorkItem
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import open_items, with_proof


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
