"""Data sync (PRV-3): approved changes delivered to the employment management system through the outbox.

Every change of a graduate's destination, archive or hukou info (domain.graduate_info notes it) becomes one
`sync.employment` outbox row in the change's transaction (`emit`); the outbox POSTs it to GRADFLOW_SYNC_URL with
its row id as the Idempotency-Key, in order per graduate, retried with back-off until acknowledged (`sender`).
`/admin/sync` and `/api/v1/sync` show pending, failed and delivered rows and retry them; `gradflow
sync-receiver` is a reference receiver (`receiver`). No BPMN.
"""
from __future__ import annotations

from pathlib import Path

from domain.modules import NavLink, ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, emit, pages, sender

    emit.install()
    return ProcessModule(
        name="sync", title="数据同步", bpmn_dir=HERE,
        senders={emit.KIND: sender.SENDER},
        blueprints=(pages.bp,), api_blueprints=(api.bp,), openapi_paths=api.PATHS,
        nav=(NavLink("数据同步", "sync.index", roles=("admin",), element_id="nav-sync"),),
    )
