"""Version migration (issue 10, item 6): move running instances to a newer version of their process when
SpiffWorkflow's diff says it is safe; a dry run changes nothing; what cannot move is reported and left alone."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from engine import migration
from engine.models import AuditEvent, InstanceState, ProcessInstance, ProcessVersion, WorkItem
from engine.specs import SpecRegistry
from processes.agreements import services as signing
from tests.conftest import TERMS, open_items

ROOT = Path(__file__).resolve().parents[1] / "processes"
ONLINE = (ROOT / "agreements" / "online_signing.bpmn").read_text(encoding="utf-8")
REVIEW = (ROOT / "review" / "review.bpmn").read_text(encoding="utf-8")

# v2: a school filing task after the shared review (review_call -> archive_note -> adopt_review)
ARCHIVE_NOTE = """    <bpmn:userTask id="archive_note" name="学校备案确认">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="review" />
          <spiffworkflow:property name="statusLabel" value="等待学校备案" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_note</bpmn:incoming>
      <bpmn:outgoing>flow_adopt</bpmn:outgoing>
    </bpmn:userTask>
"""


def with_archive_note(text: str) -> str:
    text = text.replace('<bpmn:flowNodeRef>adopt_review</bpmn:flowNodeRef>',
                        '<bpmn:flowNodeRef>adopt_review</bpmn:flowNodeRef>\n'
                        '        <bpmn:flowNodeRef>archive_note</bpmn:flowNodeRef>')
    text = text.replace("""      <bpmn:outgoing>flow_adopt</bpmn:outgoing>
    </bpmn:callActivity>""", """      <bpmn:outgoing>flow_note</bpmn:outgoing>
    </bpmn:callActivity>
""" + ARCHIVE_NOTE.rstrip("\n"))
    text = text.replace('<bpmn:sequenceFlow id="flow_adopt" sourceRef="review_call" targetRef="adopt_review" />',
                        '<bpmn:sequenceFlow id="flow_note" sourceRef="review_call" targetRef="archive_note" />\n'
                        '    <bpmn:sequenceFlow id="flow_adopt" sourceRef="archive_note" targetRef="adopt_review" />')
    assert text.count("archive_note") == 4
    return text


def without_accept(text: str) -> str:
    """v3: the graduate's acceptance goes straight to the review (the accept service task is removed)."""
    text = re.sub(r'\s*<bpmn:serviceTask id="accept".*?</bpmn:serviceTask>', "", text, flags=re.S)
    text = text.replace("        <bpmn:flowNodeRef>accept</bpmn:flowNodeRef>\n", "")
    text = text.replace('sourceRef="answer_gateway" targetRef="accept"', 'sourceRef="answer_gateway" targetRef="review_call"')
    text = text.replace('    <bpmn:sequenceFlow id="flow_review" sourceRef="accept" targetRef="review_call" />\n', "")
    text = text.replace("<bpmn:incoming>flow_review</bpmn:incoming>", "<bpmn:incoming>flow_accept</bpmn:incoming>")
    text = re.sub(r'\s*<bpmndi:BPMNShape id="[^"]*" bpmnElement="accept">.*?</bpmndi:BPMNShape>', "", text, flags=re.S)
    text = re.sub(r'\s*<bpmndi:BPMNEdge id="[^"]*" bpmnElement="flow_review">.*?</bpmndi:BPMNEdge>', "", text,
                  flags=re.S)
    assert 'id="accept"' not in text and "flow_review" not in text
    return text


