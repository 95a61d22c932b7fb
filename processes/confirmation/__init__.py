"""去向登记确认 (CNF): the graduate checks destination, archive and hukou info and confirms it, or reports
what is wrong. The graduate's own act: no review, so no BPMN (`bpmn_dir` is this folder, which holds none)."""
from __future__ import annotations

from pathlib import Path

from domain.modules import ModuleEntry, ProcessModule

HERE = Path(__file__).resolve().parent


def module() -> ProcessModule:
    from . import api, pages

    return ProcessModule(
        name="confirmation",
        title="去向登记确认",
        bpmn_dir=HERE,
        blueprints=(pages.bp,),
        api_blueprints=(api.bp,),
        openapi_paths=api.PATHS,
        openapi_schemas=api.SCHEMAS,
        home_template="confirmation/_home.html",
        home_context=pages.home_context,
        entry=ModuleEntry(title="去向登记确认", endpoint="confirmation.page", description=pages.CHOOSER_NOTE,
                          closed_reason=pages.entry_closed_reason, element_id="module-confirmation"),
    )
