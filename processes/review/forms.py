"""The review decision (REV-1..4)."""
from __future__ import annotations

from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from forms.base import BaseForm


class ReviewForm(BaseForm):
    decision = RadioField("审核结果", choices=[("approve", "通过"), ("return", "退回修改"), ("reject", "不通过")],
                          validators=[InputRequired("请选择审核结果")])
    reason = TextAreaField("原因", validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.decision.data in {"return", "reject"} and not (self.reason.data or "").strip():
            self.reason.errors = list(self.reason.errors) + ["退回修改或不通过时必须填写原因"]
            ok = False
        return ok