@pytest.fixture
def deploy_variant(runtime, tmp_path):
    """Deploy a modified copy of online_signing.bpmn through engine/specs.py; the version rows go afterwards, so
    the rest of the suite starts on the shipped version again."""
    made: list[tuple[int, int]] = []  # (new version id, the shipped version id)

    def deploy(text: str) -> int:
        folder = tmp_path / f"v{len(made) + 2}"
        folder.mkdir()
        (folder / "online_signing.bpmn").write_text(text, encoding="utf-8")
        (folder / "review.bpmn").write_text(REVIEW, encoding="utf-8")
        with runtime.Session() as s:
            shipped = runtime.registry.latest_version_id(s, "online_signing") if not made else made[0][1]
            rows = SpecRegistry([folder]).deploy(s)
            s.commit()
            assert [r.process_id for r in rows] == ["online_signing"]  # review.bpmn is unchanged
            made.append((rows[0].id, shipped))
            return rows[0].id

    yield deploy
    with runtime.Session() as s:
        for new_id, shipped in made:
            s.execute(update(ProcessInstance).where(ProcessInstance.version_id == new_id)
                      .values(version_id=shipped))
            s.execute(ProcessVersion.__table__.delete().where(ProcessVersion.id == new_id))
            runtime.registry._cache.pop(new_id, None)
        s.commit()


def at_department_review(runtime, step, actor, make_graduate, n: int, prefix: str = "g") -> list[int]:
    """n online signings the graduates accepted: each waits in 院系审核 of the shared review."""
    employer = actor("hr")
    ids = []
    for i in range(n):
        grad = make_graduate(f"{prefix}{i}", name=f"学生{i}")
        inst = step(lambda s, g=grad: signing.invite(s, runtime.runner, employer, g.id, TERMS, 7))
        graduate = actor(f"{prefix}{i}")
        step(lambda s, a=graduate, iid=inst.id: signing.answer_invitation(s, runtime.runner, a, iid, "accept"))
        ids.append(inst.id)
    return ids


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def clone(runtime, instance_id: int, copies: int) -> list[int]:
    """Copies of an instance's engine state (new task ids throughout) and of its open work item: 100 real
    signings take ~10 s to drive; the migration reads only these rows."""
    import uuid

    ids = []
    with runtime.Session() as s:
        source = s.get(ProcessInstance, instance_id)
        items = list(s.scalars(select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")))
        columns = [c.key for c in ProcessInstance.__table__.columns if c.key not in ("id", "version")]
        item_columns = [c.key for c in WorkItem.__table__.columns if c.key not in ("id", "instance_id", "task_id")]
        for _ in range(copies):
            fresh: dict[str, str] = {}
            text = UUID.sub(lambda m, f=fresh: f.setdefault(m.group(0), str(uuid.uuid4())), source.serialized)
            copy = ProcessInstance(**{c: getattr(source, c) for c in columns})
            copy.serialized = text
            s.add(copy)
            s.flush()
            for item in items:
                s.add(WorkItem(instance_id=copy.id, task_id=fresh[item.task_id],
                               **{c: getattr(item, c) for c in item_columns}))
            ids.append(copy.id)
        s.commit()
    return ids


def snapshot(runtime, ids):
    with runtime.Session() as s:
        rows = s.execute(select(ProcessInstance.id, ProcessInstance.version_id, InstanceState.data,
                                ProcessInstance.version, ProcessInstance.status_label).join(ProcessInstance.state)
                         .where(ProcessInstance.id.in_(ids)).order_by(ProcessInstance.id)).all()
        items = s.execute(select(WorkItem.id, WorkItem.instance_id, WorkItem.task_id, WorkItem.state)
                          .where(WorkItem.instance_id.in_(ids)).order_by(WorkItem.id)).all()
        return rows, items


def review(runtime, step, actor, user, instance_id):
    from processes.review import services as reviews

    a = actor(user)
    item = open_items(runtime, instance_id, "Department" if user.startswith("dept") else "School")[0]
    return step(lambda s: reviews.review(s, runtime.runner, a, item.id, "approve", ""))


def test_100_instances_in_department_review_move_to_a_version_with_a_task_after_the_review(
        runtime, world, make_graduate, make_employer, step, actor, deploy_variant):
    # rule ONL-6 (the two-level review stays as it was; the new version adds a step after it)
    make_employer("hr")
    real = at_department_review(runtime, step, actor, make_graduate, 2)
    waiting = real + clone(runtime, real[1], 98)
    with runtime.Session() as s:
        shipped = s.get(ProcessInstance, waiting[0]).version_id
    v2 = deploy_variant(with_archive_note(ONLINE))
    admin = actor("admin")

    before = snapshot(runtime, waiting)
    started = time.perf_counter()
    dry = migration.migrate_batch(runtime.runner, runtime.Session, shipped, v2, admin, "增加学校备案", dry_run=True)
    dry_seconds = time.perf_counter() - started
    assert [v.instance_id for v in dry] == waiting
    assert dry[0].reasons == [] and all(v.movable and not v.moved and not v.reasons for v in dry)
    assert all(any("院系审核（department_review）" in k for k in v.keeps) for v in dry)
    assert snapshot(runtime, waiting) == before  # the dry run changes nothing
    with runtime.Session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "migrate")) == 0

    started = time.perf_counter()
    moved = migration.migrate_batch(runtime.runner, runtime.Session, shipped, v2, admin, "增加学校备案")
    real_seconds = time.perf_counter() - started
    assert all(v.moved for v in moved) and len(moved) == 100
    print(f"\n100 instances: dry run {dry_seconds:.2f} s, move {real_seconds:.2f} s")
    with runtime.Session() as s:
        assert set(s.scalars(select(ProcessInstance.version_id).where(ProcessInstance.id.in_(waiting)))) == {v2}
        audit = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "migrate")))
        assert len(audit) == 100 and {(a.actor_name, a.reason) for a in audit} == {("管理员", "增加学校备案")}
        assert audit[0].data_before["version_id"] == shipped and audit[0].data_after["version_id"] == v2
    rows, items = snapshot(runtime, waiting)
    assert [(i.id, i.task_id, i.state) for i in items] == [(i.id, i.task_id, i.state) for i in before[1]]
    assert {r.status_label for r in rows} == {"等待院系审核"}

    # a moved instance goes on through the review and reaches the new task
    review(runtime, step, actor, "dept_info", waiting[0])
    review(runtime, step, actor, "school", waiting[0])
    item = open_items(runtime, waiting[0])[0]
    assert (item.task_name, item.title, item.status_label) == ("archive_note", "学校备案确认", "等待学校备案")
    # one not moved again: a second batch finds it already on v2 and nothing to do
    assert migration.migrate_batch(runtime.runner, runtime.Session, shipped, v2, admin, "再迁移") == []


