"""Forms of 核验授权: one class validates the page post and the API body (VER-2), and the public look-up."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from forms.base import BaseForm

from .services import KINDS, MAX_CODE_INPUT


class DayField(DateField):
    """A date as YYYY-MM-DD, refused in Chinese when it is not one."""

    def process_formdata(self, valuelist):
        raw = " ".join(valuelist).strip() if valuelist else ""
        self.data = None
        if not raw:
            return
        try:
            self.data = datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(_("日期格式不正确，请按 YYYY-MM-DD 填写")) from None
        if not date(2000, 1, 1) <= self.data <= date(2999, 12, 31):
            self.data = None
            raise ValueError(_("日期不在有效范围内"))


class ReportForm(BaseForm):
    """VER-2: the graduate sets the validity date of one kind's report."""

    kind = SelectField(_l("核验类型"), choices=[(k, _l(v)) for k, v in KINDS.items()], validate_choice=False,
                       validators=[InputRequired(_l("请选择核验类型")),
                                   AnyOf(list(KINDS), message=_l("核验类型只能是档案信息核验或户口信息核验"))])
    valid_until = DayField(_l("有效期至"), validators=[InputRequired(_l("请设置有效期（YYYY-MM-DD）"))])


class CheckForm(BaseForm):
    """The public look-up (VER-4): the graduate's name and a 核验编号 or 转递编号. Read from the query string."""

    class Meta:
        csrf = False

    name = StringField(_l("学生姓名"), validators=[InputRequired(_l("请输入学生姓名")), Length(max=50)])
    code = StringField(_l("核验/转递编号"), validators=[InputRequired(_l("请输入核验编号或转递编号")),
                                                 Length(max=MAX_CODE_INPUT)])
