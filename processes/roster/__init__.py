"""Graduate basic information (GRAD-1, GRAD-4, GRAD-5): cohorts, the school's single add, edit and delete,
and bulk import from .xlsx/.csv as a background job with an error report.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    return ProcessModule(name="roster", title="毕业生基本信息", bpmn_dir=HERE)
