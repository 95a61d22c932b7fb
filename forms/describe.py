"""Describe a form's fields for API clients (GET /api/v1/work-items/<id>): the same class that validates."""
from __future__ import annotations

from flask_wtf.file import MultipleFileField
from wtforms import (
    DateField,
    DecimalField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from forms.base import IntListField

MAX_IMAGES = 3  # IMG-1

_TYPES = [(PasswordField, "password"), (TextAreaField, "text"), (StringField, "string"), (DateField, "date"),
          (IntegerField, "integer"), (DecimalField, "number"), (SelectField, "choice"), (RadioField, "choice"),
          (IntListField, "array[int]")]


def describe(form_cls, *, required: tuple[str, ...] = ()) -> list[dict]:
    """Names, labels, types, limits and choices of a form's fields, for API clients."""
    form = form_cls.from_json({})
    out = []
    for field in form:
        if field.name == "csrf_token" or isinstance(field, MultipleFileField):
            continue
        kind = next((name for cls, name in _TYPES if isinstance(field, cls)), "string")
        row = {"name": field.name, "label": field.label.text, "type": kind,
               "required": field.name in required or any(isinstance(v, (InputRequired, DataRequired))
                                                         for v in field.validators)}
        for v in field.validators:
            if isinstance(v, Length) and v.max and v.max > 0:
                row["max_length"] = v.max
            if isinstance(v, NumberRange):
                row["min"], row["max"] = v.min, v.max
        if kind == "choice":
            row["choices"] = [{"value": value, "label": str(label)} for value, label in (field.choices or [])
                              if value != ""]
        if kind == "date":
            row["format"] = "YYYY-MM-DD"
        if kind == "array[int]":
            row["max_items"] = MAX_IMAGES
            row["description"] = "先用 POST /attachments 上传图片，再填写返回的编号"
        out.append(row)
    return out
