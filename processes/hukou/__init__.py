"""Hukou information (HUK): 户口信息登记 and 户口信息修改 on the shared review (approve or reject only), the
户口信息栏 and the school's direct registration — only for graduates whose 户口是否转入学校 is 是 (MOD-5).

What it shares with processes/archive: the rules in domain.transfers and the web code in processes.transfers (a
library package, not a process module). Here: the BPMN, the kind (kind.py) and its fields (forms.py,
templates/hukou/). It imports nothing of archive.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from processes.transfers.web import TransferWeb

    from .kind import SPEC

    return TransferWeb(SPEC).module(bpmn_dir=HERE)
