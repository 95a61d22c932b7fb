"""Hukou information (HUK-1): the record's fields, and the graduate's form with its proof images.

One class validates the page post, the API body and the reviewer's edit (REV-5)."""
from __future__ import annotations

from typing import Any

from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp

from domain.transfers import HUKOU_KIND, MAX_IMAGES, MAX_NOTE, TRANSFER_TYPES
from forms.base import BaseForm, IntListField

LABEL = HUKOU_KIND.label
TOO_LONG = "最多%(max)d字（当前%(length)d字）"
TEXT_FIELDS = ("hukou_type", "division_code", "hukou_address", "note")


class HukouFieldsForm(BaseForm):
    """户口迁移信息: what the graduate registers, a reviewer may edit and the school registers directly."""

    hukou_type = SelectField(LABEL("hukou_type"), choices=[("", "点击选择")] + [(t, t) for t in TRANSFER_TYPES],
                             validators=[InputRequired("请选择户口迁移类型")], validate_choice=False)
    division_code = StringField("户口迁移地址", validators=[
        InputRequired("请选择省/市/区"), Regexp(r"^\d{6}$", message="请选择省/市/区（6位行政区划代码）")])
    hukou_address = StringField(LABEL("hukou_address"), validators=[InputRequired("请填写户口迁移详细地址"),
                                                                   Length(max=200, message=TOO_LONG)])
    note = TextAreaField("情况说明", validators=[Optional(), Length(max=MAX_NOTE, message=TOO_LONG)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.hukou_type.data and self.hukou_type.data not in TRANSFER_TYPES:
            self.hukou_type.errors = list(self.hukou_type.errors) + ["请选择户口迁移类型"]
            ok = False
        return ok

    def clean(self) -> dict[str, Any]:
        return {name: (getattr(self, name).data or "").strip() for name in TEXT_FIELDS}

    def fill_from(self, data: dict[str, Any]) -> None:
        """A submitted application or a valid record (also one an agreement wrote, ONL-7)."""
        for name in TEXT_FIELDS:
            if data.get(name) not in (None, ""):
                getattr(self, name).data = str(data[name])


class HukouForm(HukouFieldsForm):
    """The graduate's registration or change: the fields plus up to three proof images (ARC-4 as HUK-1, IMG-1)."""

    images = MultipleFileField("图像材料（最多上传三张图片）")
    attachment_ids = IntListField("已上传的图片")

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if len(self.attachment_ids.data or []) > MAX_IMAGES:
            self.attachment_ids.errors = list(self.attachment_ids.errors) + [f"最多上传{MAX_IMAGES}张图片"]
            ok = False
        return ok

    def clean(self) -> dict[str, Any]:
        return {**super().clean(), "attachment_ids": list(self.attachment_ids.data or [])}

    def fill_from(self, data: dict[str, Any]) -> None:
        super().fill_from(data)
        self.attachment_ids.data = list(data.get("attachment_ids") or [])
