"""The review decision (REV-1..4)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from forms.base import BaseForm, IntListField


class ReviewForm(BaseForm):
    decision = RadioField(_l("审核结果"), choices=[("approve", _l("通过")), ("return", _l("退回修改")),
                                                   ("reject", _l("不通过"))],
                          validators=[InputRequired(_l("请选择审核结果"))])
    reason = TextAreaField(_l("原因"), validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.decision.data in {"return", "reject"} and not (self.reason.data or "").strip():
            self.reason.errors = list(self.reason.errors) + [_l("退回修改或不通过时必须填写原因")]
            ok = False
        return ok


class BulkApproveForm(BaseForm):
    """The items to approve at once: checkboxes on the inbox, or a JSON array in the API body."""

    item_ids = IntListField("待办事项", validators=[InputRequired("请选择要通过的事项")])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not self.item_ids.data:
            self.item_ids.errors = ["请选择要通过的事项"]
            return False
        if ok and len(self.item_ids.data) > MAX_BULK:
            self.item_ids.errors = [f"一次最多通过 {MAX_BULK} 条"]
            return False
        return ok


MAX_BULK = 100  # the largest inbox page
