"""GRAD-4 切换届别: a graduate with records in several cohorts views an earlier one, read-only.

The chosen record is kept in the login session (validated on every use: the same person, not deleted). The
graduate keeps acting as the current record (domain.accounts.current_graduate); an earlier record is shown
here only. Any write — a page POST or an API call — while an earlier cohort is chosen, or aimed at an earlier
record's instance, work item or agreement, is refused with a clear message (409).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.errors import Conflict, Forbidden
from domain.accounts import current_graduate
from domain.cohorts import earlier_record_of, earlier_than_current, graduate_records, person_record
from domain.models import Account, Agreement, Graduate, Message
from engine.models import ProcessInstance, WorkItem
from forms.base import ActionForm
from webapp.api.base import bearer_token
from webapp.records import record_context
from webapp.session import log_refusal, request_graduate, role_required

bp = Blueprint("cohorts", __name__, template_folder="templates")
graduate_only = role_required("graduate")
CHOSEN = "chosen_graduate_record"  # the login session's chosen cohort record (GRAD-4)
SAFE = {"GET", "HEAD", "OPTIONS"}
ALLOWED_WHILE_VIEWING = {"cohorts.choose", "auth.logout", "auth.login"}


def read_only_message(record: Graduate, current: Graduate | None) -> str:
    now = _("（%(cohort)s届）", cohort=current.cohort) if current is not None else ""
    return (_("%(cohort)s届为往届记录，只能查看，不能发起、提交、撤回或修改。请先切换到当前届别%(now)s再办理。", cohort=record.cohort, now=now))


def _account() -> Account | None:
    """The request's account: the login session, or a valid Bearer token."""
    if current_user.is_authenticated:
        return g.db.get(Account, current_user.id)
    row = bearer_token()  # looked up once per request, shared with the API's authentication (issue 11)
    return g.db.get(Account, row.account_id) if row is not None else None


def chosen_record(account: Account) -> Graduate | None:
    """The earlier record the session has chosen, if it is still one of this person's earlier records."""
    chosen = session.get(CHOSEN)
    if not isinstance(chosen, int):
        return None
    return earlier_record_of(g.db, account.id_number, chosen)


def _target_graduate_id() -> int | None:
    """The graduate record a write is aimed at, from its URL (instance, work item, agreement)."""
    args = request.view_args or {}
    # By primary key: the write reads the same instance or work item next, and finds it loaded (issue 11).
    if "instance_id" in args:
        # with its open items, in one statement: a write to an instance (an answer, a withdrawal) looks for its
        # open item next
        instance = g.runtime.runner.instance_with_open_items(g.db, args["instance_id"])
        return instance.graduate_id if instance is not None else None
    if "item_id" in args:
        item = g.db.get(WorkItem, args["item_id"])
        return item.graduate_id if item is not None else None
    if "agreement_id" in args:
        return g.db.scalar(select(Agreement.graduate_id).where(Agreement.id == args["agreement_id"]))
    return None


@bp.before_app_request
def _refuse_writes_on_earlier_cohorts():
    """GRAD-4: earlier cohorts are read-only, on the pages and through the API."""
    if request.method in SAFE or request.endpoint in ALLOWED_WHILE_VIEWING or request.endpoint is None:
        return None
    if getattr(g, "db", None) is None:
        return None
    account = _account()
    if account is None or account.role != "graduate":
        return None
    current = request_graduate(account)  # the actor of this request is built from it too
    record = chosen_record(account) if current_user.is_authenticated else None
    if record is None:
        record = earlier_than_current(g.db, account.id_number, _target_graduate_id(), current)
    if record is None:
        return None
    message = read_only_message(record, current)
    log_refusal(f"write on earlier cohort record {record.id}")
    if request.path.startswith("/api/"):
        return jsonify(error={"message": message, "details": {"cohort": record.cohort}}), Conflict.status
    return render_template("error.html", message=message), Conflict.status


def _records_nav():
    """For the header: the person's records when there is more than one, and the one in view."""
    if not current_user.is_authenticated or current_user.role != "graduate" or getattr(g, "db", None) is None:
        return None
    account = g.db.get(Account, current_user.id)
    if account is None:
        return None
    records = graduate_records(g.db, account.id_number or "")
    if len(records) < 2:
        return None
    chosen = chosen_record(account)
    return {"records": records, "viewing": chosen or records[0], "earlier": chosen is not None}


@bp.app_context_processor
def _inject():
    return {"cohort_switch": _records_nav}


@bp.route("/graduate/cohorts")
@graduate_only
def index():
    account = g.db.get(Account, current_user.id)
    records = graduate_records(g.db, account.id_number or "")
    chosen = chosen_record(account)
    return render_template("roster/cohorts.html", records=records, current=records[0] if records else None,
                           viewing=chosen or (records[0] if records else None), form=ActionForm())


@bp.route("/graduate/cohorts", methods=["POST"])
@graduate_only
def choose():
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    account = g.db.get(Account, current_user.id)
    raw = request.form.get("graduate_id", "")
    record = person_record(g.db, account.id_number, int(raw)) if raw.isdigit() and len(raw) < 10 else None
    if record is None:
        log_refusal(f"cohort switch to record {raw[:20]} not this person's")
        raise Forbidden("记录不存在或无权访问")
    current = current_graduate(g.db, account)
    if current is not None and record.id == current.id:
        session.pop(CHOSEN, None)
        flash(_("已切换到当前届别（%(cohort)s届）", cohort=record.cohort))
        return redirect(url_for("graduate.modules"))
    session[CHOSEN] = record.id
    flash(_("正在查看%(cohort)s届的记录（只读）", cohort=record.cohort))
    return redirect(url_for("cohorts.view"))


@bp.route("/graduate/cohorts/view")
@graduate_only
def view():
    """The chosen earlier record: its basic info, 登记记录 and the messages of those records, read-only."""
    account = g.db.get(Account, current_user.id)
    record = chosen_record(account)
    if record is None:
        session.pop(CHOSEN, None)
        return redirect(url_for("graduate.modules"))
    instances = list(g.db.scalars(select(ProcessInstance).where(ProcessInstance.graduate_id == record.id)
                                  .order_by(ProcessInstance.id.desc())))
    ids = [i.id for i in instances]
    messages = list(g.db.scalars(select(Message).where(Message.account_id == account.id,
                                                       Message.instance_id.in_(ids))
                                 .order_by(Message.id.desc()).limit(200))) if ids else []
    return render_template("roster/cohort_view.html", record=record, records=instances, messages=messages,
                           current=current_graduate(g.db, account), form=ActionForm())


@bp.route("/graduate/cohorts/records/<int:instance_id>")
@graduate_only
def record(instance_id: int):
    """One record of an earlier cohort, without any action."""
    account = g.db.get(Account, current_user.id)
    instance = g.db.get(ProcessInstance, instance_id)
    owner = person_record(g.db, account.id_number, instance.graduate_id) \
        if instance is not None and instance.graduate_id is not None else None
    if owner is None:
        log_refusal(f"cohort record instance {instance_id} out of scope")
        raise Forbidden("记录不存在或无权访问")
    current = current_graduate(g.db, account)
    if current is not None and owner.id == current.id:
        return redirect(url_for("graduate.record", instance_id=instance_id))
    ctx = record_context(g.db, instance)
    return render_template("roster/cohort_record.html", **ctx, owner=owner, current=current,
                           message=read_only_message(owner, current))
