"""The steps the archive and hukou scenario tests are written in, for one kind (its TransferSpec): a graduate
starts an application, a reviewer decides it, and what the instance, the valid record and the tables then hold."""
from __future__ import annotations

from sqlalchemy import func, select

from domain import transfers
from domain.graduate_info import current_info
from domain.models import Attachment, Graduate, RegisteredInfo, TransferApplication
from engine.models import AuditEvent, ProcessInstance, WorkItem
from processes.review import services as reviews
from processes.transfers import services
from processes.transfers.spec import TransferSpec
from tests.conftest import open_items


def start(spec: TransferSpec, runtime, step, actor, username, clean=None, action=transfers.REGISTRATION, *,
          default):
    """`username` starts an application of `clean`, or of the kind's `default` one."""
    clean = default if clean is None else clean
    a = actor(username)
    return step(lambda s: services.start(spec, s, runtime.runner, a, s.get(Graduate, a.graduate_id), action,
                                         dict(clean)))


def decide(spec: TransferSpec, runtime, step, actor, username, instance_id, decision, reason="", edits=None):
    a = actor(username)
    role = "Department" if username.startswith("dept") else "School"
    item = open_items(runtime, instance_id, role)[0]
    return step(lambda s: reviews.review(s, runtime.runner, a, item.id, decision, reason, edits,
                                         dict(spec.kind.labels)))


def reviewer_edit(spec: TransferSpec, runtime, graduate_id, instance_id, changes):
    """REV-5: the application the department reviewer has open, with `changes`, as the edit a review passes on."""
    with runtime.Session() as s:
        application = runtime.runner.task_data(s, open_items(runtime, instance_id, "Department")[0])["application"]
        return transfers.build_application(spec.kind, s.get(Graduate, graduate_id), {**application, **changes},
                                           require_proof=False)


def approve_all(spec: TransferSpec, runtime, step, actor, instance_id):
    decide(spec, runtime, step, actor, "dept_info", instance_id, "approve")
    decide(spec, runtime, step, actor, "school", instance_id, "approve")


def label(runtime, instance_id):
    with runtime.Session() as s:
        return s.get(ProcessInstance, instance_id).status_label


def info(spec: TransferSpec, runtime, graduate_id):
    with runtime.Session() as s:
        row = current_info(s, graduate_id, spec.code)
        return (row.source, dict(row.fields)) if row else None


def counts(runtime):
    with runtime.Session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in
                     (ProcessInstance, WorkItem, AuditEvent, Attachment, TransferApplication, RegisteredInfo))
