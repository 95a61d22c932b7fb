"""The one form of 去向登记确认: the page posts it, and the API validates its bodies with it (CNF-2, CNF-3)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from domain.graduate_info import PARTS
from forms.base import BaseForm
from forms.validators import Mobile

from .services import DESTINATION_KINDS, EXPLANATION_LABELS, MAX_EXPLANATION, PART_LABELS

CHOICES = [("confirm", _l("信息无误，确认登记去向")), ("error", _l("信息有误，需更新后确认"))]
REPORT_FIELDS = ("parts", "destination_kind", "destination_explanation", "archive_explanation",
                 "hukou_explanation", "mobile")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _explanation(part: str) -> TextAreaField:
    return TextAreaField(_l(EXPLANATION_LABELS[part]), filters=[_strip], validators=[
        Length(max=MAX_EXPLANATION, message=_l("不能超过%(n)s个字（现有%%(length)d个）", n=MAX_EXPLANATION))])


class ConfirmationForm(BaseForm):
    """`choice` confirm: nothing else is read. `choice` error: the ticked parts — only those that exist
    (`available`) — each with its explanation, and a mobile number (CNF-3)."""

    choice = RadioField(_l("请确认您的去向登记信息"), choices=CHOICES, validate_choice=False)
    info_version = HiddenField(_l("信息版本"), filters=[_strip], validators=[Optional(), Length(max=64)])
    parts = SelectMultipleField(_l("您的错误信息情况"), choices=[(p, _l(PART_LABELS[p])) for p in PARTS],
                                validate_choice=False)
    destination_kind = RadioField(_l("毕业去向信息"), choices=[(k, _l(v)) for k, v in DESTINATION_KINDS.items()], validate_choice=False)
    destination_explanation = _explanation("destination")
    archive_explanation = _explanation("archive")
    hukou_explanation = _explanation("hukou")
    mobile = StringField(_l("联系方式"), filters=[_strip], validators=[Mobile()])

    def __init__(self, *args: Any, available: tuple[str, ...] = PARTS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.available = tuple(available)

    def _add(self, name: str, message: str) -> None:
        field = getattr(self, name)
        field.errors = [*field.errors, message]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.choice.data not in dict(CHOICES):
            self._add("choice", _("请选择“信息无误，确认登记去向”或“信息有误，需更新后确认”"))
            return False
        if self.choice.data == "confirm":
            for name in REPORT_FIELDS:  # not part of a confirmation: neither read nor checked
                getattr(self, name).errors = []
            return not any(f.errors for f in self)
        return self._validate_report() and ok

    def _validate_report(self) -> bool:
        before = sum(len(getattr(self, n).errors) for n in REPORT_FIELDS)
        parts = list(dict.fromkeys(self.parts.data or []))
        unknown = [p for p in parts if p not in PARTS]
        absent = [p for p in parts if p in PARTS and p not in self.available]
        if unknown:
            self._add("parts", _("未知的错误信息类型“%(unknown)s”（可选：%(join)s）", unknown=unknown[0][:20], join='、'.join(PARTS)))
        elif absent:
            self._add("parts", _("%(part)s尚未登记，不能选择", part=_(PART_LABELS[absent[0]])))
        elif not parts:
            self._add("parts", _("请选择错误信息情况"))
        if "destination" in parts and self.destination_kind.data not in DESTINATION_KINDS:
            self._add("destination_kind", _("请选择毕业去向信息是有变化还是有错误"))
        for part in PARTS:
            if part in parts and not getattr(self, f"{part}_explanation").data:
                self._add(f"{part}_explanation", _("请填写情况说明"))
        if not self.mobile.data:
            self._add("mobile", _("请填写手机号码"))
        return sum(len(getattr(self, n).errors) for n in REPORT_FIELDS) == before

    def clean(self) -> dict[str, Any]:
        ticked = set(self.parts.data or [])
        errors: dict[str, str] = {}
        for part in PARTS:
            if part not in ticked:
                continue
            text = getattr(self, f"{part}_explanation").data or ""
            if part == "destination":  # kept with the explanation: error_parts is {part: explanation}
                text = f"{DESTINATION_KINDS[self.destination_kind.data]}：{text}"
            errors[part] = text
        return {"choice": self.choice.data, "info_version": self.info_version.data or None, "errors": errors,
                "mobile": self.mobile.data or None}
