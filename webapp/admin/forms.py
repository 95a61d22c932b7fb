"""The admin's instance actions: a button with CSRF and the reason the audit keeps."""
from __future__ import annotations

from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from forms.base import ActionForm


class AdminActionForm(ActionForm):
    reason = TextAreaField("原因", validators=[DataRequired(message="请填写原因"), Length(max=500)])


class ReassignForm(AdminActionForm):
    username = StringField("改派给（用户名）", validators=[DataRequired(message="请填写目标账号的用户名"), Length(max=50)])


class MigrateForm(AdminActionForm):
    target = IntegerField("目标版本", validators=[DataRequired(message="请选择目标版本")])
    dry_run = BooleanField("试运行（只列出结果，不做任何改动）")
