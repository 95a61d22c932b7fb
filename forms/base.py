"""One base for every form: CSRF on pages, the same class validates JSON API bodies."""
from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import DecimalField, Field
from wtforms.widgets import HiddenInput


def _multidict(body: dict) -> MultiDict[str, str]:
    md: MultiDict[str, str] = MultiDict()
    for key, value in (body or {}).items():
        if isinstance(value, (list, tuple)):
            for v in value:
                md.add(key, "" if v is None else str(v))
        elif isinstance(value, bool):
            md.add(key, "y" if value else "")
        elif value is not None:
            md.add(key, str(value))
    return md


class BaseForm(FlaskForm):
    class Meta:
        locales = ["zh"]  # WTForms' own messages in Chinese

    @classmethod
    def from_json(cls, body: dict, **kwargs):
        """Validate an API body with the same rules as the page (no CSRF: token auth)."""
        if not isinstance(body, dict):
            body = {}
        return cls(formdata=_multidict(body), meta={"csrf": False}, **kwargs)

    def error_details(self) -> dict[str, list[str]]:
        return {name: [str(e) for e in errs] for name, errs in self.errors.items()}

    def first_error(self) -> str:
        for name, errs in self.errors.items():
            if errs:
                label = getattr(getattr(self, name, None), "label", None)
                prefix = f"{label.text}：" if label is not None and name != "csrf_token" else ""
                return f"{prefix}{errs[0]}" if not isinstance(errs[0], dict) else prefix + str(errs[0])
        return _("输入有误")


class IntListField(Field):
    """A list of ids: repeated form values or a JSON array."""

    widget = HiddenInput()

    def _value(self):
        return ",".join(str(v) for v in (self.data or []))

    def process_formdata(self, valuelist):
        values = []
        for raw in valuelist:
            for part in str(raw).split(","):
                part = part.strip()
                if not part:
                    continue
                if not part.isdigit() or len(part) > 12 or not 0 < int(part) < 2 ** 31:
                    self.data = []
                    raise ValueError(_("编号格式不正确"))
                values.append(int(part))
        self.data = values


class ActionForm(BaseForm):
    """A button with nothing to fill: withdraw, void, confirm. Carries CSRF only."""


class MoneyField(DecimalField):
    """A whole amount of yuan. DecimalField accepts 'NaN', 'sNaN' and 'Infinity', which then break every
    comparison (a 500 on 'sNaN'); only a finite number is a value here."""

    def __init__(self, label: str | None = None, validators=None, **kwargs):
        kwargs.setdefault("places", 0)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if isinstance(self.data, Decimal) and not self.data.is_finite():
            self.data = None
            raise ValueError(_("请填写有效的金额"))
