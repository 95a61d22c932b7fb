"""Archive information (ARC-2): the record's fields, and the graduate's form with its proof images.

The same classes validate the page post, the API body and the reviewer's edit (REV-5), on the bases of
processes.transfers.forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from domain.transfers import ARCHIVE_KIND
from forms.validators import Phone, Postcode
from processes.transfers import forms as shared
from processes.transfers.forms import TOO_LONG


def LABEL(name: str) -> str:  # noqa: N802 - reads like the constant it replaces
    """The kind's label of a field, translated where the form is shown."""
    return _l(ARCHIVE_KIND.label(name))



class ArchiveFieldsForm(shared.TransferFieldsForm):
    """档案转递信息: what the graduate registers, a reviewer may edit and the school registers directly."""

    KIND = ARCHIVE_KIND
    archive_type = shared.type_field(ARCHIVE_KIND)
    archive_unit = StringField(LABEL("archive_unit"), validators=[InputRequired(_l("请填写档案转递单位名称")),
                                                                 Length(max=100, message=TOO_LONG)])
    division_code = shared.division_field(_l("档案转递单位地址"))
    archive_address = StringField(LABEL("archive_address"), validators=[InputRequired(_l("请填写档案转递单位详细地址")),
                                                                       Length(max=200, message=TOO_LONG)])
    archive_postcode = StringField(LABEL("archive_postcode"), validators=[InputRequired(_l("请填写档案转递单位邮编")),
                                                                         Postcode()])
    archive_contact = StringField(LABEL("archive_contact"), validators=[InputRequired(_l("请填写档案转递联系人/联系部门")),
                                                                       Length(max=50, message=TOO_LONG)])
    archive_phone = StringField(LABEL("archive_phone"), validators=[InputRequired(_l("请填写档案转递联系电话")), Phone()])
    note = shared.note_field()


class ArchiveForm(shared.ProofImages, ArchiveFieldsForm):
    """The graduate's registration or change: the fields plus up to three proof images (ARC-4, IMG-1)."""

    images, attachment_ids = shared.proof_image_fields()