def test_instances_past_a_removed_task_are_reported_and_left_alone(runtime, world, make_graduate, make_employer,
                                                                   step, actor, deploy_variant):
    make_employer("hr")
    past = at_department_review(runtime, step, actor, make_graduate, 2)  # they passed accept
    employer = actor("hr")
    fresh = []  # still waiting for the graduate's answer: accept is ahead of them
    for i in range(2):
        grad = make_graduate(f"n{i}")
        fresh.append(step(lambda s, g=grad: signing.invite(s, runtime.runner, employer, g.id, TERMS, 7)).id)
    with runtime.Session() as s:
        shipped = s.get(ProcessInstance, past[0]).version_id
    v3 = deploy_variant(without_accept(ONLINE))
    admin = actor("admin")
    before = snapshot(runtime, past + fresh)

    dry = {v.instance_id: v for v in migration.migrate_batch(runtime.runner, runtime.Session, shipped, v3, admin,
                                                            "简化应约", dry_run=True)}
    assert snapshot(runtime, past + fresh) == before
    for iid in past:
        assert not dry[iid].movable
        assert "已越过新版本删除的步骤：毕业生接受邀请（accept）" in dry[iid].reasons
    for iid in fresh:
        assert dry[iid].movable and "毕业生应约（answer_invitation）" in dry[iid].keeps

    with runtime.Session() as s:
        number = len(migration.process_versions(s, "online_signing"))  # what `gradflow instances migrate` runs
    by_number = migration.migrate_process(runtime.runner, runtime.Session, "online_signing", number, admin, "简化应约",
                                          dry_run=True)
    assert sorted(v.instance_id for v in by_number if v.movable) == fresh
    assert snapshot(runtime, past + fresh) == before
    results = {v.instance_id: v for v in migration.migrate_batch(runtime.runner, runtime.Session, shipped, v3,
                                                                admin, "简化应约")}
    assert [iid for iid, v in results.items() if v.moved] == fresh
    rows, _ = snapshot(runtime, past + fresh)
    by_id = {r.id: r for r in rows}
    assert all(by_id[i][1:] == b[1:] for b in before[0] for i in past if b.id == i)  # left alone, untouched
    assert {by_id[i].version_id for i in fresh} == {v3}
    with runtime.Session() as s:
        inst = s.get(ProcessInstance, fresh[0])
        assert inst.next_timer_at is not None  # the answer deadline keeps ticking
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "migrate", AuditEvent.instance_id.in_(past))) == 0
    # the moved invitation is answered and goes straight to the review
    step(lambda s: signing.answer_invitation(s, runtime.runner, actor("n0"), fresh[0], "accept"))
    assert open_items(runtime, fresh[0])[0].task_name == "department_review"


