"""Data sync (PRV-3): approved changes delivered to the employment management system through the outbox.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    return ProcessModule(name="sync", title="数据同步", bpmn_dir=HERE)
