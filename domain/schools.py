"""School-level settings a graduate's work depends on (MOD-2 / MOD-4)."""
from __future__ import annotations

from core.i18n import N_
from domain.models import Graduate, School

DESTINATION_MODULE = "destination"  # the platform module 毕业去向登记与网签
# MOD-1: the modules a province enables and a school opens, by the names kept in
# Province.enabled_modules / School.open_modules, with the names the guides give them.
MODULE_NAMES = {"destination": N_("毕业去向登记与网签"), "archive": N_("档案信息登记"), "hukou": N_("户口信息登记")}


def module_closed_reason(graduate: Graduate, module: str = DESTINATION_MODULE) -> str | None:
    """MOD-2/MOD-4: the province enables the module and the school completes its settings; the text says who must
    act (the province's education department, or the school's employment office)."""
    school: School = graduate.school
    if module not in (school.province.enabled_modules or []):
        return f"省级主管部门尚未开通“{MODULE_NAMES.get(module, module)}”模块，暂不能使用。"
    if module not in (school.open_modules or []):
        return (f"学校尚未完成该模块的设置，暂不能使用：需由学校就业部门在“功能设置”中完成“{MODULE_NAMES.get(module, module)}”"
                "的设置后才能使用，请联系学校就业部门或留意学校通知。")
    return None
