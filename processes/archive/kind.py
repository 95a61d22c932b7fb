"""What makes archive information (ARC) its own kind for the shared web code (processes.transfers): its
processes, forms, words and OpenAPI fields. The rules are domain.transfers.ARCHIVE_KIND's."""
from __future__ import annotations

from typing import Any

from domain.transfers import ARCHIVE_KIND, TRANSFER_TYPES
from processes.transfers.api import string_schema as _str
from processes.transfers.spec import TransferSpec

from .forms import ArchiveFieldsForm, ArchiveForm

FIELDS_PROPERTIES: dict[str, Any] = {
    "archive_type": _str(enum=list(TRANSFER_TYPES), description="档案转递类型（ARC-1）"),
    "archive_unit": _str(100, description="档案转递单位名称"),
    "division_code": _str(pattern="^[0-9]{6}$", description="档案转递单位地址：省/市/区的行政区划代码（区县一级）；"
                          "转回生源地时省级须与生源所在地相同（ARC-3）"),
    "archive_address": _str(200, description="档案转递单位详细地址"),
    "archive_postcode": _str(pattern="^[0-9]{6}$", description="档案转递单位邮编（6位）"),
    "archive_contact": _str(50, description="档案转递联系人/联系部门"),
    "archive_phone": _str(20, description="档案转递联系电话（手机或固话）"),
    "note": _str(200, description="情况说明（200字以内）"),
}

SPEC = TransferSpec(
    kind=ARCHIVE_KIND,
    package="processes.archive",
    registration_id="archive_registration",  # 档案信息登记
    change_id="archive_change",  # 档案信息修改
    fields_form=ArchiveFieldsForm,
    form=ArchiveForm,
    entry_description="用于登记档案转递信息。",
    schema_name="ArchiveInfo",
    api_properties=FIELDS_PROPERTIES,
    api_required=["archive_type", "archive_unit", "division_code", "archive_address", "archive_postcode",
                  "archive_contact", "archive_phone"],
    schema_description="档案信息登记 / 档案信息修改（ARC-2）。除转回生源地外须上传证明材料（ARC-4）：先 POST /attachments，"
                       "再填 attachment_ids",
    school_schema_description="学校直接登记毕业生档案信息（ARC-7），无需证明材料与审核",
    summary_doc="毕业生的档案信息栏：有效的档案信息（任一来源）、办理中的申请、可发起的流程（ARC-5..7）",
    school_get_doc="学校读取本校毕业生的档案信息（ARC-7）",
    school_post_doc="学校直接登记本校毕业生的档案信息，立即生效（ARC-7）",
)
