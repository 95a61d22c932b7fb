"""The admin's instance actions: a button with CSRF and the reason the audit keeps."""
from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from forms.base import ActionForm


class AdminActionForm(ActionForm):
    reason = TextAreaField("原因", validators=[DataRequired(message="请填写原因"), Length(max=500)])
