"""Archive information (ARC): 档案信息登记 and 档案信息修改 on the shared review (approve or reject only),
the 档案信息栏 and the school's direct registration (ARC-7).

What it shares with processes/hukou: the rules in domain.transfers and the web code in processes.transfers (a
library package, not a process module). Here: the BPMN, the kind (kind.py), its fields (forms.py,
templates/archive/). Deleting a graduate's basic info (GRAD-5) lives with basic info, in processes/roster; the
school's archive list links there. It imports nothing of hukou.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from processes.transfers.web import TransferWeb

    from .kind import SPEC

    web = TransferWeb(SPEC)
    return web.module(bpmn_dir=HERE)
