"""Archive information (ARC): 档案信息登记 and 档案信息修改 on the shared review (approve or reject only),
the 档案信息栏, the school's direct registration (ARC-7) and deletion of basic info (GRAD-5).

What it shares with processes/hukou: the rules in domain.transfers and the web code in processes.transfers (a
library package, not a process module). Here: the BPMN, the kind (kind.py), its fields (forms.py,
templates/archive/), and the deletion (deletion.py). It imports nothing of hukou.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from processes.transfers.web import TransferWeb

    from . import deletion
    from .kind import SPEC

    web = TransferWeb(SPEC, school_list_context=deletion.list_context)
    deletion.add_routes(web.school.bp, web.api.bp)
    return web.module(bpmn_dir=HERE, openapi_paths=deletion.PATHS)
