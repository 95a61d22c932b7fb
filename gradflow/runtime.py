"""Builds the pieces every entry point shares: settings, database, spec registry, runner."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from engine.runner import Runner
from engine.specs import SpecRegistry
from gradflow.config import Settings, load_settings
from gradflow.db import make_engine, make_session_factory


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    Session: sessionmaker
    registry: SpecRegistry
    runner: Runner

    def deploy(self) -> list:
        with self.Session() as session:
            rows = self.registry.deploy(session)
            session.commit()
            return rows


def build_runtime(settings: Settings | None = None, extra_process_dirs: tuple[Path, ...] = ()) -> Runtime:
    settings = settings or load_settings()
    import domain.handlers  # noqa: F401 - registers service-task handlers and hooks

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.database_url)
    registry = SpecRegistry([settings.processes_dir, *extra_process_dirs])
    runner = Runner(registry, script_time_limit=settings.script_time_limit_seconds)
    return Runtime(settings=settings, db=db, Session=make_session_factory(db), registry=registry, runner=runner)
