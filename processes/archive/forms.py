"""Archive information (ARC-2): the record's fields, and the graduate's form with its proof images.

One class validates the page post, the API body and the reviewer's edit (REV-5)."""
from __future__ import annotations

from typing import Any

from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp

from domain.transfers import ARCHIVE_KIND, MAX_IMAGES, MAX_NOTE, TRANSFER_TYPES
from forms.base import BaseForm, IntListField
from forms.validators import Phone, Postcode

LABEL = ARCHIVE_KIND.label
TOO_LONG = "最多%(max)d字（当前%(length)d字）"
TEXT_FIELDS = ("archive_type", "archive_unit", "division_code", "archive_address", "archive_postcode",
               "archive_contact", "archive_phone", "note")


class ArchiveFieldsForm(BaseForm):
    """档案转递信息: what the graduate registers, a reviewer may edit and the school registers directly."""

    archive_type = SelectField(LABEL("archive_type"), choices=[("", "点击选择")] + [(t, t) for t in TRANSFER_TYPES],
                               validators=[InputRequired("请选择档案转递类型")], validate_choice=False)
    archive_unit = StringField(LABEL("archive_unit"), validators=[InputRequired("请填写档案转递单位名称"),
                                                                 Length(max=100, message=TOO_LONG)])
    division_code = StringField("档案转递单位地址", validators=[
        InputRequired("请选择省/市/区"), Regexp(r"^\d{6}$", message="请选择省/市/区（6位行政区划代码）")])
    archive_address = StringField(LABEL("archive_address"), validators=[InputRequired("请填写档案转递单位详细地址"),
                                                                       Length(max=200, message=TOO_LONG)])
    archive_postcode = StringField(LABEL("archive_postcode"), validators=[InputRequired("请填写档案转递单位邮编"),
                                                                         Postcode()])
    archive_contact = StringField(LABEL("archive_contact"), validators=[InputRequired("请填写档案转递联系人/联系部门"),
                                                                       Length(max=50, message=TOO_LONG)])
    archive_phone = StringField(LABEL("archive_phone"), validators=[InputRequired("请填写档案转递联系电话"), Phone()])
    note = TextAreaField("情况说明", validators=[Optional(), Length(max=MAX_NOTE, message=TOO_LONG)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.archive_type.data and self.archive_type.data not in TRANSFER_TYPES:
            self.archive_type.errors = list(self.archive_type.errors) + ["请选择档案转递类型"]
            ok = False
        return ok

    def clean(self) -> dict[str, Any]:
        return {name: (getattr(self, name).data or "").strip() for name in TEXT_FIELDS}

    def fill_from(self, data: dict[str, Any]) -> None:
        """A submitted application or a valid record (also one an agreement wrote, ONL-7)."""
        for name in TEXT_FIELDS:
            if data.get(name) not in (None, ""):
                getattr(self, name).data = str(data[name])


class ArchiveForm(ArchiveFieldsForm):
    """The graduate's registration or change: the fields plus up to three proof images (ARC-4, IMG-1)."""

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
