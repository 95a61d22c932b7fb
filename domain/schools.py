"""School-level settings a graduate's work depends on (MOD-2 / MOD-4)."""
from __future__ import annotations

from domain.models import Graduate, School

DESTINATION_MODULE = "destination"  # the platform module 毕业去向登记与网签


def module_closed_reason(graduate: Graduate, module: str = DESTINATION_MODULE) -> str | None:
    """MOD-2/MOD-4: the province enables the module and the school completes its settings."""
    school: School = graduate.school
    if module not in (school.province.enabled_modules or []):
        return "省级主管部门尚未开通“毕业去向登记与网签”模块，暂不能使用。"
    if module not in (school.open_modules or []):
        return "学校尚未完成该模块的设置，暂不能使用，请留意学校通知。"
    return None
