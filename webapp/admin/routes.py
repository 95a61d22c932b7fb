"""System admin: inspect instances (list, one instance in words), and suspend / resume / terminate / retry them.

The access policy lets an admin read everything and complete nothing: the actions here are the runner's own
admin methods, each one transaction (run_step), audited with the admin's reason."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import Conflict, EngineError, NotFound
from core.timefmt import china_time
from domain.models import Department, Employer, Graduate, School
from engine import migration
from engine.models import OutboxMessage, ProcessInstance, ProcessVersion, WorkItem
from engine.timers import record_incident
from webapp.admin import diagram, inspect, listing
from webapp.admin.forms import AdminActionForm, MigrateForm, ReassignForm
from webapp.session import current_actor, role_required, run_step

bp = Blueprint("admin", __name__, url_prefix="/admin")
ACTIONS = ("suspend", "resume", "terminate", "retry")


@bp.route("/instances")
@role_required("admin")
def instances():
    f = listing.parse(request.args)
    result = listing.page(g.db, f)
    return render_template(
        "admin/instances.html", f=f, page=result, names=listing.Names.load(g.db, result.rows),
        choices=listing.choices(g.db), statuses=listing.STATUS_NAMES, lanes=listing.LANE_NAMES,
        page_sizes=listing.PAGE_SIZES, status_key=listing.status_key, scan_limit=listing.DATA_SCAN_LIMIT,
    )


@bp.route("/instances.csv")
@role_required("admin")
def instances_csv():
    f = listing.parse(request.args)
    session_factory = g.runtime.Session

    def generate() -> Iterator[str]:
        # Its own session, closed when the download ends (or is dropped): the request's session is closed at
        # teardown, before the rows are streamed.
        with session_factory() as db:
            yield from _csv_lines(db, f)

    return Response(generate(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=instances.csv"})


def _csv_lines(db: Any, f: listing.InstanceFilter) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")  # Excel reads the file as UTF-8
    writer.writerow(listing.CSV_HEADERS)
    for n, row in enumerate(listing.csv_rows(db, f)):
        (iid, process_id, title, version_id, key, name, no, employer, school, status, error, label,
         created, updated, timer) = row
        shown = "failed" if error and status == "running" else status
        writer.writerow([iid, f"{title}（{process_id}）", version_id, key or "", name, no, employer or "",
                         school or "", listing.STATUS_NAMES.get(shown, shown), label, china_time(created),
                         china_time(updated), china_time(timer), (error or "").split("\n", 1)[0]])
        if n % 200 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _instance_or_404(instance_id: int) -> ProcessInstance:
    inst = g.db.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("流程实例不存在")
    return inst


def _names(inst: ProcessInstance) -> dict[str, Any]:
    db = g.db

    def name(model: Any, key: int | None) -> str:
        row = db.get(model, key) if key is not None else None
        return row.name if row is not None else ""

    graduate = db.get(Graduate, inst.graduate_id) if inst.graduate_id is not None else None
    version = db.get(ProcessVersion, inst.version_id)
    return {"school": name(School, inst.school_id), "department": name(Department, inst.department_id),
            "employer": name(Employer, inst.employer_id), "graduate": graduate,
            "version": version}


@bp.route("/instances/<int:instance_id>")
@role_required("admin")
def instance(instance_id: int):
    inst = _instance_or_404(instance_id)
    db = g.db
    items = list(db.scalars(select(WorkItem).where(WorkItem.instance_id == inst.id).order_by(WorkItem.id)))
    scope_names = _scope_names(items)
    workflow = g.runtime.runner.load(db, inst)
    history = g.runtime.runner.history(db, inst.id)
    outbox = list(db.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == inst.id)
                             .order_by(OutboxMessage.id)))
    return render_template(
        "admin/instance.html", inst=inst, names=_names(inst), items=items, scope_names=scope_names,
        open_items=[i for i in items if i.state == "open"], tasks=inspect.tasks(workflow),
        timers=inspect.timers(workflow), data=inspect.current_data(workflow),
        history=[(h, inspect.changes(h)) for h in history], outbox=outbox, form=AdminActionForm(),
        status=listing.status_key(inst), statuses=listing.STATUS_NAMES, lanes=listing.LANE_NAMES,
        action_name=inspect.action_name, decision_name=inspect.decision_name, is_id_key=inspect.is_id_key,
        show=inspect.show, diagrams=pages.instance_diagrams(inst, workflow), legend=diagram.legend(),
        mark_names=diagram.MARK_NAMES, newer=migration.newer_versions(db, inst.version_id),
        migrate_form=MigrateForm(), reassign_form=ReassignForm(), assignees=pages.assignee_names(items),
        candidates={i.id: pages.candidates(i) for i in items if i.state == "open" and not i.optional},
    )


def _scope_names(items: list[WorkItem]) -> dict[str, dict[int, str]]:
    schools = {i.school_id for i in items if i.school_id is not None}
    departments = {i.department_id for i in items if i.department_id is not None}
    db = g.db
    return {
        "school": dict(db.execute(select(School.id, School.name).where(School.id.in_(schools))).all())
        if schools else {},
        "department": dict(db.execute(select(Department.id, Department.name)
                                      .where(Department.id.in_(departments))).all()) if departments else {},
    }


DONE = {"suspend": "流程已暂停", "resume": "流程已恢复", "terminate": "流程已终止", "retry": "失败步骤已重试"}


@bp.route("/instances/<int:instance_id>/<action>", methods=["POST"])
@role_required("admin")
def act(instance_id: int, action: str):
    if action not in ACTIONS:
        raise NotFound("页面不存在")
    _instance_or_404(instance_id)
    form = AdminActionForm()
    back = redirect(url_for("admin.instance", instance_id=instance_id))
    if not form.validate_on_submit():
        flash(_(form.first_error()), "error")
        return back
    actor = current_actor()
    runner = g.runtime.runner
    reason = form.reason.data.strip()
    method = {"suspend": runner.suspend, "resume": runner.resume, "terminate": runner.terminate,
              "retry": runner.retry_timer}[action]

    def step(db):
        inst = db.get(ProcessInstance, instance_id)
        return method(db, inst, actor, reason)

    try:
        run_step(step)
    except EngineError as exc:
        if action == "retry" and not isinstance(exc, Conflict):
            record_incident(g.db, instance_id, exc)  # the step failed again: keep the new stack trace
        flash(_(exc.message), "error")
        return back
    flash(_(DONE[action]))
    return back


from webapp.admin import pages  # noqa: E402 - its routes are on bp; it imports bp from here
