"""Employment agreements: employer registration, invitations (ONL-1), offline and paper
agreements (OFF-1, PAP-1), terminations (TRM-1, OFT-1), answers and stamped uploads."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import (
    DateField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, Regexp

from core.i18n import N_
from domain import dicts
from forms.base import BaseForm, IntListField, MoneyField
from forms.validators import CreditCode, IdNumber, Mobile, Phone, Postcode

TRANSFER_TYPES = [N_("签约单位接收"), N_("上级主管单位接收"), N_("托管单位接收"), N_("转回生源地"), N_("升学本校接收"),
                  N_("升学外校接收")]  # ARC-1 (values stored as they are; shown translated)
HUKOU_TYPES = [N_("签约单位接收"), N_("上级主管单位接收"), N_("托管单位接收"), N_("转回生源地")]  # HUK-1
MAX_IMAGES = 3


def _choices(items):
    """A dictionary as choices that start at 请选择: no value is chosen for the user."""
    return [("", _("请选择"))] + [(i["code"], _(i["name"])) for i in items]


class AgreementTermsForm(BaseForm):
    """The agreement fields shared by online invitations and offline/paper agreements (ONL-1)."""

    job_category = SelectField(_l("职位类别"), validators=[InputRequired(_l("请选择职位类别"))])
    position = StringField(_l("岗位名称"), validators=[InputRequired(_l("请填写岗位名称")), Length(max=50)])
    work_place = StringField(_l("实际工作地点"), validators=[InputRequired(_l("请填写实际工作地点")), Length(max=100)])
    trial_months = IntegerField(_l("试用期（月）"), validators=[Optional(), NumberRange(0, 6, _l("试用期为0至6个月"))])
    salary_trial = MoneyField(_l("试用起薪（元/月）"), validators=[Optional(), NumberRange(0, 1_000_000, _l("金额不正确"))])
    salary_regular = MoneyField(_l("转正起薪（元/月）"), validators=[Optional(), NumberRange(0, 1_000_000, _l("金额不正确"))])
    penalty = MoneyField(_l("违约金（元）"), validators=[Optional(), NumberRange(0, 1_000_000, _l("金额不正确"))])
    report_place = StringField(_l("报到地点"), validators=[Optional(), Length(max=100)])
    report_deadline = DateField(_l("报到期限"), validators=[Optional()])
    archive_type = SelectField(_l("档案传递类型"), choices=[("", _l("（不填）"))] + [(t, _l(t)) for t in TRANSFER_TYPES],
                               validators=[Optional()])
    archive_unit = StringField(_l("档案转递单位名称"), validators=[Optional(), Length(max=100)])
    archive_address = StringField(_l("档案转递单位地址"), validators=[Optional(), Length(max=200)])
    archive_contact = StringField(_l("档案转递联系人"), validators=[Optional(), Length(max=50)])  # ARC-2
    archive_phone = StringField(_l("档案转递联系电话"), validators=[Optional(), Phone()])
    archive_postcode = StringField(_l("档案转递单位邮编"), validators=[Optional(), Postcode()])
    hukou_type = SelectField(_l("户口迁移类型"), choices=[("", _l("（不填）"))] + [(t, _l(t)) for t in HUKOU_TYPES],
                             validators=[Optional()])
    hukou_address = StringField(_l("户口迁移地址"), validators=[Optional(), Length(max=200)])
    supplement = TextAreaField(_l("协议补充内容"), validators=[Optional(), Length(max=1000)])

    TERMS = ["job_category", "position", "work_place", "trial_months", "salary_trial", "salary_regular", "penalty",
             "report_place", "report_deadline", "archive_type", "archive_unit", "archive_address", "archive_contact",
             "archive_phone", "archive_postcode", "hukou_type", "hukou_address", "supplement"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.job_category.choices = _choices(dicts.job_categories())

    def terms(self) -> dict:
        out = {}
        for name in self.TERMS:
            value = getattr(self, name).data
            if value is None or value == "":
                continue
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            elif not isinstance(value, (str, int)):
                value = int(value)
            out[name] = value.strip() if isinstance(value, str) else value
        if out.get("job_category"):
            out["job_category_name"] = dicts.name_of(dicts.job_categories(), out["job_category"]) or ""
        return out


class InvitationForm(AgreementTermsForm):
    answer_days = IntegerField(_l("应约有效期（天）"), validators=[InputRequired(_l("请填写应约有效期")),
                                                         NumberRange(1, 30, _l("应约有效期为1至30天"))])


class EmployerFieldsMixin:
    employer_name = StringField(_l("单位名称"), validators=[InputRequired(_l("请填写单位名称")), Length(max=100)])
    credit_code = StringField(_l("统一社会信用代码"), validators=[InputRequired(_l("请填写统一社会信用代码")), CreditCode()])
    nature = SelectField(_l("单位性质"), validators=[InputRequired(_l("请选择单位性质"))])
    industry = SelectField(_l("单位行业"), validators=[InputRequired(_l("请选择单位行业"))])
    employer_address = StringField(_l("通讯地址"), validators=[InputRequired(_l("请填写通讯地址")), Length(max=200)])
    contact = StringField(_l("单位联系人"), validators=[InputRequired(_l("请填写单位联系人")), Length(max=50)])
    landline = StringField(_l("联系人固话"), validators=[Optional(), Regexp(r"^[0-9\-]{7,20}$", message=_l("固定电话号码格式不正确"))])
    mobile = StringField(_l("联系人手机"), validators=[InputRequired(_l("请填写联系人手机")), Mobile()])
    email = StringField(_l("联系人邮箱"), validators=[Optional(), Email(_l("电子邮箱格式不正确")), Length(max=100)])

    EMPLOYER = ["employer_name", "credit_code", "nature", "industry", "employer_address", "contact", "landline", "mobile",
                "email"]

    def employer_choices(self):
        self.nature.choices = _choices(dicts.unit_natures())
        self.industry.choices = _choices(dicts.industries())

    def employer_fields(self) -> dict:
        out = {n: (getattr(self, n).data or "").strip() for n in self.EMPLOYER}
        out["credit_code"] = out["credit_code"].upper()
        out["nature_name"] = dicts.name_of(dicts.unit_natures(), out["nature"]) or ""
        out["industry_name"] = dicts.name_of(dicts.industries(), out["industry"]) or ""
        return out


class OfflineAgreementForm(EmployerFieldsMixin, AgreementTermsForm):
    """OFF-1: the graduate fills the agreement for an employer not on the platform."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.employer_choices()

    def clean(self) -> dict:
        return {**self.terms(), **self.employer_fields()}


