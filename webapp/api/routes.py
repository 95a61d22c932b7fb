"""JSON API under /api/v1. Token (Bearer) or session auth; the page forms validate bodies."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, generate_csrf
from sqlalchemy import select

from domain import dicts, filing
from domain.accounts import LoginRefused, account_by_token, authenticate, current_graduate, issue_api_token
from domain.attachments import store_images
from domain.models import Account, DestinationRecord, Graduate, Message
from engine import inbox as inbox_q
from engine.errors import EngineError, Forbidden
from engine.models import ProcessInstance, WorkItem
from forms.destination import FIELD_LABELS, DestinationForm, ReviewForm
from webapp import csrf
from webapp.api.openapi import document
from webapp.session import current_actor, log_refusal, run_step

bp = Blueprint("api", __name__, url_prefix="/api/v1")
STARTABLE = {"destination_filing": "其他毕业去向登记", "offline_signing": "线下签约",
             "paper_registration": "已签就业协议登记"}
START_FORM_KEYS = {"destination_filing": "destination", "offline_signing": "offline_agreement",
                   "paper_registration": "paper_agreement"}
PUBLIC_ENDPOINTS = {"api.token", "api.openapi", "api.register_employer"}
# Hooks the agreement API (webapp/api/signing.py) fills: process starters by process id, and per
# work-item form_key a completer, a field description and the task data shown to the assignee.
STARTERS: dict = {}  # process_id -> fn(data: dict) -> response
COMPLETERS: dict = {}  # form_key -> fn(item: WorkItem, data: dict) -> ProcessInstance
FORM_FIELDS: dict = {}  # form_key -> fn() -> list[dict]
ITEM_DATA: dict = {}  # form_key -> fn(task_data: dict) -> dict
INSTANCE_EXTRAS: list = []  # fn(db, instance) -> dict merged into the full instance JSON


def fail(message: str, status: int = 400, details: dict | None = None):
    return jsonify(error={"message": message, "details": details or {}}), status


@bp.before_request
def _authenticate():
    g.api_account = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        account = account_by_token(g.db, header[7:].strip())
        if account is None:
            return fail("令牌无效或已失效", 401)
        g.api_account = account
        return None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return fail("请先登录或提供访问令牌", 401)
    g.api_account = g.db.get(Account, current_user.id)
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        try:
            csrf.protect()  # cookie-authenticated writes need the CSRF header
        except CSRFError:
            return fail("缺少或无效的 CSRF 令牌（X-CSRFToken）", 400)
    return None


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise EngineError("请求体必须是 JSON 对象")
    return data


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())


@bp.route("/token", methods=["POST"])
def token():
    data = request.get_json(silent=True) or {}
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return fail("请提供用户名和密码", 422)
    try:
        account = authenticate(g.db, username, password)
    except LoginRefused as exc:
        return fail(exc.message, 401)
    value = run_step(lambda db: issue_api_token(db, db.get(Account, account.id)))
    return jsonify(token=value, role=account.role)


@bp.route("/csrf-token")
def csrf_token():
    return jsonify(csrf_token=generate_csrf())


def instance_json(db, inst: ProcessInstance, *, full: bool = False) -> dict:
    out = {
        "id": inst.id, "process_id": inst.process_id, "title": inst.title, "category": inst.category,
        "status": inst.status, "status_label": inst.status_label, "created_at": inst.created_at.isoformat(),
        "updated_at": inst.updated_at.isoformat(),
    }
    if full:
        rec = db.scalar(select(DestinationRecord).where(DestinationRecord.instance_id == inst.id))
        if rec is not None:
            out["destination"] = {"dest_type": rec.dest_type, "category": rec.category, "fields": rec.fields,
                                  "attachment_ids": rec.attachment_ids, "status": rec.status}
        out["history"] = [
            {"at": h.created_at.isoformat(), "actor": h.actor_name, "action": h.action, "task": h.task_title,
             "decision": h.decision, "reason": h.reason, "status_label": h.status_label}
            for h in g.runtime.runner.history(db, inst.id)
        ]
        out["work_items"] = [item_json(i) for i in db.scalars(
            select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.state == "open"))
            if g.runtime.runner.may_see(current_actor(), i)]
        for extra in INSTANCE_EXTRAS:
            out.update(extra(db, inst))
    return out


def item_json(item: WorkItem) -> dict:
    return {
        "id": item.id, "instance_id": item.instance_id, "title": item.title, "form_key": item.form_key,
        "status_label": item.status_label, "state": item.state, "role": item.role, "subject_name": item.subject_name,
        "subject_no": item.subject_no, "category": item.category, "created_at": item.created_at.isoformat(),
        "completed_at": item.completed_at.isoformat() if item.completed_at else None, "optional": item.optional,
    }


def form_fields(form_key: str) -> list[dict]:
    if form_key in FORM_FIELDS:
        return FORM_FIELDS[form_key]()
    if form_key == "destination":
        fields = [{"name": "dest_type", "label": "毕业去向类型", "type": "choice", "required": True,
                   "choices": [{"value": t["code"], "label": t["name"]} for t in dicts.destination_types()]}]
        fields += [{"name": n, "label": lbl, "type": "string", "required": False} for n, lbl in FIELD_LABELS.items()]
        fields.append({"name": "attachment_ids", "label": "证明材料图片编号", "type": "array[int]", "required": False})
        return fields
    if form_key == "review":
        return [{"name": "decision", "label": "审核结果", "type": "choice", "required": True,
                 "choices": [{"value": "approve", "label": "通过"}, {"value": "return", "label": "退回修改"},
                             {"value": "reject", "label": "不通过"}]},
                {"name": "reason", "label": "原因", "type": "string", "required": False, "max_length": 200},
                {"name": "edits", "label": "修改后的登记信息（同去向表单字段）", "type": "object", "required": False}]
    return []


@bp.route("/processes")
def processes():
    return jsonify(processes=[{"id": k, "title": v, "form_key": START_FORM_KEYS[k]} for k, v in STARTABLE.items()])


def _graduate_for_actor(db) -> Graduate:
    actor = current_actor()
    if actor.role != "Graduate" or actor.graduate_id is None:
        raise Forbidden("只有毕业生可以发起去向登记")
    return db.get(Graduate, actor.graduate_id)


@bp.route("/processes/<process_id>/instances", methods=["POST"])
def start(process_id: str):
    if process_id not in STARTABLE:
        return fail("流程不存在", 404)
    data = body()
    if process_id in STARTERS:
        return STARTERS[process_id](data)
    form = DestinationForm.from_json(data)
    if not form.validate():
        return fail(form.first_error(), 422, form.error_details())
    actor = current_actor()
    graduate = _graduate_for_actor(g.db)
    inst = run_step(lambda db: filing.start_filing(db, g.runtime.runner, actor, db.get(Graduate, graduate.id),
                                                   form.clean()))
    return jsonify(instance_json(g.db, inst, full=True)), 201


@bp.route("/attachments", methods=["POST"])
def upload():
    actor = current_actor()
    graduate = _graduate_for_actor(g.db)
    files = [(f.filename or "", f.read()) for f in request.files.getlist("file") if f]
    if not files:
        return fail("请选择要上传的图片（字段名 file）", 422)
    rows = run_step(lambda db: store_images(db, graduate.id, actor.id, files))
    return jsonify(attachments=[{"id": r.id, "mime": r.mime, "size": r.size, "width": r.width,
                                 "height": r.height} for r in rows]), 201


@bp.route("/work-items")
def work_items():
    actor = current_actor()
    f = inbox_q.InboxFilter(state="completed" if request.args.get("state") == "completed" else "open",
                            category=request.args.get("type", "")[:100], q=request.args.get("q", "")[:50])
    page = request.args.get("page", "1")
    f.page = int(page) if page.isdigit() and len(page) < 7 else 1
    if actor.role == "Graduate":
        rows = list(g.db.scalars(select(WorkItem).where(inbox_q.visible(actor), WorkItem.state == f.state)
                                 .order_by(WorkItem.id.desc()).limit(inbox_q.PAGE_SIZE)))
        total = len(rows)
    else:
        rows, total = inbox_q.page(g.db, actor, f)
    return jsonify(items=[item_json(i) for i in rows], total=total, page=f.page, page_size=inbox_q.PAGE_SIZE)


def _item(item_id: int) -> WorkItem:
    try:
        return g.runtime.runner.open_work_item(g.db, item_id, current_actor())
    except Forbidden:
        log_refusal(f"api work item {item_id} out of scope")
        raise


@bp.route("/work-items/<int:item_id>")
def work_item(item_id: int):
    item = _item(item_id)
    data = g.runtime.runner.task_data(g.db, item) if item.state == "open" else {}
    current = {"application": data.get("application")}
    if item.form_key == "review":
        current["allow_return"] = bool(data.get("allow_return"))
    if data.get("reason"):
        current["last_reason"] = data.get("reason")
    if item.form_key in ITEM_DATA and item.state == "open":
        current.update(ITEM_DATA[item.form_key](data))
    return jsonify(item=item_json(item), fields=form_fields(item.form_key), data=current)


@bp.route("/work-items/<int:item_id>/complete", methods=["POST"])
def complete(item_id: int):
    item = _item(item_id)
    data = body()
    actor = current_actor()
    runner = g.runtime.runner
    if item.state != "open":
        return fail("该事项已被处理，请刷新后查看最新状态", 409)
    if item.form_key == "destination":
        form = DestinationForm.from_json(data)
        if not form.validate():
            return fail(form.first_error(), 422, form.error_details())
        graduate = _graduate_for_actor(g.db)
        inst = run_step(lambda db: filing.resubmit(db, runner, actor, db.get(Graduate, graduate.id), item.id,
                                                   form.clean()))
    elif item.form_key == "review":
        form = ReviewForm.from_json(data)
        if not form.validate():
            return fail(form.first_error(), 422, form.error_details())
        edits = None
        if data.get("edits") is not None:
            if not isinstance(data["edits"], dict):
                return fail("edits 必须是对象", 422)
            edit_form = DestinationForm.from_json(data["edits"])
            if not edit_form.validate():
                return fail(edit_form.first_error(), 422, edit_form.error_details())
            current = (runner.task_data(g.db, item).get("application") or {})
            clean = edit_form.clean()
            clean["attachment_ids"] = current.get("attachment_ids") or []
            inst_row = g.db.get(ProcessInstance, item.instance_id)
            edits = filing.build_application(g.db.get(Graduate, inst_row.graduate_id), clean)
        inst = run_step(lambda db: filing.review(db, runner, actor, item.id, form.decision.data,
                                                 form.reason.data or "", edits))
    elif item.form_key == "destination_void":
        inst = run_step(lambda db: filing.void(db, runner, actor, item.instance_id))
    elif item.form_key in COMPLETERS:
        inst = COMPLETERS[item.form_key](item, data)
    else:
        return fail("该事项不能通过接口办理", 400)
    return jsonify(instance_json(g.db, g.db.get(ProcessInstance, inst.id), full=True))


@bp.route("/instances")
def instances():
    actor = current_actor()
    query = select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(100)
    if actor.role == "Graduate":
        query = query.where(ProcessInstance.graduate_id == actor.graduate_id)
    elif actor.role == "Department":
        query = query.where(ProcessInstance.department_id == actor.department_id)
    elif actor.role == "School":
        query = query.where(ProcessInstance.school_id == actor.school_id)
    elif actor.role != "Admin":
        return jsonify(instances=[])
    return jsonify(instances=[instance_json(g.db, i) for i in g.db.scalars(query)])


def _instance(instance_id: int) -> ProcessInstance:
    try:
        return filing.instance_for(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"api instance {instance_id} out of scope")
        raise


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int):
    return jsonify(instance_json(g.db, _instance(instance_id), full=True))


@bp.route("/instances/<int:instance_id>/withdraw", methods=["POST"])
def withdraw(instance_id: int):
    _instance(instance_id)
    actor = current_actor()
    inst = run_step(lambda db: filing.withdraw(db, g.runtime.runner, actor, instance_id))
    return jsonify(instance_json(g.db, g.db.get(ProcessInstance, inst.id), full=True))


@bp.route("/instances/<int:instance_id>/void", methods=["POST"])
def void(instance_id: int):
    _instance(instance_id)
    actor = current_actor()
    inst = run_step(lambda db: filing.void(db, g.runtime.runner, actor, instance_id))
    return jsonify(instance_json(g.db, g.db.get(ProcessInstance, inst.id), full=True))


@bp.route("/messages")
def messages():
    account = g.api_account
    rows = g.db.scalars(select(Message).where(Message.account_id == account.id).order_by(Message.id.desc()).limit(100))
    return jsonify(messages=[{"id": m.id, "title": m.title, "body": m.body, "instance_id": m.instance_id,
                              "read": m.read_at is not None, "created_at": m.created_at.isoformat()} for m in rows])


@bp.route("/me")
def me():
    account = g.api_account
    graduate = current_graduate(g.db, account)
    return jsonify(username=account.username, role=account.role, display_name=account.display_name,
                   graduate_id=graduate.id if graduate else None)


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    return fail(exc.message, exc.status, exc.details)


from webapp.api import signing as _signing  # noqa: E402,F401 - registers the agreement routes and hooks
