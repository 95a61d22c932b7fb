"""A test-only process module (issue 6's proof of the shape): one BPMN file, one form, one handler, a
page, an API start, a record view — registered with the runtime and served by the generic pages, the
generic API and the OpenAPI document, with no edit outside this folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from domain.access import POLICY
from domain.models import Graduate
from domain.modules import FormSpec, ProcessModule, RecordPart, StartSpec
from engine.models import WorkItem
from engine.services import StepContext
from forms.base import BaseForm
from forms.describe import describe
from webapp.api.base import step_response
from webapp.graduate.routes import me
from webapp.session import current_actor, role_required, run_step

HERE = Path(__file__).resolve().parent
PROCESS_ID = "sample_note"
FORM_KEY = "sample_note"
bp = Blueprint("sample", __name__, template_folder="templates")


class NoteForm(BaseForm):
    note = TextAreaField("示例内容", validators=[InputRequired("请填写示例内容"), Length(max=50)])


def record(ctx: StepContext, data: dict[str, Any], params: dict[str, Any]) -> None:
    """sample.record: the handler writes where the generic record pages show it."""
    ctx.instance.category = (data.get("application") or {}).get("note", "")[:100]


def start(session, actor, graduate: Graduate):
    return g.runtime.runner.start(
        session, PROCESS_ID, actor,
        scope={"graduate_id": graduate.id, "school_id": graduate.school_id, "department_id": graduate.department_id,
               "cohort": graduate.cohort},
        data={"review_levels": graduate.school.review_levels, "application": {}}, title="示例登记",
        subject_name=graduate.name, subject_no=graduate.student_no)


def api_start(body: dict[str, Any]):
    actor = current_actor()
    if not POLICY.is_graduate(actor):
        from core.errors import Forbidden

        raise Forbidden("只有毕业生可以发起")
    return step_response(run_step(lambda db: start(db, actor, db.get(Graduate, actor.graduate_id))), 201)


def _complete(item: WorkItem, note: str):
    actor = current_actor()
    return run_step(lambda db: g.runtime.runner.complete(db, item.id, actor, {"application": {"note": note}}))


def api_complete(item: WorkItem, body: dict[str, Any]):
    form = NoteForm.from_json(body)
    if not form.validate():
        from core.errors import ValidationFailed

        raise ValidationFailed(form.first_error(), details=form.error_details())
    return _complete(item, form.note.data)


def page(graduate: Graduate, item: WorkItem, data: dict[str, Any]):
    form = NoteForm()
    if form.validate_on_submit():
        _complete(item, form.note.data)
        flash("已提交")
        return redirect(url_for("graduate.record", instance_id=item.instance_id))
    return render_template("sample/form.html", form=form, error=form.first_error() if request.method == "POST"
                           else None), (422 if request.method == "POST" else 200)


@bp.route("/graduate/sample/new", methods=["POST"])
@role_required("graduate")
def new():
    graduate, actor = me(), current_actor()
    inst = run_step(lambda db: start(db, actor, db.get(Graduate, graduate.id)))
    return redirect(url_for("graduate.record", instance_id=inst.id))


def record_context(db, instance) -> dict[str, Any]:
    return {"sample_note": instance.category}


def module() -> ProcessModule:
    return ProcessModule(
        name="sample", title="示例", bpmn_dir=HERE, process_ids=(PROCESS_ID,),
        starts=(StartSpec(PROCESS_ID, "示例登记", FORM_KEY, api_start, schema="SampleNote"),),
        forms=(FormSpec(FORM_KEY, api_complete=api_complete, fields=lambda: describe(NoteForm), graduate_page=page,
                        completion_schema={"note": {"type": "string", "maxLength": 50}}, description="note（示例）"),),
        handlers={"sample.record": record},
        record=RecordPart(context=record_context, template="sample/_record.html"),
        blueprints=(bp,),
        openapi_schemas={"SampleNote": {"type": "object", "description": "空对象：先发起，再办理 sample_note 待办"}},
        home_template="sample/_home.html",
    )
