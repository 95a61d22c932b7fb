"""System admin, beyond the instance list: the diagrams (instance marks, version marks), the process dashboard,
reassigning an open work item, and moving instances to a newer version of their process.

Every route is admin-only (role_required); each write is one transaction (run_step, or engine.migration's own
transaction per instance), audited with the admin and the reason."""
from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from sqlalchemy import select

from core.errors import EngineError, NotFound
from domain.access import POLICY, SCOPE_COLUMN
from domain.accounts import ROLE_LANE, actor_for
from domain.models import Account, Department, Employer, Graduate, School
from engine import migration
from engine.models import ProcessInstance, ProcessVersion, WorkItem
from webapp.admin import diagram, listing
from webapp.admin.forms import MigrateForm, ReassignForm
from webapp.admin.routes import bp
from webapp.session import current_actor, role_required, run_step

LANE_ROLE = {lane: role for role, lane in ROLE_LANE.items()}


def _version_or_404(version_id: int) -> ProcessVersion:
    row = g.db.get(ProcessVersion, version_id)
    if row is None:
        raise NotFound("流程版本不存在")
    return row


def _instance_or_404(instance_id: int) -> ProcessInstance:
    inst = g.db.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound("流程实例不存在")
    return inst


# -- diagrams -------------------------------------------------------------------------------------------------
@bp.route("/versions/<int:version_id>/processes/<process_id>.bpmn")
@role_required("admin")
def process_xml(version_id: int, process_id: str):
    """The BPMN file of a version that defines a process (its own, or a called one such as the shared review)."""
    text = diagram.process_file(_version_or_404(version_id), process_id)
    if text is None:
        abort(404)
    return Response(text, mimetype="application/xml")


def diagrams_for(version: ProcessVersion, processes: list[str], marks_url: Any) -> list[dict[str, str]]:
    """One diagram per process shown: its XML URL, its marks URL and an anchor to link to."""
    return [{"process": p, "anchor": f"diagram-{p}",
             "xml_url": url_for("admin.process_xml", version_id=version.id, process_id=p),
             "marks_url": marks_url(p)} for p in processes if diagram.process_file(version, p) is not None]


@bp.route("/instances/<int:instance_id>/marks/<process_id>.json")
@role_required("admin")
def instance_marks(instance_id: int, process_id: str):
    inst = _instance_or_404(instance_id)
    workflow = g.runtime.runner.load(g.db, inst)
    marks = diagram.instance_marks(workflow)
    own = marks.get(process_id, {})
    calls = diagram.called_elements(workflow)
    links = {bpmn_id: f"#diagram-{called}" for bpmn_id, called in calls.items() if bpmn_id in own}
    return jsonify({"elements": own, "links": links})


@bp.route("/versions/<int:version_id>/marks/<process_id>.json")
@role_required("admin")
def version_marks(version_id: int, process_id: str):
    version = _version_or_404(version_id)
    loaded = g.runtime.registry.load(g.db, version.id)
    owner = diagram.element_process(loaded)
    waiting = diagram.waiting_steps(g.db, version.id)
    elements = diagram.version_marks(waiting, diagram.completed_steps(g.db, version.id), owner, process_id)
    links = {}
    for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            called = getattr(task_spec, "spec", None)
            if isinstance(called, str) and called in loaded.subprocess_specs and owner.get(task_spec.bpmn_id) == process_id:
                links[task_spec.bpmn_id] = f"#diagram-{called}"
                # a call activity counts the work waiting inside the process it calls
                inside = sum(n for name, n in waiting.items() if owner.get(name) == called)
                if inside:
                    elements[task_spec.bpmn_id] = {**dict.fromkeys(diagram.COUNTS, 0), "active": inside,
                                                   "state": "active"}
    return jsonify({"elements": elements, "links": links})


def instance_diagrams(inst: ProcessInstance, workflow: Any) -> list[dict[str, str]]:
    version = g.db.get(ProcessVersion, inst.version_id)
    if version is None:
        return []
    ran = diagram.instance_marks(workflow)
    shown = [inst.process_id] + sorted(p for p in ran if p != inst.process_id)
    return diagrams_for(version, shown,
                        lambda p: url_for("admin.instance_marks", instance_id=inst.id, process_id=p))


