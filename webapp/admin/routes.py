"""System admin: inspect running instances, their data and history."""
from __future__ import annotations

from flask import Blueprint, g, render_template, request
from sqlalchemy import func, select

from engine.models import ProcessInstance, WorkItem
from webapp.session import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/instances")
@role_required("admin")
def instances():
    status = request.args.get("status", "running")
    query = select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(100)
    if status in {"running", "completed"}:
        query = query.where(ProcessInstance.status == status)
    rows = list(g.db.scalars(query))
    totals = dict(g.db.execute(select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
    return render_template("admin/instances.html", rows=rows, totals=totals, status=status)


@bp.route("/instances/<int:instance_id>")
@role_required("admin")
def instance(instance_id: int):
    inst = g.db.get(ProcessInstance, instance_id)
    if inst is None:
        return render_template("error.html", message="流程实例不存在"), 404
    items = list(g.db.scalars(select(WorkItem).where(WorkItem.instance_id == inst.id).order_by(WorkItem.id)))
    workflow = g.runtime.runner.load(g.db, inst)
    data = workflow.data if hasattr(workflow, "data") else {}
    tasks = [(t.task_spec.bpmn_name or t.task_spec.name, t.state_names[0] if hasattr(t, "state_names") else t.state)
             for t in workflow.get_tasks()]
    return render_template("admin/instance.html", inst=inst, items=items, history=g.runtime.runner.history(g.db, inst.id),
                           data=data, tasks=tasks)
