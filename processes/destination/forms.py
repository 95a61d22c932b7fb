"""Destination filing (DST-1)."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from domain import dicts
from forms.base import BaseForm, IntListField

FIELD_LABELS = {
    "unit_name": _l("单位名称"),
    "unit_address": _l("单位地址"),
    "unit_contact": _l("联系人"),
    "unit_phone": _l("联系电话"),
    "school_name": _l("升学院校"),
    "major": _l("升学专业"),
    "country": _l("国家（地区）"),
    "note": _l("备注"),
}
MAX_IMAGES = 3


def type_choices():
    return [(t["code"], _(t["name"])) for t in dicts.destination_types()]


class DestinationForm(BaseForm):
    dest_type = SelectField(_l("毕业去向类型"), choices=[], validators=[InputRequired(_l("请选择毕业去向类型"))],
                            validate_choice=False)
    unit_name = StringField(FIELD_LABELS["unit_name"], validators=[Optional(), Length(max=100)])
    unit_address = StringField(FIELD_LABELS["unit_address"], validators=[Optional(), Length(max=200)])
    unit_contact = StringField(FIELD_LABELS["unit_contact"], validators=[Optional(), Length(max=50)])
    unit_phone = StringField(FIELD_LABELS["unit_phone"], validators=[Optional(), Length(max=20)])
    school_name = StringField(FIELD_LABELS["school_name"], validators=[Optional(), Length(max=100)])
    major = StringField(FIELD_LABELS["major"], validators=[Optional(), Length(max=100)])
    country = StringField(FIELD_LABELS["country"], validators=[Optional(), Length(max=50)])
    note = TextAreaField(FIELD_LABELS["note"], validators=[Optional(), Length(max=200)])
    images = MultipleFileField(_l("证明材料（图片，最多3张）"))
    attachment_ids = IntListField(_l("已上传的图片"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dest_type.choices = type_choices()

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.dest_type.data:
            dest_type = dicts.destination_type(self.dest_type.data)
            if dest_type is None:
                self.dest_type.errors = list(self.dest_type.errors) + [_("未知的毕业去向类型")]
                return False
            locked = set(dest_type.get("locked_fields") or [])  # GRAD-6: filled from the school's record
            for name in dest_type.get("fields", []):
                field = getattr(self, name, None)
                if field is not None and name not in locked and not (field.data or "").strip():
                    field.errors = list(field.errors) + [_("请填写%(get)s", get=FIELD_LABELS.get(name, name))]
                    ok = False
        if len(self.attachment_ids.data or []) > MAX_IMAGES:
            self.attachment_ids.errors = list(self.attachment_ids.errors) + [_("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES)]
            ok = False
        return ok

    def clean(self) -> dict:
        return {
            "dest_type": self.dest_type.data,
            "fields": {name: (getattr(self, name).data or "").strip() for name in FIELD_LABELS},
            "attachment_ids": list(self.attachment_ids.data or []),
        }

    def fill_from(self, application: dict) -> None:
        self.dest_type.data = application.get("dest_type")
        for name, value in (application.get("fields") or {}).items():
            if hasattr(self, name):
                getattr(self, name).data = value
        self.attachment_ids.data = list(application.get("attachment_ids") or [])
