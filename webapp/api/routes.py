"""The generic JSON API under /api/v1: token (and the caller's tokens: list, revoke), me, the process list and start, work items and their
completion, instances, uploads, messages, the OpenAPI document.

What a process's start body or a task's completion body is, is asked of the process module
that declares it (the runtime's module registry); nothing here names a process or a form key.
"""
from __future__ import annotations

from datetime import timedelta

from flask import g, jsonify, request
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from core.db import utcnow
from core.errors import Conflict, Forbidden
from core.timefmt import iso
from domain.access import POLICY, SCHOOL
from domain.accounts import (
    LoginRefused,
    api_tokens,
    authenticate,
    current_graduate,
    issue_api_token,
    revoke_api_token,
)
from domain.attachments import store_images
from domain.models import Account, ApiToken, Graduate, Message
from engine import inbox as inbox_q
from engine.models import ProcessInstance, WorkItem
from forms.auth import ContactForm
from webapp.api.base import api_blueprint, body, fail, instance_json, item_json, step_response
from webapp.api.openapi import document
from webapp.extensions import limit_login
from webapp.json_input import json_body
from webapp.session import access_row, current_actor, log_access, log_refusal, run_step

bp = api_blueprint("api", __name__, public=("token", "openapi"))
MAX_LABEL = 100


@bp.route("/openapi.json")
def openapi():
    return jsonify(document(g.runtime.modules))


@bp.route("/token", methods=["POST"])
@limit_login  # refused attempts per client and per username, shared with /login (issue 8)
def token():
    data = json_body()  # bad or too deeply nested JSON: 400 (issue 7)
    if not isinstance(data, dict):  # an array, string or number is no credentials either
        return fail("请提供用户名和密码", 422)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return fail("请提供用户名和密码", 422)
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or len(label.strip()) > MAX_LABEL):
        return fail(_("label 须为不超过 %(MAX_LABEL)s 个字符的字符串", MAX_LABEL=MAX_LABEL), 422)
    try:
        account = authenticate(g.db, username, password)
    except LoginRefused as exc:
        log_access("login_failed", exc.log_reason)  # who was tried, never the password (issue 12)
        return fail(exc.message, 401)
    lifetime = timedelta(hours=g.runtime.settings.api_token_hours)
    account_id, login = account.id, access_row("login", f"api token {account.username}", account.id)

    def issue(db):
        db.add(login)  # issue 12: every login is logged, in the step that issues the token
        return issue_api_token(db, db.get(Account, account_id), lifetime, (label or "").strip() or None)

    value, row = run_step(issue)
    return jsonify(token=value, token_type="Bearer", role=account.role, expires_in=int(lifetime.total_seconds()),
                   **_token_json(row))


def _token_json(row: ApiToken) -> dict:
    """A token as its owner sees it: never the secret (only its hash is kept anyway)."""
    now = utcnow()
    return {"id": row.id, "label": row.label, "created_at": iso(row.created_at), "expires_at": iso(row.expires_at),
            "last_used_at": iso(row.last_used_at), "revoked_at": iso(row.revoked_at),
            "active": row.revoked_at is None and row.expires_at > now, "current": row.id == g.get("api_token_id")}


@bp.route("/tokens")
def tokens():
    """The caller's API tokens (issue 12), newest first, expired and revoked ones included."""
    return jsonify(tokens=[_token_json(t) for t in api_tokens(g.db, g.api_account.id)])


@bp.route("/tokens/<int:token_id>", methods=["DELETE"])
def revoke_token(token_id: int):
    """Revoke one of the caller's own tokens; another account's token is a 404, like an unknown one."""
    account_id = g.api_account.id
    row = run_step(lambda db: revoke_api_token(db, account_id, token_id))
    if row is None:
        log_refusal(f"api token {token_id} not the caller's")
        return fail("令牌不存在", 404)
    return jsonify(_token_json(row))


@bp.route("/csrf-token")
def csrf_token():
    return jsonify(csrf_token=generate_csrf())


@bp.route("/processes")
def processes():
    return jsonify(processes=[{"id": s.process_id, "title": s.title, "form_key": s.form_key}
                              for s in g.runtime.modules.starts()])


@bp.route("/processes/<process_id>/instances", methods=["POST"])
def start(process_id: str):
    spec = g.runtime.modules.start(process_id)
    if spec is None:
        return fail("流程不存在", 404)
    _graduate_actor()  # every start the modules declare is a graduate's: others are refused before the body is read
    return spec.api_start(body())


def _graduate_actor():
    actor = current_actor()
    if not POLICY.is_graduate(actor):
        raise Forbidden("只有毕业生本人可以办理")
    return actor


@bp.route("/attachments", methods=["POST"])
def upload():
    actor = _graduate_actor()
    files = [(f.filename or "", f.read()) for f in request.files.getlist("file") if f]
    if not files:
        return fail("请选择要上传的图片（字段名 file）", 422)
    rows = run_step(lambda db: store_images(db, actor.graduate_id, actor.id, files))
    return jsonify(attachments=[{"id": r.id, "mime": r.mime, "size": r.size, "width": r.width,
                                 "height": r.height} for r in rows]), 201


