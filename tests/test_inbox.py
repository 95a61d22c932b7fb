"""The reviewer inbox: filters by status, type, date, name or 学号; paging and counts."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from domain.access import POLICY
from domain.models import Graduate
from engine import inbox
from engine.models import WorkItem
from processes.destination import services as filing
from processes.review import services as reviews
from tests.conftest import open_items, with_proof


def _file_many(runtime, step, actor, make_graduate, n):
    instances = []
    for i in range(n):
        grad = make_graduate(f"g{i}", name=f"学生{i:02d}")
        a = actor(f"g{i}")
        kind = "freelance" if i % 2 == 0 else "job_seeking"
        instances.append(step(lambda s, a=a, kind=kind: filing.start_filing(
            s, runtime.runner, a, s.get(Graduate, a.graduate_id),
            with_proof(s, a.graduate_id, {"dest_type": kind, "fields": {}}))))
        assert grad.id
    return instances


def test_inbox_filters_paging_and_counts(runtime, world, make_graduate, step, actor):
    # rules REV-1, ROLE-1
    instances = _file_many(runtime, step, actor, make_graduate, 25)
    dept = actor("dept_info")
    with runtime.Session() as s:
        rows, total = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter())
        assert total == 25 and len(rows) == inbox.PAGE_SIZE
        rows2, _ = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(page=2))
        assert len(rows2) == 5 and not {r.id for r in rows} & {r.id for r in rows2}
        _, free = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(category="自由职业"))
        assert free == 13
        found, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(q="学生07"))
        assert n == 1 and found[0].subject_name == "学生07"
        by_no, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(q=found[0].subject_no))
        assert n == 1 and by_no[0].id == found[0].id
        _, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(q="%"))  # wildcards are literal
        assert n == 0
        # dates: move three items into last week
        old_ids = [open_items(runtime, i.id, "Department")[0].id for i in instances[:3]]
        s.execute(update(WorkItem).where(WorkItem.id.in_(old_ids))
                  .values(created_at=datetime.utcnow() - timedelta(days=7)))
        s.commit()
        _, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(date_to=datetime.utcnow() - timedelta(days=3)))
        assert n == 3
        _, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(date_from=datetime.utcnow() - timedelta(days=1)))
        assert n == 22
    item = open_items(runtime, instances[0].id, "Department")[0]
    step(lambda s: reviews.review(s, runtime.runner, dept, item.id, "approve", ""))
    with runtime.Session() as s:
        assert inbox.counts(s, POLICY.item_filter(dept)) == {"open": 24, "completed": 1, "cancelled": 0}
        done, n = inbox.page(s, POLICY.item_filter(dept), inbox.InboxFilter(state="completed"))
        assert n == 1 and done[0].completed_by == dept.id and done[0].decision == "approve"
        # the school sees only what reached it
        school = actor("school")
        assert inbox.counts(s, POLICY.item_filter(school))["open"] == 1


def test_inbox_page_renders_filters(app, runtime, world, make_graduate, step, actor, client_for):
    # rule REV-1
    _file_many(runtime, step, actor, make_graduate, 3)
    client = client_for("dept_info")
    text = client.get("/review/inbox?q=学生01").get_data(as_text=True)
    assert "学生01" in text and "学生02" not in text
    text = client.get("/review/inbox?type=求职中&from=2000-01-01&to=bad-date&page=x").get_data(as_text=True)
    assert "学生01" in text and "学生00" not in text
