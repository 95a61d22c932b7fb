"""What makes hukou information (HUK) its own kind for the shared web code (processes.transfers): its
processes, forms, words and OpenAPI fields. The rules are domain.transfers.HUKOU_KIND's: only graduates whose
户口是否转入学校 is 是 may register (MOD-5)."""
from __future__ import annotations

from typing import Any

from domain.transfers import HUKOU_KIND, TRANSFER_TYPES
from processes.transfers.api import string_schema as _str
from processes.transfers.spec import TransferSpec

from .forms import HukouFieldsForm, HukouForm

FIELDS_PROPERTIES: dict[str, Any] = {
    "hukou_type": _str(enum=list(TRANSFER_TYPES), description="户口迁移类型（HUK-1）"),
    "division_code": _str(pattern="^[0-9]{6}$", description="户口迁移地址：省/市/区的行政区划代码（区县一级）；"
                          "转回生源地时省级须与生源所在地相同（ARC-3）"),
    "hukou_address": _str(200, description="户口迁移详细地址"),
    "note": _str(200, description="情况说明（200字以内）"),
}

SPEC = TransferSpec(
    kind=HUKOU_KIND,
    package="processes.hukou",
    registration_id="hukou_registration",  # 户口信息登记
    change_id="hukou_change",  # 户口信息修改
    fields_form=HukouFieldsForm,
    form=HukouForm,
    entry_description="用于登记户口迁移信息。",
    schema_name="HukouInfo",
    api_properties=FIELDS_PROPERTIES,
    api_required=["hukou_type", "division_code", "hukou_address"],
    schema_description="户口信息登记 / 户口信息修改（HUK-1），仅户口已转入学校的毕业生（MOD-5）。除转回生源地外须上传证明材料："
                       "先 POST /attachments，再填 attachment_ids",
    school_schema_description="学校直接登记毕业生户口信息（HUK-1 同 ARC-7），无需证明材料与审核",
    summary_doc="毕业生的户口信息栏：有效的户口信息（任一来源）、办理中的申请、可发起的流程；"
                "户口未转入学校时 closed_reason 说明原因（HUK-1, MOD-5）",
    school_get_doc="学校读取本校毕业生的户口信息",
    school_post_doc="学校直接登记本校毕业生的户口信息，立即生效（HUK-1 同 ARC-7；仅户口已转入学校的毕业生）",
)
