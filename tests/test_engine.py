"""Engine behaviour: versions, spec-less storage, audit, timers, outbox, the review's options."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.errors import ValidationFailed
from domain.models import Graduate
from engine import outbox
from engine.models import AuditEvent, OutboxMessage, ProcessInstance, ProcessVersion
from engine.sandbox import RestrictedEnvironment
from engine.services import SYSTEM
from engine.specs import SpecRegistry
from engine.timers import fire_due_timers
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import ROOT, open_items, wait_past, with_proof


def _file(runtime, step, actor, username="g1"):
    a = actor(username)
    return step(lambda s: filing.start_filing(s, runtime.runner, a, s.get(Graduate, a.graduate_id),
                                                 with_proof(s, a.graduate_id)))


def test_redeploying_unchanged_files_makes_no_new_version(runtime):
    # rule REV-1
    with runtime.Session() as s:
        before = s.scalar(select(func.count()).select_from(ProcessVersion))
        assert runtime.registry.deploy(s) == []
        s.commit()
        assert s.scalar(select(func.count()).select_from(ProcessVersion)) == before
        row = s.scalar(select(ProcessVersion).where(ProcessVersion.process_id == "destination_filing")
                       .order_by(ProcessVersion.id.desc()))
        assert set(row.files) == {"destination_filing.bpmn", "review.bpmn"}  # itself and what it calls


def test_changed_review_makes_new_versions_and_running_instances_keep_theirs(runtime, world, make_graduate, step,
                                                                             actor, tmp_path):
    # rules REV-1, REV-2
    make_graduate("g1")
    make_graduate("g2")
    running = _file(runtime, step, actor, "g1")
    old_version = running.version_id
    for f in ROOT.joinpath("processes").rglob("*.bpmn"):
        shutil.copy(f, tmp_path / f.name)
    review = tmp_path / "review.bpmn"
    review.write_text(review.read_text(encoding="utf-8").replace("等待学校审核", "等待学校终审"), encoding="utf-8")
    registry = SpecRegistry([tmp_path])
    with runtime.Session() as s:
        new_rows = registry.deploy(s)
        s.commit()
    callers = {f.stem for f in tmp_path.glob("*.bpmn") if 'calledElement="review"' in f.read_text(encoding="utf-8")}
    assert "destination_filing" in callers
    assert {r.process_id for r in new_rows} == callers | {"review"}  # every caller changes too
    try:
        fresh = _file(runtime, step, actor, "g2")
        assert fresh.version_id != old_version
        decide = actor("dept_info")
        for inst in (running, fresh):
            item = open_items(runtime, inst.id, "Department")[0]
            step(lambda s, i=item: reviews.review(s, runtime.runner, decide, i.id, "approve", ""))
        with runtime.Session() as s:
            assert s.get(ProcessInstance, running.id).status_label == "等待学校审核"
            assert s.get(ProcessInstance, fresh.id).status_label == "等待学校终审"
    finally:
        with runtime.Session() as s:  # later tests start on the project's own version again
            for row in s.scalars(select(ProcessVersion).where(ProcessVersion.id.in_([r.id for r in new_rows]))):
                row.process_id = row.process_id + "_retired"
            s.commit()


def test_instances_are_stored_without_their_spec_and_reload_with_the_sandbox(runtime, world, make_graduate, step,
                                                                            actor):
    # rule DST-1
    make_graduate("g1")
    inst = _file(runtime, step, actor)
    with runtime.Session() as s:
        row = s.get(ProcessInstance, inst.id)
        stored = json.loads(row.serialized)
        assert "spec" not in stored and "subprocess_specs" not in stored
        workflow = runtime.runner.load(s, row)
        assert isinstance(workflow.script_engine.environment, RestrictedEnvironment)
        for sub in workflow.subprocesses.values():
            assert isinstance(sub.script_engine.environment, RestrictedEnvironment)


def test_every_step_appends_an_audit_event(runtime, world, make_graduate, step, actor):
    # rules REV-2, DST-1
    make_graduate("g1")
    inst = _file(runtime, step, actor)
    dept = actor("dept_info")
    item = open_items(runtime, inst.id, "Department")[0]
    step(lambda s: reviews.review(s, runtime.runner, dept, item.id, "approve", ""))
    with runtime.Session() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.instance_id == inst.id).order_by(AuditEvent.id)))
        assert [e.action for e in events] == ["start", "submit", "complete"]
        assert events[1].data_after["application"]["dest_type"] == "freelance"
        assert events[2].actor_name == "信息学院审核员" and events[2].decision == "approve"
        assert events[2].status_label == "等待学校审核"


def test_review_without_return_refuses_a_return(runtime, world, step, actor):
    # rule REV-1
    def start(s):
        return runtime.runner.start(s, "review_without_return", SYSTEM,
                                    scope={"school_id": world.school.id, "department_id": world.info.id},
                                    data={"review_levels": "department_school"})

    inst = step(start)
    item = open_items(runtime, inst.id, "Department")[0]
    dept = actor("dept_info")
    with pytest.raises(ValidationFailed, match="不允许退回"):
        step(lambda s: reviews.review(s, runtime.runner, dept, item.id, "return", "改一下"))
    step(lambda s: reviews.review(s, runtime.runner, dept, item.id, "reject", "不符合"))
    with runtime.Session() as s:
        assert s.get(ProcessInstance, inst.id).status == "completed"


def test_timer_job_fires_only_due_instances(runtime, step):
    # rule REV-1
    now = datetime.now(UTC)

    def start(due):
        return step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                                   data={"due_at": due.isoformat()}))

    soon = start(now + timedelta(seconds=1))
    later = start(now + timedelta(days=3))
    with runtime.Session() as s:
        assert s.get(ProcessInstance, soon.id).next_timer_at is not None
    assert fire_due_timers(runtime.Session, runtime.runner) == 0  # nothing due yet
    wait_past(now + timedelta(seconds=1))
    assert fire_due_timers(runtime.Session, runtime.runner) == 1
    with runtime.Session() as s:
        fired = s.get(ProcessInstance, soon.id)
        assert fired.status == "completed" and fired.status_label == "已触发" and fired.next_timer_at is None
        assert s.get(ProcessInstance, later.id).status == "running"
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "test.ping")) == 1


def test_the_timer_job_drains_past_a_thousand_by_time_not_by_count(runtime, step):
    # rule REV-1 (and ONL-3: invitations expire on time at the peak): the job fires batch after batch until
    # nothing is due or its seconds are spent (one batch at least); the old bound of 1,000 a tick (about 66 a
    # second with the 15 s period) no longer applies when it is asked for none
    now = datetime.now(UTC)
    for _ in range(7):
        step(lambda s: runtime.runner.start(s, "timer_outbox", SYSTEM, scope={},
                                            data={"due_at": (now + timedelta(seconds=1)).isoformat()}))
    wait_past(now + timedelta(seconds=1))
    assert fire_due_timers(runtime.Session, runtime.runner, limit=None, batch=3, seconds=0) == 3  # one batch
    assert fire_due_timers(runtime.Session, runtime.runner, limit=None, batch=3, seconds=60) == 4  # the rest
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)
                        .where(ProcessInstance.status == "completed")) == 7


def test_outbox_retries_a_failing_sender_and_delivers_once(runtime, step):
    # rule NOTE-2
    calls = []

    def flaky(row, _sessions):
        calls.append(row.id)
        if len(calls) == 1:
            raise ConnectionError("短信网关超时")

    senders = {**runtime.extensions.senders, "test.flaky": flaky}

    step(lambda s: s.add(OutboxMessage(kind="test.flaky", payload={"to": "13800000000"})))
    assert outbox.deliver_pending(runtime.Session, senders) == 0
    with runtime.Session() as s:
        row = s.scalar(select(OutboxMessage))
        assert row.attempts == 1 and "短信网关超时" in row.last_error and row.delivered_at is None
        row.available_at = row.available_at - timedelta(hours=2)  # the back-off has passed
        s.commit()
    assert outbox.deliver_pending(runtime.Session, senders) == 1
    assert outbox.deliver_pending(runtime.Session, senders) == 0
    assert len(calls) == 2