# -- the process dashboard --------------------------------------------------------------------------------------
@bp.route("/processes")
@role_required("admin")
def processes():
    counts = diagram.status_counts(g.db)
    versions = list(g.db.execute(select(ProcessVersion.id, ProcessVersion.process_id, ProcessVersion.name,
                                        ProcessVersion.content_hash, ProcessVersion.deployed_at)
                                 .order_by(ProcessVersion.process_id, ProcessVersion.id)).all())
    grouped: dict[str, list[Any]] = {}
    for row in versions:
        grouped.setdefault(row.process_id, []).append(row)
    return render_template("admin/processes.html", grouped=grouped, counts=counts, statuses=listing.STATUSES,
                           status_names=listing.STATUS_NAMES)


@bp.route("/versions/<int:version_id>")
@role_required("admin")
def version(version_id: int):
    row = _version_or_404(version_id)
    try:
        loaded = g.runtime.registry.load(g.db, row.id)
    except ValidationException as exc:  # a stored version whose files no longer parse: say so, never a 500
        message = _("该流程版本的文件无法解析：%(error)s", error=str(exc)[:300])
        return render_template("error.html", message=message), 409
    names = diagram.element_names(loaded)
    owner = diagram.element_process(loaded)
    waiting = diagram.waiting_steps(g.db, row.id)
    times = diagram.step_times(g.db, row.id)
    counts = diagram.status_counts(g.db).get((row.process_id, row.id), {})
    shown = [p for p in diagram.processes_in(row) if p == row.process_id or p in loaded.subprocess_specs]
    return render_template(
        "admin/version.html", row=row, names=names, owner=owner, waiting=waiting, times=times, counts=counts,
        labels=diagram.waiting_labels(g.db, row.id), timers=diagram.timers_waiting(g.db, row.id),
        diagrams=diagrams_for(row, shown, lambda p: url_for("admin.version_marks", version_id=row.id, process_id=p)),
        newer=migration.newer_versions(g.db, row.id), statuses=listing.STATUSES, status_names=listing.STATUS_NAMES,
        duration=diagram.duration, legend=diagram.legend(("active", "completed")), mark_names=diagram.MARK_NAMES,
        form=MigrateForm(),
    )


# -- reassign an open work item ----------------------------------------------------------------------------------
def _scope_words(item: WorkItem) -> str:
    db = g.db
    if item.role == "Department" and item.department_id is not None:
        dept = db.get(Department, item.department_id)
        return dept.name if dept else ""
    if item.role == "School" and item.school_id is not None:
        school = db.get(School, item.school_id)
        return school.name if school else ""
    if item.role == "Employer" and item.employer_id is not None:
        employer = db.get(Employer, item.employer_id)
        return employer.name if employer else ""
    return item.subject_name


def candidates(item: WorkItem) -> list[Account]:
    """The active accounts of the item's lane and scope (the runner still asks the policy about each)."""
    role = LANE_ROLE.get(item.role)
    column = SCOPE_COLUMN.get(item.role)
    if role is None or column is None:
        return []
    query = select(Account).where(Account.role == role, Account.active.is_(True))
    if item.role == "Graduate":
        graduate = g.db.get(Graduate, item.graduate_id) if item.graduate_id is not None else None
        if graduate is None or not graduate.id_number:
            return []
        query = query.where(Account.id_number == graduate.id_number)
    else:
        query = query.where(getattr(Account, column) == getattr(item, column))
    return list(g.db.scalars(query.order_by(Account.username).limit(200)))


def assignee_names(items: list[WorkItem]) -> dict[int, str]:
    ids = {i.assignee_id for i in items if i.assignee_id is not None}
    if not ids:
        return {}
    return dict(g.db.execute(select(Account.id, Account.display_name).where(Account.id.in_(ids))).all())


