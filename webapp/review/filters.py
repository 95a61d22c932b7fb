"""The reviewer inbox's filter: read from the query string (page, API, saved filter), written back into links.

One parser for the inbox page, the task page's "next task", saved filters and GET /api/v1/work-items, so a
filter means the same everywhere. Kinds (线上签约, 档案信息登记 ...) come from the module registry and the
deployed BPMN names; nothing here names a process.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from flask import g
from sqlalchemy import select

from domain.access import POLICY, SCHOOL
from domain.models import Department
from domain.review_models import SavedFilter
from engine import inbox as inbox_q
from engine.models import ProcessVersion, WorkItem
from engine.services import Actor

SORT_CHOICES = (("created", "提交时间（早→晚）"), ("-created", "提交时间（晚→早）"), ("name", "姓名"), ("no", "学号"),
                ("kind", "事项类型"))
COMPLETED_SORT = ("-completed", "审核时间（晚→早）")


def inbox_filter(args: Mapping[str, str], actor: Actor | None = None) -> inbox_q.InboxFilter:
    """Anything unknown or malformed falls back to its default; a 院系 filter only for a school reviewer."""
    return inbox_q.parse(args, department=actor is not None and actor.role == SCHOOL)


filter_args = inbox_q.filter_args
FILTER_ARGS = inbox_q.FILTER_ARGS


def query_string(args: Mapping[str, str]) -> str:
    return urlencode(filter_args(args))


def kinds() -> list[tuple[str, str]]:
    """(process id, name) of every process a reviewer reviews: the modules' processes with a record view,
    named as their deployed BPMN names them (the module's title when none is deployed)."""
    names = dict(g.db.execute(select(ProcessVersion.process_id, ProcessVersion.name)
                              .order_by(ProcessVersion.id)).tuples().all())  # the latest version wins
    return [(pid, names.get(pid) or module.title)
            for module in g.runtime.modules.modules if module.record is not None for pid in module.process_ids]


def departments(actor: Actor) -> list[tuple[int, str]]:
    """The 院系 of a school reviewer's school (ROLE-1: only its own); none for a department reviewer."""
    if actor.role != SCHOOL or actor.school_id is None:
        return []
    rows = g.db.execute(select(Department.id, Department.name).where(Department.school_id == actor.school_id)
                        .order_by(Department.id)).tuples().all()
    return list(rows)


def next_item(item_id: int, args: Mapping[str, str], actor: Actor) -> int | None:
    """"Next task": the open item after `item_id` in the filter the reviewer came from (else the first left)."""
    current = g.db.get(WorkItem, item_id)
    if current is None:
        return None
    found = inbox_q.next_open(g.db, POLICY.item_filter(actor), inbox_filter(args, actor), current)
    return found.id if found is not None else None


def saved_filters(actor: Actor) -> list[SavedFilter]:
    """This account's own saved filters (never another's)."""
    return list(g.db.scalars(select(SavedFilter).where(SavedFilter.account_id == actor.id).order_by(SavedFilter.name)))
