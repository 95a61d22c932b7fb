"""Archive (档案) and hukou (户口) information: the rules processes/archive and processes/hukou share.

Each of the two modules registers and changes one kind of `RegisteredInfo` (domain.graduate_info)
through the shared review, approve or reject only. What does not depend on the web lives here, once:
the transfer types (ARC-1), the fields of each kind (ARC-2, HUK-1), the checks of an application
(ARC-3 province lock, ARC-4 proof, IMG-1 count), who may use the module (MOD-4, MOD-5, GRAD-5), the
one open application per kind (a unique key), what the steps write (ARC-5/6), the school's direct
registration (ARC-7) and the deletion of a graduate's basic information (GRAD-5).

The two process packages import this and nothing of each other. Every function runs inside the
caller's transaction and leaves the commit to the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Conflict, Forbidden, ValidationFailed
from core.i18n import N_
from domain import dicts
from domain.access import POLICY, SCHOOL
from domain.attachments import check_attachments
from domain.effective import unique_write
from domain.graduate_info import current_info, invalidate_info, register_info
from domain.models import Graduate, Message, RegisteredInfo, TransferApplication
from domain.notify import graduate_account
from domain.schools import module_closed_reason
from engine.models import OutboxMessage, ProcessInstance
from engine.runner import Runner, props
from engine.services import Actor, StepContext

ARCHIVE = "archive"
HUKOU = "hukou"
REGISTRATION = "registration"
CHANGE = "change"
BACK_TO_ORIGIN = N_("转回生源地")
# ARC-1 (seed 004); HUK-1 names the first four and, by design, takes the 升学 types as the archive does.
TRANSFER_TYPES = (N_("签约单位接收"), N_("上级主管单位接收"), N_("托管单位接收"), N_("转回生源地"), N_("升学本校接收"), N_("升学外校接收"))
# ARC-4 (seed 004, 审核依据): the proof each type but 转回生源地 is reviewed on.
PROOFS = {
    "签约单位接收": N_("就业（升学）单位调档函、录用材料、就业协议等"),
    "上级主管单位接收": N_("用人单位（或其上级部门）的录用材料、接收函、调档函"),
    "托管单位接收": N_("公共就业人才服务机构的调档函、接收函"),
    "升学本校接收": N_("录取通知书、调档函"),
    "升学外校接收": N_("录取通知书、调档函"),
}
MAX_NOTE = 200  # 情况说明 (200字以内)
MAX_IMAGES = 3  # IMG-1 图像材料（最多上传三张图片）
SOURCE_NAMES = {"registration": N_("毕业生登记"), "agreement": N_("签约协议"), "school": N_("学校登记")}
# GRAD-5: the BPMN message that ends an open application, and the reason the graduate reads.
DELETED_MESSAGE = "basic_info_deleted"
DELETED_REASON = N_("学校已删除毕业生基本信息")
UNCONFIRMED = N_("请先核对基本信息并点击“信息确认无误，进入系统”")


@dataclass(frozen=True)
class Kind:
    """One kind of transfer information and the words its module uses."""

    code: str  # archive | hukou: RegisteredInfo.kind and the module name (MOD-2 / MOD-4)
    title: str  # 档案信息 / 户口信息
    type_field: str  # the field holding the transfer type
    type_label: str
    fields: tuple[str, ...]  # the record, in form order (division_name is derived from division_code)
    labels: tuple[tuple[str, str], ...]
    hukou_only: bool  # MOD-5: only for graduates whose 户口是否转入学校 is 是
    cross_province: str  # what to do instead of moving the province of a 转回生源地 record

    @property
    def registration_title(self) -> str:
        return f"{self.title}登记"

    @property
    def change_title(self) -> str:
        return f"{self.title}修改"

    def title_of(self, action: str) -> str:
        return self.change_title if action == CHANGE else self.registration_title

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, name)

    def open_key(self, graduate_id: int) -> str:
        return f"{self.code}:{graduate_id}"


ARCHIVE_KIND = Kind(
    code=ARCHIVE, title=N_("档案信息"), type_field="archive_type", type_label=N_("档案转递类型"),
    fields=("archive_type", "archive_unit", "division_code", "division_name", "archive_address", "archive_postcode",
            "archive_contact", "archive_phone", "note"),
    # the field names of an approved agreement's archive details (ONL-7) where they mean the same
    labels=(("archive_type", N_("档案转递类型")), ("archive_unit", N_("档案转递单位名称")),
            ("division_code", N_("档案转递单位地址（行政区划代码）")), ("division_name", N_("档案转递单位所在地")),
            ("archive_address", N_("档案转递单位详细地址")), ("archive_postcode", N_("档案转递单位邮编")),
            ("archive_contact", N_("档案转递联系人/联系部门")), ("archive_phone", N_("档案转递联系电话")),
            ("note", N_("情况说明"))),
    hukou_only=False, cross_province=N_("如需跨省转递档案，请选择其他档案转递类型"),
)
HUKOU_KIND = Kind(
    code=HUKOU, title=N_("户口信息"), type_field="hukou_type", type_label=N_("户口迁移类型"),
    fields=("hukou_type", "division_code", "division_name", "hukou_address", "note"),
    labels=(("hukou_type", N_("户口迁移类型")), ("division_code", N_("户口迁移地址（行政区划代码）")),
            ("division_name", N_("户口迁移所在地")), ("hukou_address", N_("户口迁移详细地址")), ("note", N_("情况说明"))),
    hukou_only=True, cross_province=N_("如需跨省迁移户口，请选择其他户口迁移类型"),
)
KINDS = {ARCHIVE: ARCHIVE_KIND, HUKOU: HUKOU_KIND}


# -- who may use the module -----------------------------------------------------------------------
def closed_reason(graduate: Graduate, kind: Kind) -> str | None:
    """Why this graduate cannot use the module now, or None (GRAD-5, MOD-5, MOD-2/MOD-4)."""
    if graduate.deleted_at is not None:
        return _("学校已删除你的毕业生基本信息，不能再使用“%(registration_title)s”模块。", registration_title=_(kind.registration_title))
    if kind.hukou_only and not graduate.hukou_in_school:
        return _("你的户口未转入学校（户口是否转入学校：否），不能使用户口信息登记功能。")
    return module_closed_reason(graduate, kind.code)


def origin_path(graduate: Graduate) -> list[dict]:
    """The graduate's 生源所在地, province first; [] when the school uploaded none we know (ARC-3)."""
    return dicts.division_path(graduate.origin_code) if graduate.origin_code else []


