"""Builds what every entry point shares: settings, database, the process modules, the spec
registry, the runner with its extensions and access policy, and a way to enqueue background work.

Nothing is registered by importing a module: the process modules are listed in
``processes.modules()`` (plus any named in GRADFLOW_EXTRA_MODULES) and handed over here.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, load_settings, secure_sqlite_file
from core.db import make_engine, make_session_factory
from core.masking import install_log_masking
from core.storage import open_store
from domain import notify
from domain.access import POLICY
from domain.blobs import BLOBS
from domain.modules import ModuleRegistry, ProcessModule
from engine.runner import Runner
from engine.services import Extensions, Offloaded
from engine.specs import SpecRegistry

Enqueue = Callable[..., None]


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    Session: sessionmaker[Session]
    registry: SpecRegistry
    runner: Runner
    modules: ModuleRegistry
    extensions: Extensions
    enqueue: Enqueue

    def deploy(self) -> list[Any]:
        """`gradflow deploy`: a new version row for every process whose files changed."""
        with self.Session() as session:
            rows = self.registry.deploy(session)
            session.commit()
            return rows


def _celery_enqueue(name: str, *args: Any) -> None:
    """Production: hand the task to the broker by name (pages never import the Celery app)."""
    from gradflow.celery_app import app

    app.send_task(name, args=list(args))


def load_modules(extra: Iterable[str] = ()) -> list[ProcessModule]:
    import processes

    found = processes.modules()
    for path in extra:
        found.append(importlib.import_module(path).module())
    return found


def make_process_wide(settings: Settings, modules: ModuleRegistry) -> None:
    """What a runtime sets for its whole process: the notification spool and the ROLE-2 areas of the access
    policy. A process runs one runtime; a test process that builds others sets its own back with this."""
    notify.configure_spool(settings.var_dir / "outbox")
    POLICY.use_areas(modules.process_areas())  # ROLE-2: which area each process belongs to


def build_runtime(settings: Settings | None = None, *, modules: list[ProcessModule] | None = None,
                  enqueue: Enqueue | None = None) -> Runtime:
    settings = settings or load_settings()
    install_log_masking()  # issue 12: no log line of web, worker or CLI holds a full 身份证号
    registry_of_modules = ModuleRegistry(modules if modules is not None else load_modules(settings.extra_modules))
    extensions = registry_of_modules.extensions()
    extensions.add_senders(notify.SENDERS)
    secure_sqlite_file(settings.database_url)  # its directory exists, the file is 0600 (issue 12)
    db = make_engine(settings.database_url, prepared_statements=settings.pg_prepared_statements)
    make_process_wide(settings, registry_of_modules)
    registry = SpecRegistry(registry_of_modules.bpmn_dirs())
    enqueue = enqueue or _celery_enqueue
    if not settings.celery_eager:  # production: offloaded senders hand their work to the task queue
        extensions.senders.update({kind: sender.bound(enqueue) for kind, sender in extensions.senders.items()
                                   if isinstance(sender, Offloaded)})
    if settings.render_on_download:  # the peak season: documents are made on their first download, not at signing
        extensions.senders.update({kind: sender.deferring() for kind, sender in extensions.senders.items()
                                   if isinstance(sender, Offloaded) and sender.on_demand})
    runner = Runner(registry, extensions, POLICY, script_time_limit=settings.script_time_limit_seconds)
    blobs = open_store(settings.storage_url, settings.var_dir)
    return Runtime(settings=settings, db=db, Session=make_session_factory(db, {BLOBS: blobs}), registry=registry, runner=runner,
                   modules=registry_of_modules, extensions=extensions, enqueue=enqueue)
