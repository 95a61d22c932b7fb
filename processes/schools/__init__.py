"""Schools and provinces (ROLE-2, MOD-2..6): school and department accounts with their module permissions, the
province's module switches and agreement type, each school's module settings (review levels among them).

- services.py: every change, validated and written to SettingChange (the audit trail);
- pages.py: the province's 首页, 账号管理, 功能设置 (seed 002 §2-4) and the school's 功能设置 and 院系账号;
- api.py: the same under /api/v1.
It also declares the header links of the school pages other modules own that had none (档案/户口信息登记, 转递编号).
"""
from __future__ import annotations

from pathlib import Path

from domain.access import ARCHIVE_AREA, BASIC, HUKOU_AREA
from domain.modules import NavLink, ProcessModule

HERE = Path(__file__).resolve().parent
PROVINCE = ("province",)
SCHOOL = ("school",)


def module() -> ProcessModule:
    from . import api, pages

    return ProcessModule(
        name="schools", title="账号与功能设置", bpmn_dir=HERE,
        blueprints=(pages.bp,), api_blueprints=(api.bp,), openapi_paths=api.PATHS, openapi_schemas=api.SCHEMAS,
        nav=(NavLink("首页", "schools.province_home", PROVINCE, element_id="nav-province-home"),
             NavLink("账号管理", "schools.province_accounts", PROVINCE, element_id="nav-province-accounts"),
             NavLink("功能设置", "schools.province_settings", PROVINCE, element_id="nav-province-settings"),
             NavLink("功能设置", "schools.school_settings", SCHOOL, element_id="nav-school-settings"),
             NavLink("院系账号", "schools.school_accounts", SCHOOL, area=BASIC, element_id="nav-school-accounts"),
             NavLink("档案信息登记", "archive_school.graduates", SCHOOL, area=ARCHIVE_AREA,
                     element_id="nav-school-archive"),
             NavLink("户口信息登记", "hukou_school.graduates", SCHOOL, area=HUKOU_AREA, element_id="nav-school-hukou"),
             NavLink("转递编号", "verification.school", SCHOOL, area=ARCHIVE_AREA,
                     element_id="nav-school-transfer-codes")),
    )
