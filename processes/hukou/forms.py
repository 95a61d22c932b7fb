"""Hukou information (HUK-1): the record's fields, and the graduate's form with its proof images.

On the bases of processes.transfers.forms, one class validates the page post, the API body and the
reviewer's edit (REV-5)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from domain.transfers import HUKOU_KIND
from processes.transfers import forms as shared
from processes.transfers.forms import TOO_LONG


def LABEL(name: str) -> str:  # noqa: N802 - reads like the constant it replaces
    """The kind's label of a field, translated where the form is shown."""
    return _l(HUKOU_KIND.label(name))



class HukouFieldsForm(shared.TransferFieldsForm):
    """户口迁移信息: what the graduate registers, a reviewer may edit and the school registers directly."""

    KIND = HUKOU_KIND
    hukou_type = shared.type_field(HUKOU_KIND)
    division_code = shared.division_field(_l("户口迁移地址"))
    hukou_address = StringField(LABEL("hukou_address"), validators=[InputRequired(_l("请填写户口迁移详细地址")),
                                                                   Length(max=200, message=TOO_LONG)])
    note = shared.note_field()


class HukouForm(shared.ProofImages, HukouFieldsForm):
    """The graduate's registration or change: the fields plus up to three proof images (ARC-4 as HUK-1, IMG-1)."""

    images, attachment_ids = shared.proof_image_fields()