@bp.route("/work-items/<int:item_id>/reassign", methods=["POST"])
@role_required("admin")
def reassign(item_id: int):
    item = g.db.get(WorkItem, item_id)
    if item is None:
        raise NotFound("待办事项不存在")
    back = redirect(url_for("admin.instance", instance_id=item.instance_id) + "#open-items")
    form = ReassignForm()
    if not form.validate_on_submit():
        flash(_(form.first_error()), "error")
        return back
    username = form.username.data.strip()
    account = g.db.scalar(select(Account).where(Account.username == username))
    scope = _scope_words(item)
    lane = listing.LANE_NAMES.get(item.role, item.role)
    if account is None or not account.active:
        flash(_("账号“%(name)s”不存在或已停用", name=username), "error")
        return back
    target = actor_for(g.db, account)
    if not _in_scope(item, target):
        flash(_("“%(name)s”不在该事项的办理范围内：此事项只能改派给%(scope)s的%(lane)s账号（且须有该业务的读写权限）",
                name=account.display_name, scope=scope, lane=_(lane)), "error")
        return back
    admin = current_actor()
    before = assignee_names([item]).get(item.assignee_id or 0, "") or f"{scope}{lane}（全部账号）"
    reason = form.reason.data.strip()

    def step(db):
        row = db.get(WorkItem, item_id)
        return g.runtime.runner.reassign(db, row, target, admin, reason,
                                         (before, f"{account.display_name}（{account.username}）"))

    try:
        run_step(step)
    except EngineError as exc:
        flash(_(exc.message), "error")
        return back
    flash(_("已改派给 %(name)s", name=account.display_name))
    return back


def _in_scope(item: WorkItem, target: Any) -> bool:
    """The policy's own answer, as if the item were already the target's."""
    previous = item.assignee_id
    item.assignee_id = target.id
    try:
        return POLICY.may_complete(target, item)
    finally:
        item.assignee_id = previous
        g.db.expire(item, ["assignee_id"])


# -- version migration ---------------------------------------------------------------------------------------------
def _run_migration(source: ProcessVersion, target_id: int, reason: str, dry_run: bool,
                   instance_ids: list[int] | None = None) -> list[migration.Verdict]:
    g.db.rollback()  # end the request's read transaction: each instance is its own transaction
    return migration.migrate_batch(g.runtime.runner, g.runtime.Session, source.id, target_id, current_actor(),
                                   reason, dry_run=dry_run, instance_ids=instance_ids)


def _render_results(source: ProcessVersion, target: ProcessVersion, results: list[migration.Verdict],
                    dry_run: bool, reason: str, single: int | None = None):
    diff = migration.version_diff(g.runtime.runner, g.db, source.id, target.id)
    return render_template(
        "admin/migrate.html", source=source, target=target, results=results, dry_run=dry_run, reason=reason,
        added=diff.added, removed=_removed_names(diff), single=single, form=MigrateForm(),
        moved=sum(1 for r in results if r.moved), movable=sum(1 for r in results if r.movable))


def _removed_names(diff: migration.VersionDiff) -> list[str]:
    specs = list(diff.top.removed)
    for d in diff.called.values():
        if d is not None:
            specs.extend(d.removed)
    return [migration._name(s) for s in specs if getattr(s, "bpmn_id", None)]


@bp.route("/versions/<int:version_id>/migrate", methods=["GET", "POST"])
@role_required("admin")
def migrate_version(version_id: int):
    source = _version_or_404(version_id)
    newer = migration.newer_versions(g.db, source.id)
    form = MigrateForm()
    if request.method == "GET" or not form.validate_on_submit():
        if request.method == "POST":
            flash(_(form.first_error()), "error")
        return render_template("admin/migrate.html", source=source, newer=newer, results=None, form=form,
                               count=len(migration.candidates(g.db, source.id)))
    target = g.db.get(ProcessVersion, form.target.data)
    if target is None or target.id not in {v.id for v in newer}:
        flash(_("请选择本流程的一个更新版本"), "error")
        return redirect(url_for("admin.migrate_version", version_id=source.id))
    reason = form.reason.data.strip()
    results = _run_migration(source, target.id, reason, bool(form.dry_run.data))
    return _render_results(source, target, results, bool(form.dry_run.data), reason)


@bp.route("/instances/<int:instance_id>/migrate", methods=["POST"])
@role_required("admin")
def migrate_instance(instance_id: int):
    inst = _instance_or_404(instance_id)
    source = _version_or_404(inst.version_id)
    form = MigrateForm()
    back = redirect(url_for("admin.instance", instance_id=inst.id) + "#migrate")
    if not form.validate_on_submit():
        flash(_(form.first_error()), "error")
        return back
    target = g.db.get(ProcessVersion, form.target.data)
    if target is None or target.id not in {v.id for v in migration.newer_versions(g.db, source.id)}:
        flash(_("请选择本流程的一个更新版本"), "error")
        return back
    reason = form.reason.data.strip()
    results = _run_migration(source, target.id, reason, bool(form.dry_run.data), [inst.id])
    return _render_results(source, target, results, bool(form.dry_run.data), reason, single=inst.id)