def test_ended_instances_and_wrong_targets_are_refused(runtime, world, make_graduate, make_employer, step, actor,
                                                        deploy_variant):
    make_employer("hr")
    employer = actor("hr")
    grad = make_graduate("g1")
    inst = step(lambda s: signing.invite(s, runtime.runner, employer, grad.id, TERMS, 7))
    step(lambda s: signing.answer_invitation(s, runtime.runner, actor("g1"), inst.id, "refuse"))
    with runtime.Session() as s:
        shipped = s.get(ProcessInstance, inst.id).version_id
        other = runtime.registry.latest_version_id(s, "review")
    v2 = deploy_variant(with_archive_note(ONLINE))
    admin = actor("admin")
    [verdict] = migration.migrate_batch(runtime.runner, runtime.Session, shipped, v2, admin, "x",
                                        instance_ids=[inst.id])
    assert not verdict.moved and verdict.reasons == ["流程已结束，无需迁移"]
    [verdict] = migration.migrate_batch(runtime.runner, runtime.Session, shipped, other, admin, "x",
                                        instance_ids=[inst.id])
    assert verdict.reasons == ["目标版本属于另一个流程，不能迁移"]


def test_the_migration_pages_dry_run_then_move(runtime, world, make_graduate, make_employer, step, actor,
                                               deploy_variant, client_for):
    make_employer("hr")
    ids = at_department_review(runtime, step, actor, make_graduate, 2)
    with runtime.Session() as s:
        shipped = s.get(ProcessInstance, ids[0]).version_id
    v2 = deploy_variant(with_archive_note(ONLINE))
    admin = client_for("admin")
    page = admin.get(f"/admin/versions/{shipped}/migrate").get_data(as_text=True)
    assert f'<option value="{v2}" selected>' in page and 'id="candidate-count">2<' in page
    before = snapshot(runtime, ids)
    dry = admin.post(f"/admin/versions/{shipped}/migrate",
                     data={"target": v2, "reason": "增加学校备案", "dry_run": "y"}).get_data(as_text=True)
    assert "试运行，未做任何改动" in dry and "可迁移 2 个，不能迁移 0 个" in dry
    assert "学校备案确认（archive_note）" in dry and 'id="confirm-migrate"' in dry
    assert snapshot(runtime, ids) == before
    assert "请填写原因" in admin.post(f"/admin/versions/{shipped}/migrate",
                                   data={"target": v2, "reason": ""}, follow_redirects=True).get_data(as_text=True)

    one = admin.post(f"/admin/instances/{ids[0]}/migrate",
                     data={"target": v2, "reason": "先迁一个"}).get_data(as_text=True)
    assert "已迁移 1 个，未迁移 0 个" in one
    rest = admin.post(f"/admin/versions/{shipped}/migrate",
                      data={"target": v2, "reason": "其余的"}).get_data(as_text=True)
    assert "已迁移 1 个" in rest and f'data-id="{ids[1]}"' in rest
    with runtime.Session() as s:
        assert set(s.scalars(select(ProcessInstance.version_id).where(ProcessInstance.id.in_(ids)))) == {v2}
    history = admin.get(f"/admin/instances/{ids[0]}").get_data(as_text=True)
    assert "迁移到新版本" in history and "先迁一个" in history
    assert client_for("dept_info").post(f"/admin/versions/{shipped}/migrate",
                                        data={"target": v2, "reason": "x"}).status_code == 404  # rule ROLE-1
