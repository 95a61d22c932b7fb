"""Data views (PRV-1) and statistics (PRV-2) for school and province scope.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    return ProcessModule(name="statistics", title="数据查看与统计", bpmn_dir=HERE)
