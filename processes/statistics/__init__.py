"""Data views (PRV-1) and statistics (PRV-2) for school and province scope (and a 院系, read-only).

No BPMN: it reads what the processes wrote. Its step hook keeps the statistics counters right in the
transaction of every step (domain.statistics); its session listeners do the same for changes made outside a
step (a graduate added, the school's direct registration)."""
from __future__ import annotations

from pathlib import Path

from domain import statistics as stats_domain
from domain.modules import NavLink, ProcessModule
from engine.services import StepContext

HERE = Path(__file__).resolve().parent
STAFF = ("province", "school", "department")


def step_hook(ctx: StepContext) -> None:
    """PRV-2: the step's graduate is recounted in the step's transaction (before it commits, with the other
    graduates the transaction wrote)."""
    if ctx.instance.graduate_id is not None:
        stats_domain.defer_refresh(ctx.session, [ctx.instance.graduate_id])


def module() -> ProcessModule:
    from . import api, pages

    stats_domain.install()
    return ProcessModule(
        name="statistics", title="数据查看与统计", bpmn_dir=HERE,
        blueprints=(pages.bp,), api_blueprints=(api.bp,), openapi_paths=api.PATHS,
        step_hooks=(step_hook,),
        nav=(NavLink("毕业去向与网签信息管理", "statistics.signing", STAFF, area="basic", element_id="nav-data-destination"),
             NavLink("档案信息管理", "statistics.archive", STAFF, area="archive", element_id="nav-data-archive"),
             NavLink("户口信息管理", "statistics.hukou", STAFF, area="hukou", element_id="nav-data-hukou"),
             NavLink("数据统计", "statistics.statistics", STAFF, element_id="nav-statistics")),
    )
