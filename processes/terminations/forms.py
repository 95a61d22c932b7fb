"""Termination forms (TRM-1, OFT-1): the same classes validate the page posts and the API bodies."""
from __future__ import annotations

from flask_wtf.file import MultipleFileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import InputRequired, Length

from domain import dicts
from forms.base import BaseForm, IntListField


def _choices(items):
    return [("", "请选择")] + [(i["code"], i["name"]) for i in items]


class TerminationForm(BaseForm):
    """TRM-1 / OFT-1: a reason from the list and an explanation of at most 200 characters."""

    reason = SelectField("解约原因", validators=[InputRequired("请选择解约原因")])
    explanation = TextAreaField("解约说明", validators=[InputRequired("请填写解约说明"), Length(max=200)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = _choices(dicts.termination_reasons())

    def clean(self) -> dict:
        return {"reason": self.reason.data, "reason_name": dicts.name_of(dicts.termination_reasons(), self.reason.data),
                "explanation": self.explanation.data.strip()}


class TerminationLetterForm(TerminationForm):
    images = MultipleFileField("解约函等材料（图片，最多3张）")
    attachment_ids = IntListField("已上传的图片")
