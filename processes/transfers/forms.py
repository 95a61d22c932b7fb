"""The form bases of archive and hukou information (ARC-2, HUK-1): one class validates the page post, the API
body and the reviewer's edit (REV-5). Each kind declares its fields on `TransferFieldsForm`, with the shared
field makers below for the ones both have, and its graduate's form on `ProofImages`."""
from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp

from domain.transfers import MAX_IMAGES, MAX_NOTE, TRANSFER_TYPES, Kind
from forms.base import BaseForm, IntListField

TOO_LONG = _l("最多%(max)d字（当前%(length)d字）")


def type_field(kind: Kind) -> Any:
    """The transfer type (ARC-1); a value outside TRANSFER_TYPES is refused by `validate`."""
    return SelectField(_l(kind.type_label), choices=[("", _l("点击选择"))] + [(t, _l(t)) for t in TRANSFER_TYPES],
                       validators=[InputRequired(_l("请选择%(type_label)s", type_label=_l(kind.type_label)))],
                       validate_choice=False)


def division_field(label: str) -> Any:
    """省/市/区 as a 6-digit division code (DICT-2), which the picker fills in."""
    return StringField(label, validators=[
        InputRequired(_l("请选择省/市/区")), Regexp(r"^\d{6}$", message=_l("请选择省/市/区（6位行政区划代码）"))])


def note_field() -> Any:
    return TextAreaField(_l("情况说明"), validators=[Optional(), Length(max=MAX_NOTE, message=TOO_LONG)])


def proof_image_fields() -> tuple[Any, Any]:
    """The images and the kept image ids of `ProofImages`. WTForms orders fields by when they were made, so a
    kind's form makes these in its class body, after its own fields:
    `images, attachment_ids = proof_image_fields()`."""
    return MultipleFileField(_l("图像材料（最多上传三张图片）")), IntListField(_l("已上传的图片"))


class TransferFieldsForm(BaseForm):
    """The record's fields of one kind (KIND): what the graduate registers, a reviewer may edit and the school
    registers directly. The text fields are the kind's fields but division_name, which the code gives."""

    KIND: ClassVar[Kind]

    @classmethod
    def text_fields(cls) -> tuple[str, ...]:
        return tuple(name for name in cls.KIND.fields if name != "division_name")

    @property
    def transfer_type(self) -> Any:
        return self[self.KIND.type_field]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        chosen = self.transfer_type
        if chosen.data and chosen.data not in TRANSFER_TYPES:
            chosen.errors = list(chosen.errors) + [_("请选择%(type_label)s", type_label=self.KIND.type_label)]
            ok = False
        return ok

    def clean(self) -> dict[str, Any]:
        return {name: (self[name].data or "").strip() for name in self.text_fields()}

    def fill_from(self, data: dict[str, Any]) -> None:
        """A submitted application or a valid record (also one an agreement wrote, ONL-7)."""
        for name in self.text_fields():
            if data.get(name) not in (None, ""):
                self[name].data = str(data[name])


class ProofImages(TransferFieldsForm):
    """The graduate's registration or change: a kind's fields plus up to three proof images (ARC-4, IMG-1).
    Subclass it before the kind's fields form and declare the two fields with `proof_image_fields()`."""

    images: Any
    attachment_ids: Any

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if len(self.attachment_ids.data or []) > MAX_IMAGES:
            self.attachment_ids.errors = list(self.attachment_ids.errors) + [_("最多上传%(MAX_IMAGES)s张图片", MAX_IMAGES=MAX_IMAGES)]
            ok = False
        return ok

    def clean(self) -> dict[str, Any]:
        return {**super().clean(), "attachment_ids": list(self.attachment_ids.data or [])}

    def fill_from(self, data: dict[str, Any]) -> None:
        super().fill_from(data)
        self.attachment_ids.data = list(data.get("attachment_ids") or [])
