"""Graduate basic information (GRAD-1, GRAD-4, GRAD-5): cohorts, the school's single add, edit and delete,
and bulk import from .xlsx/.csv as a background job with an error report.

- rules.py: the GRAD-1 columns and the one validator (file rows, the add/edit pages, the API);
- services.py: list, add, edit, delete (GRAD-5 through domain.transfers.delete_basic_info), revival;
- importing.py: the template, reading files, the batched background job (Celery task
  gradflow.import_graduates), the error report;
- pages.py, api.py: the school's pages and /api/v1/school/graduates...;
- cohort_pages.py: 切换届别 (GRAD-4), earlier cohorts read-only.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import NavLink, ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, cohort_pages, pages

    return ProcessModule(
        name="roster", title="毕业生基本信息", bpmn_dir=HERE,
        blueprints=(pages.bp, cohort_pages.bp), api_blueprints=(api.bp,),
        openapi_paths=api.PATHS, openapi_schemas=api.SCHEMAS,
        nav=(NavLink(title="毕业生信息", endpoint="roster.graduates", roles=("school",), area="basic",
                     element_id="nav-roster"),),
    )