class PaperAgreementForm(OfflineAgreementForm):
    """PAP-1: a signed paper agreement with its stamped images."""

    images = MultipleFileField(_l("盖章的就业协议书图片（最多3张）"))
    attachment_ids = IntListField(_l("已上传的图片"))


class EmployerRegistrationForm(EmployerFieldsMixin, BaseForm):
    division_code = StringField(_l("所在地区（行政区划代码）"), validators=[
        InputRequired(_l("请选择所在地区")), Regexp(r"^\d{6}$", message=_l("行政区划代码为6位数字"))])
    username = StringField(_l("登录名"), validators=[
        InputRequired(_l("请填写登录名")), Length(3, 50),
        Regexp(r"^[A-Za-z0-9_]+$", message=_l("登录名只能包含字母、数字和下划线"))])
    password = PasswordField(_l("密码"), validators=[InputRequired(_l("请填写密码")), Length(8, 128, _l("密码至少8位"))])
    # issue 12: the account exists only after the contact enters the code sent here
    verify_by = RadioField(_l("验证码发送到"), choices=[("sms", _l("联系人手机")), ("email", _l("联系人邮箱"))],
                           default="sms", validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.employer_choices()

    def channel(self) -> str:
        return "email" if self.verify_by.data == "email" else "sms"

    def validate_division_code(self, field):
        from wtforms.validators import ValidationError

        if dicts.division_name(field.data) is None:
            raise ValidationError(_("行政区划代码不存在"))


class VerifyCodeForm(BaseForm):
    """issue 12: the 6-digit code sent to the contact at registration."""

    code = StringField(_l("验证码"), validators=[InputRequired(_l("请填写验证码")),
                                              Regexp(r"^\d{6}$", message=_l("验证码为6位数字"))])


class DisputeForm(BaseForm):
    reason = TextAreaField(_l("争议说明"), validators=[InputRequired(_l("请填写争议说明")), Length(max=500)])


class DisputeDecisionForm(BaseForm):
    note = StringField(_l("审核说明"), validators=[Optional(), Length(max=200)])


class FindGraduateForm(BaseForm):
    """ONL-1: find one graduate by name and 身份证号 or 考生号 — never a browsable list."""

    name = StringField(_l("毕业生姓名"), validators=[InputRequired(_l("请填写毕业生姓名")), Length(max=50)])
    id_number = StringField(_l("身份证号"), validators=[Optional(), IdNumber()])
    exam_no = StringField(_l("考生号"), validators=[Optional(), Regexp(r"^\d{14}$", message=_l("考生号为14位数字"))])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not (self.id_number.data or self.exam_no.data):
            self.id_number.errors = list(self.id_number.errors) + [_("请填写身份证号或考生号")]
            return False
        return ok


class AnswerForm(BaseForm):
    answer = RadioField(_l("回应"), choices=[("accept", _l("接受")), ("refuse", _l("拒绝"))], validators=[InputRequired(_l("请选择接受或拒绝"))])


class StampedUploadForm(BaseForm):
    images = MultipleFileField(_l("盖章的就业协议书图片（最多3张）"))
    attachment_ids = IntListField(_l("已上传的图片"))