# -- an application -------------------------------------------------------------------------------
def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={field: [message]})


def _division(kind: Kind, graduate: Graduate, transfer_type: str, code: str) -> str:
    path = dicts.division_path(code) if code else []
    if not path:
        raise _fail("division_code", _("请选择%(label)s（省/市/区）", label=_(kind.label("division_name"))))
    if dicts.children(code):
        raise _fail("division_code", _("%(label)s请选择到区（县）一级", label=_(kind.label("division_name"))))
    home = origin_path(graduate)
    if transfer_type == BACK_TO_ORIGIN and home and path[0]["code"] != home[0]["code"]:
        # ARC-3: the details follow the 生源所在地; the province cannot change
        raise _fail("division_code", _("%(type_label)s为“转回生源地”时不能修改省级地址（生源所在地：%(home)s）。%(cross_province)s；生源地有误请联系学校就业部门更正。", type_label=_(kind.type_label), home=home[0]['name'], cross_province=kind.cross_province))
    return "".join(p["name"] for p in path)


def build_application(kind: Kind, graduate: Graduate, clean: dict[str, Any], *,
                      require_proof: bool = True) -> dict[str, Any]:
    """The application kept in the process: the record's fields and the proof images' ids.

    `clean` comes from the module's form (required fields, lengths, postcode and phone checked there);
    this adds the rules across fields. The school's direct registration and a reviewer's edit need no
    proof of their own (ARC-4 is what the graduate submits for review)."""
    transfer_type = (clean.get(kind.type_field) or "").strip()
    if transfer_type not in TRANSFER_TYPES:
        raise _fail(kind.type_field, _("请选择%(type_label)s", type_label=_(kind.type_label)))
    code = (clean.get("division_code") or "").strip()
    fields = {name: (clean.get(name) or "").strip() for name in kind.fields}
    fields.update({kind.type_field: transfer_type, "division_code": code,
                   "division_name": _division(kind, graduate, transfer_type, code)})
    if len(fields.get("note", "")) > MAX_NOTE:
        raise _fail("note", _("情况说明最多%(MAX_NOTE)s字", MAX_NOTE=MAX_NOTE))
    attachment_ids = [i for i in (clean.get("attachment_ids") or []) if isinstance(i, int)]
    if len(attachment_ids) > MAX_IMAGES:
        raise _fail("images", _("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES))
    if require_proof and transfer_type != BACK_TO_ORIGIN and not attachment_ids:
        raise _fail("images", _("“%(transfer_type)s”需要上传证明材料图片（%(PROOFS)s）", transfer_type=_(transfer_type), PROOFS=_(PROOFS[transfer_type])))  # ARC-4
    return {**fields, "attachment_ids": attachment_ids}


def record_fields(kind: Kind, application: dict[str, Any]) -> dict[str, Any]:
    """What the valid record keeps of an application: its fields, not the proof images."""
    return {name: application.get(name, "") for name in kind.fields}


def prefill(kind: Kind, graduate: Graduate, transfer_type: str) -> dict[str, Any]:
    """ARC-3: 转回生源地 starts from the 生源所在地; nothing when the school uploaded none."""
    if transfer_type != BACK_TO_ORIGIN or not origin_path(graduate):
        return {}
    return {kind.type_field: BACK_TO_ORIGIN, "division_code": graduate.origin_code}


# -- the graduate's applications ------------------------------------------------------------------
def open_application(session: Session, graduate_id: int, kind: Kind) -> TransferApplication | None:
    return session.scalar(select(TransferApplication).where(TransferApplication.open_key == kind.open_key(graduate_id)))


def application_of(session: Session, instance_id: int) -> TransferApplication | None:
    return session.scalar(select(TransferApplication).where(TransferApplication.instance_id == instance_id))


def offered_action(session: Session, graduate: Graduate, kind: Kind) -> str | None:
    """What the 信息栏 offers: registration without valid info, a change with it (ARC-6, ARC-7),
    nothing while an application is open or the module is closed."""
    if closed_reason(graduate, kind) or open_application(session, graduate.id, kind) is not None:
        return None
    return CHANGE if current_info(session, graduate.id, kind.code) is not None else REGISTRATION


def check_start(session: Session, actor: Actor, graduate: Graduate, kind: Kind, action: str) -> None:
    if actor.graduate_id != graduate.id:
        raise Forbidden(_("无权为其他毕业生办理%(registration_title)s", registration_title=_(kind.registration_title)))
    reason = closed_reason(graduate, kind)
    if reason:
        raise Conflict(reason)
    if graduate.confirmed_at is None:
        raise Conflict(UNCONFIRMED)
    opened = open_application(session, graduate.id, kind)
    if opened is not None:
        raise Conflict(_("你已有一条%(title)s申请正在办理中，办理完成前不能再次申请，请在申请记录中查看", title=_(kind.title)))
    registered = current_info(session, graduate.id, kind.code) is not None
    if action == REGISTRATION and registered:
        raise Conflict(_("你的%(title)s已登记，无需再次登记；如有误请点击“%(change_title)s”申请修改", title=_(kind.title), change_title=_(kind.change_title)))
    if action == CHANGE and not registered:
        raise Conflict(_("你还没有已登记的%(title)s，请先进行%(registration_title)s", title=_(kind.title), registration_title=_(kind.registration_title)))


def start(session: Session, runner: Runner, actor: Actor, graduate: Graduate, kind: Kind, action: str, *,
          process_id: str, form_key: str, clean: dict[str, Any]) -> ProcessInstance:
    """ARC-5 / ARC-6 / HUK-1: choose the type, fill the details, upload proof, submit — one step."""
    check_start(session, actor, graduate, kind, action)
    application = build_application(kind, graduate, clean)
    check_attachments(session, graduate.id, application["attachment_ids"])
    instance = runner.start(
        session, process_id, actor,
        scope={"graduate_id": graduate.id, "school_id": graduate.school_id, "department_id": graduate.department_id,
               "cohort": graduate.cohort},
        data={"review_levels": graduate.school.review_levels, "graduate_id": graduate.id, "kind": kind.code,
              "action": action},
        title=kind.title_of(action), category=application[kind.type_field],
        subject_name=graduate.name, subject_no=graduate.student_no,
        submit=(form_key, {"application": application}),
    )
    return instance


def resubmit(session: Session, runner: Runner, actor: Actor, graduate: Graduate, kind: Kind, *, form_key: str,
             work_item_id: int, clean: dict[str, Any]) -> ProcessInstance:
    """REV-6: after withdrawing before review, edit and submit again."""
    item = runner.open_work_item(session, work_item_id, actor)
    if item.form_key != form_key:
        raise Conflict(_("该事项不是%(title)s填写", title=_(kind.title)))
    reason = closed_reason(graduate, kind)
    if reason:
        raise Conflict(reason)
    application = build_application(kind, graduate, clean)
    check_attachments(session, graduate.id, application["attachment_ids"])
    return runner.complete(session, item.id, actor, {"application": application}, audit_action="submit")


# -- what the steps write (called by each module's handlers) --------------------------------------
def _row(ctx: StepContext) -> TransferApplication:
    row = application_of(ctx.session, ctx.instance.id)
    if row is None:
        raise LookupError(f"instance {ctx.instance.id} has no transfer application")
    return row


def _mirror(kind: Kind, row: TransferApplication, instance: ProcessInstance, application: dict[str, Any]) -> None:
    row.fields = record_fields(kind, application)
    row.attachment_ids = list(application.get("attachment_ids") or [])
    instance.category = str(application.get(kind.type_field) or "")


def submitted(ctx: StepContext, data: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """The application under review; the first submission takes the graduate's one open key."""
    row = application_of(ctx.session, ctx.instance.id)
    graduate_id = ctx.instance.graduate_id
    assert graduate_id is not None, "an archive/hukou instance belongs to a graduate"
    if row is None:
        row = TransferApplication(graduate_id=graduate_id, instance_id=ctx.instance.id, kind=kind.code,
                                  action=data.get("action") or REGISTRATION)
        ctx.session.add(row)
        new_row = row

        def take_key() -> None:
            new_row.open_key = kind.open_key(graduate_id)

        unique_write(ctx.session, take_key, _("你已有一条%(title)s申请正在办理中，办理完成前不能再次申请", title=_(kind.title)))
    _mirror(kind, row, ctx.instance, data.get("application") or {})
    row.status = "pending"
    ctx.session.flush()
    return {"application_id": row.id}


def approved(ctx: StepContext, data: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """ARC-5 / ARC-6: the (possibly reviewer-edited) application becomes the valid record."""
    row = _row(ctx)
    _mirror(kind, row, ctx.instance, data.get("application") or {})
    row.status, row.open_key, row.decided_at = "approved", None, utcnow()
    info = register_info(ctx.session, row.graduate_id, kind.code, row.fields, "registration", row.id)
    return {"registered_info_id": info.id}


def rejected(ctx: StepContext, data: dict[str, Any], kind: Kind) -> None:
    """ARC-5 / ARC-6: a rejection changes no record; a rejected change leaves the old one valid."""
    row = _row(ctx)
    row.status, row.open_key, row.decided_at = "rejected", None, utcnow()
    row.reason = (data.get("reason") or "")[:200] or None


def ended_by_deletion(ctx: StepContext, data: dict[str, Any], kind: Kind) -> None:
    """GRAD-5: the open application ends as 审核不通过, with the reason; the graduate is told in-app."""
    rejected(ctx, {**data, "reason": data.get("reason") or DELETED_REASON}, kind)
    account = graduate_account(ctx.session, ctx.instance.graduate_id)
    if account is not None:
        ctx.session.add(Message(account_id=account.id, title=f"{ctx.instance.title}：审核不通过",
                                body=f"原因：{DELETED_REASON}", instance_id=ctx.instance.id))


def mirror_reviewer_edit(ctx: StepContext, task_spec: Any, data: dict[str, Any], kind: Kind,
                         process_ids: tuple[str, ...]) -> None:
    """REV-5: a reviewer's edit shows on the application at once, before the last approval."""
    if ctx.instance.process_id not in process_ids or props(task_spec).get("formKey") != "review":
        return
    row = application_of(ctx.session, ctx.instance.id)
    if row is not None and data.get("application"):
        _mirror(kind, row, ctx.instance, data["application"])


# -- the school (ARC-7, GRAD-5) -------------------------------------------------------------------
def school_graduate(session: Session, actor: Actor, graduate_id: int) -> Graduate:
    """One graduate of the acting school; anything else looks exactly like a missing one (ROLE-1)."""
    graduate = session.get(Graduate, graduate_id)
    if graduate is None or graduate.deleted_at is not None or actor.role != SCHOOL \
            or not POLICY.may_see_graduate(actor, graduate):
        raise Forbidden("毕业生不存在或无权访问")
    return graduate


def school_graduates(session: Session, actor: Actor, *, q: str = "", only_hukou: bool = False,
                     limit: int = 50, offset: int = 0) -> list[Graduate]:
    """The acting school's graduates whose basic info is in place, by 学号; q matches 姓名 or 学号."""
    if actor.role != SCHOOL or actor.school_id is None:
        return []
    query = select(Graduate).where(Graduate.school_id == actor.school_id, Graduate.deleted_at.is_(None))
    if only_hukou:
        query = query.where(Graduate.hukou_in_school.is_(True))
    if q:
        query = query.where((Graduate.name == q) | (Graduate.student_no == q))
    return list(session.scalars(query.order_by(Graduate.student_no, Graduate.id).offset(offset).limit(limit)))


def tell_graduate(session: Session, graduate: Graduate, title: str, body: str) -> None:
    """NOTE-1 / NOTE-3 outside any process: the message centre and an SMS (seed 000 §6: 当档案/户口信息
    被修改时，毕业生会收到短信消息提醒)."""
    account = graduate_account(session, graduate.id)
    if account is None:
        return
    session.add(Message(account_id=account.id, title=title, body=body))
    if graduate.phone:
        session.add(OutboxMessage(kind="notify.sms", payload={"to": graduate.phone, "title": title, "body": body,
                                                             "account_id": account.id}))


def register_by_school(session: Session, actor: Actor, graduate_id: int, kind: Kind,
                       clean: dict[str, Any]) -> RegisteredInfo:
    """ARC-7: the school registers (or corrects) the info directly; no review, the graduate need not register."""
    graduate = school_graduate(session, actor, graduate_id)
    if kind.code not in (graduate.school.province.enabled_modules or []):
        raise Conflict(module_closed_reason(graduate, kind.code) or _("该模块尚未开通"))
    if kind.hukou_only and not graduate.hukou_in_school:
        raise Conflict("该毕业生户口未转入学校（户口是否转入学校：否），不能登记户口信息")  # MOD-5
    fields = record_fields(kind, build_application(kind, graduate, clean, require_proof=False))
    had = current_info(session, graduate.id, kind.code) is not None
    info = register_info(session, graduate.id, kind.code, fields, "school", None)
    verb = "修改" if had else "登记"
    tell_graduate(session, graduate, f"学校已{verb}你的{kind.title}",
                  f"{kind.type_label}：{fields[kind.type_field]}；所在地：{fields['division_name']}。请登录查看详情。")
    return info


def delete_basic_info(session: Session, runner: Runner, actor: Actor, graduate_id: int) -> dict[str, Any]:
    """GRAD-5: the school deletes a graduate's basic info. Nothing is physically deleted: the row is marked,
    the archive and hukou records become invalid, and every open archive/hukou application receives the BPMN
    message `basic_info_deleted`, which ends it as 审核不通过（学校审核不通过） with the reason
    学校已删除毕业生基本信息 (a boundary event on the review call and on the withdrawn form)."""
    graduate = school_graduate(session, actor, graduate_id)
    graduate.deleted_at = utcnow()
    invalidated = invalidate_info(session, graduate.id)
    rows = list(session.scalars(select(TransferApplication).where(TransferApplication.graduate_id == graduate.id,
                                                                  TransferApplication.open_key.is_not(None))
                                .order_by(TransferApplication.id)))
    ended = []
    for row in rows:
        instance = session.get(ProcessInstance, row.instance_id)
        if instance is not None and instance.status == "running":
            runner.send_message(session, instance, DELETED_MESSAGE, actor)
            ended.append(instance.id)
    session.flush()
    return {"graduate_id": graduate.id, "deleted_at": graduate.deleted_at, "invalidated": invalidated,
            "ended_instances": ended}
