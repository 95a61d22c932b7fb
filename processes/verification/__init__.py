"""核验授权 (VER-1..8, DOC-2): the graduate's verification reports, the school's transfer codes and the
public check page. No BPMN: a report is one row whose validity follows the graduate's confirmation."""
from __future__ import annotations

from pathlib import Path

from domain.modules import ModuleEntry, ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, models, pages  # noqa: F401 - models registers the tables

    return ProcessModule(
        name="verification",
        title="核验授权",
        bpmn_dir=HERE,
        blueprints=(pages.bp,),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        home_template="verification/_home.html",
        home_context=pages.home_context,
        entry=ModuleEntry(title="核验授权", endpoint="verification.home",
                          description="授权档案和户籍接收管理部门查询核验本人的去向登记信息"),
    )
