"""Status labels and other texts that come from BPMN or data, listed so that
`pybabel extract` puts them in the catalog; templates translate them with _()."""
from flask_babel import lazy_gettext as _l

STATUS_LABELS = [
    _l("待提交"), _l("等待院系审核"), _l("等待学校审核"), _l("审核通过"), _l("已作废"),
    _l("已撤回 待重新提交"), _l("退回修改（院系退回）"), _l("退回修改（学校退回）"),
    _l("审核不通过（院系审核不通过）"), _l("审核不通过（学校审核不通过）"), _l("已触发"), _l("处理中"),
]
