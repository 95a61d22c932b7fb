"""64-bit ids on the append-only tables (issue 11): a season past two billion work items, audit events,
outbox rows or messages keeps working on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from domain.models import Graduate, Message
from engine.models import AuditEvent, OutboxMessage, WorkItem
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import backend, open_items, with_proof

PAST_INT4 = 2**31 + 7
SEQUENCES = ("work_item_id_seq", "audit_event_id_seq", "outbox_message_id_seq", "message_id_seq",
             "access_log_id_seq")


@pytest.fixture
def past_int4(runtime):
    if backend() != "postgresql":
        pytest.skip("SQLite's INTEGER PRIMARY KEY is 64-bit already; the int4 limit is PostgreSQL's")
    with runtime.db.begin() as conn:
        for seq in SEQUENCES:
            conn.execute(text(f"ALTER SEQUENCE {seq} RESTART WITH {PAST_INT4}"))
    yield
    # the per-test cleanup restarts the sequences of the tables this test wrote


def test_a_filing_and_its_review_run_with_ids_past_int4(runtime, world, make_graduate, step, actor, past_int4):
    # rules DST-1, REV-1
    make_graduate("g1")
    grad = actor("g1")
    instance = step(lambda s: filing.start_filing(s, runtime.runner, grad, s.get(Graduate, grad.graduate_id),
                                                  with_proof(s, grad.graduate_id)))
    [item] = open_items(runtime, instance.id, "Department")
    assert item.id >= PAST_INT4
    step(lambda s: reviews.review(s, runtime.runner, actor("dept_info"), item.id, "approve", ""))
    [school_item] = open_items(runtime, instance.id, "School")
    assert school_item.id > item.id
    with runtime.Session() as s:
        assert min(s.scalars(select(AuditEvent.id))) >= PAST_INT4
        assert all(i >= PAST_INT4 for i in s.scalars(select(OutboxMessage.id)))
        assert s.get(WorkItem, item.id).state == "completed"
        assert all(i >= PAST_INT4 for i in s.scalars(select(Message.id)))
