"""The reviewer inbox's own small forms (CSRF on pages)."""
from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from forms.base import ActionForm, BaseForm


class SaveFilterForm(BaseForm):
    name = StringField("筛选名称", validators=[InputRequired("请填写筛选名称"), Length(max=50)])
    query = HiddenField("筛选条件", validators=[Length(max=1000)])


class DeleteFilterForm(ActionForm):
    pass
