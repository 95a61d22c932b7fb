"""Termination forms (TRM-1, OFT-1): the same classes validate the page posts and the API bodies."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from domain import dicts
from forms.base import BaseForm, IntListField


def _choices(items):
    return [("", _("请选择"))] + [(i["code"], _(i["name"])) for i in items]


class TerminationForm(BaseForm):
    """TRM-1 / OFT-1: a reason from the list (no default) and an optional explanation of at most 200 characters."""

    reason = SelectField(_l("解约原因"), validators=[InputRequired(_l("请选择解约原因"))])
    explanation = TextAreaField(_l("解约说明"), validators=[Optional(), Length(max=200)])  # 选填 in the guides

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = _choices(dicts.termination_reasons())

    def clean(self) -> dict:
        return {"reason": self.reason.data, "reason_name": dicts.name_of(dicts.termination_reasons(), self.reason.data),
                "explanation": (self.explanation.data or "").strip()}


class TerminationLetterForm(TerminationForm):
    images = MultipleFileField(_l("解约函等材料（图片，最多3张）"))
    attachment_ids = IntListField(_l("已上传的图片"))
