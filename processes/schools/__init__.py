"""Schools and provinces (ROLE-2, MOD-2..6): school and department accounts with their module permissions, the
province's module switches and agreement type, each school's module settings (review levels among them).
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    return ProcessModule(name="schools", title="账号与功能设置", bpmn_dir=HERE)