@bp.route("/work-items")
def work_items():
    actor = current_actor()
    # the reviewer inbox's filter (issue 10): kind, dept (a school), type, from, to, q, sort, page, page_size
    args = {**request.args.to_dict(), "size": request.args.get("page_size", "")}
    f = inbox_q.parse(args, department=actor.role == SCHOOL)
    visible = POLICY.item_filter(actor)
    if POLICY.is_graduate(actor):
        rows = list(g.db.scalars(select(WorkItem).where(visible, WorkItem.state == f.state)
                                 .order_by(WorkItem.id.desc()).limit(inbox_q.PAGE_SIZE)))
        return jsonify(items=[item_json(i) for i in rows], total=len(rows), page=1, page_size=inbox_q.PAGE_SIZE)
    rows, total = inbox_q.page(g.db, visible, f)
    counts = {"state": inbox_q.counts(g.db, visible, f), "kind": inbox_q.kind_counts(g.db, visible, f)}
    return jsonify(items=[item_json(i) for i in rows], total=total, page=f.page, page_size=f.size, counts=counts)


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
    if data.get("reason"):
        current["last_reason"] = data.get("reason")
    spec = g.runtime.modules.form(item.form_key)
    if spec is not None and spec.item_data is not None and item.state == "open":
        current.update(spec.item_data(data))
    fields = spec.fields() if spec is not None and spec.fields is not None else []
    return jsonify(item=item_json(item), fields=fields, data=current)


@bp.route("/work-items/<int:item_id>/complete", methods=["POST"])
def complete(item_id: int):
    item = _item(item_id)
    data = body()
    if item.state != "open":
        return fail("该事项已被处理，请刷新后查看最新状态", 409)
    if not g.runtime.runner.policy.may_complete(current_actor(), item):
        raise Forbidden("无权办理该事项")  # an admin or a read-only reviewer sees it: refused before the body is read
    spec = g.runtime.modules.form(item.form_key)
    if spec is None or spec.api_complete is None:
        return fail("该事项不能通过接口办理", 400)
    return step_response(spec.api_complete(item, data))


@bp.route("/instances")
def instances():
    actor = current_actor()
    query = (select(ProcessInstance).where(POLICY.instance_filter(actor))
             .order_by(ProcessInstance.id.desc()).limit(100))
    return jsonify(instances=[instance_json(g.db, i) for i in g.db.scalars(query)])


def scoped_instance(instance_id: int) -> ProcessInstance:
    try:
        return POLICY.instance(g.db, current_actor(), instance_id)
    except Forbidden:
        log_refusal(f"api instance {instance_id} out of scope")
        raise


@bp.route("/instances/<int:instance_id>")
def instance(instance_id: int):
    # one statement for the instance and its open items: the scope check below finds the instance loaded,
    # and instance_json the items (an out-of-scope instance is refused all the same)
    g.runtime.runner.instance_with_open_items(g.db, instance_id)
    return jsonify(instance_json(g.db, scoped_instance(instance_id), full=True))


@bp.route("/instances/<int:instance_id>/answer", methods=["POST"])
def answer(instance_id: int):
    """ONL-2 / TRM-2: accept or refuse whatever answer task of this instance is open for the caller."""
    actor = current_actor()
    scoped_instance(instance_id)
    data = body()
    keys = g.runtime.modules.answer_keys()
    # the open items as this request has read them (the GRAD-4 check loads them with the instance), else read
    answers = [i for i in g.runtime.runner.open_items(g.db, instance_id) if i.form_key in keys]
    item = min(answers, key=lambda i: i.id) if answers else None
    if item is None:
        raise Conflict("该记录当前没有待回应的签约邀请或解约申请")
    if not g.runtime.runner.policy.may_complete(actor, item):
        raise Conflict("该事项需由对方回应，你不能回应")
    return step_response(g.runtime.modules.form(item.form_key).api_complete(item, data))


@bp.route("/messages")
def messages():
    account = g.api_account
    rows = g.db.scalars(select(Message).where(Message.account_id == account.id).order_by(Message.id.desc()).limit(100))
    return jsonify(messages=[{"id": m.id, "title": m.title, "body": m.body, "instance_id": m.instance_id,
                              "read": m.read_at is not None, "created_at": iso(m.created_at)} for m in rows])


@bp.route("/me/contact", methods=["POST"])
def update_contact():
    """GRAD-3: a graduate's own mobile number and e-mail."""
    actor = _graduate_actor()
    form = ContactForm.from_json(body())
    if not form.validate():
        return fail(form.first_error(), 422, form.error_details())
    clean = form.clean()

    def do(db):
        row = db.get(Graduate, actor.graduate_id)
        row.phone, row.email = clean["phone"], clean["email"]

    run_step(do)
    return jsonify(phone=clean["phone"], email=clean["email"])


@bp.route("/me")
def me():
    account = g.api_account
    graduate = current_graduate(g.db, account)
    return jsonify(username=account.username, role=account.role, display_name=account.display_name,
                   graduate_id=graduate.id if graduate else None)
