"""What a process module declares, and the registry the runtime holds.

A process family (destination filing, the shared review, agreements, terminations, ...)
is one package under ``processes/`` that builds one `ProcessModule`. The generic parts
(the graduate's records and work pages, the reviewer inbox and review page, the API's
work-item completion, the process list, the OpenAPI document, the status-label
catalogue) look modules up here by form key or process id; no code outside a module
names its process ids or form keys.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.services import BatchLoader, CompletionHook, Extensions, Handler, Sender, StepHook

# A view, an API handler, a blueprint: web-layer objects that this layer only carries.
View = Callable[..., Any]


@dataclass
class StartSpec:
    """A process a graduate (or employer) may start through the API's generic start route."""

    process_id: str
    title: str
    form_key: str
    api_start: View  # fn(body: dict) -> response
    schema: str = ""  # the OpenAPI schema name of its body


@dataclass
class FormSpec:
    """One user-task form, by form key: how the API completes it and how a page shows it."""

    form_key: str
    api_complete: View | None = None  # fn(item, body) -> ProcessInstance
    fields: Callable[[], list[dict[str, Any]]] | None = None  # field description for GET /work-items/<id>
    item_data: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # task data shown to the assignee
    graduate_page: View | None = None  # fn(graduate, item, task_data) -> response (GET/POST)
    reviewer_page: View | None = None  # fn(item, task_data) -> response (GET/POST)
    completion_schema: dict[str, Any] = field(default_factory=dict)  # JSON-schema properties of its API body
    description: str = ""  # one line for the OpenAPI Completion schema
    answer: bool = False  # an accept/refuse answer, also reachable as POST /instances/<id>/answer
    todo_note: Callable[[Any, Any], str] | None = None  # (db, item) -> a line for the graduate's to-do list


@dataclass
class RecordPart:
    """What a module shows of one of its instances on the record and review pages."""

    context: Callable[[Any, Any], dict[str, Any]]  # fn(db, instance) -> template context
    template: str  # included by the record pages
    actions: Callable[[Any, Any, dict[str, Any]], dict[str, Any]] | None = None  # graduate's actions context
    actions_template: str = ""
    review_template: str = ""  # the application on the review page
    review_context: Callable[[Any, Any, dict[str, Any]], dict[str, Any]] | None = None  # (db, instance, application)
    # REV-5: the reviewer's edit. edit_form(instance, prefix, json_body_or_None) builds the form that validates it
    # (the same class on the page and the API), or None when this process's data may not be edited;
    # apply_edit(db, instance, application, form) -> the edited application.
    edit_form: Callable[[Any, str, dict[str, Any] | None], Any] | None = None
    apply_edit: Callable[[Any, Any, dict[str, Any], Any], dict[str, Any]] | None = None
    edit_template: str = ""  # the edit block on the review page
    field_labels: dict[str, str] = field(default_factory=dict)  # names for the before/after of an edit
    api_json: Callable[[Any, Any], dict[str, Any]] | None = None  # extras of GET /instances/<id>


@dataclass
class ModuleEntry:
    """A card on the graduate's module chooser (MOD-1): the page the module starts on, and why it may be closed."""

    title: str  # as the guides name the module, e.g. 档案信息登记
    endpoint: str  # the page's endpoint, for url_for
    description: str = ""  # one line under the title
    closed_reason: Callable[[Any, Any], str | None] | None = None  # fn(db, graduate) -> why not now, or None
    element_id: str = ""  # the card's id in the page; module-<name> when empty


@dataclass
class NavLink:
    """A link in the header for some account roles (school, department, province, admin ...)."""

    title: str  # Chinese, translated with _() in the template
    endpoint: str
    roles: tuple[str, ...]  # account roles (Account.role) that see it
    area: str = ""  # ROLE-2 area the link needs (not "none"); empty: no area
    element_id: str = ""


@dataclass
class ProcessModule:
    name: str
    title: str
    bpmn_dir: Path
    process_ids: tuple[str, ...] = ()
    starts: tuple[StartSpec, ...] = ()
    forms: tuple[FormSpec, ...] = ()
    handlers: dict[str, Handler] = field(default_factory=dict)
    hooks: tuple[CompletionHook, ...] = ()
    senders: dict[str, Sender] = field(default_factory=dict)
    record: RecordPart | None = None
    withdrawable: tuple[str, ...] = ()  # processes whose submissions may be withdrawn before review (REV-6)
    blueprints: tuple[Any, ...] = ()  # page blueprints
    api_blueprints: tuple[Any, ...] = ()  # blueprints under /api/v1 (token or session auth)
    openapi_paths: dict[str, Any] = field(default_factory=dict)
    openapi_schemas: dict[str, Any] = field(default_factory=dict)
    # Context and a template block this module adds to every graduate record page (not only its own).
    record_extras: Callable[[Any, Any, dict[str, Any]], dict[str, Any]] | None = None
    record_extras_template: str = ""
    home_template: str = ""  # a block on the graduate's 去向填报 page (how to start its processes)
    home_context: Callable[[Any, Any], dict[str, Any]] | None = None  # fn(db, graduate)
    entry: ModuleEntry | None = None  # its card on the graduate's module chooser, when it has a page of its own
    # ROLE-2: the permission area its processes belong to (basic = 基本信息和就业信息, archive, hukou).
    area: str = "basic"
    step_hooks: tuple[StepHook, ...] = ()  # run at the end of every step of every process
    batch_loaders: tuple[BatchLoader, ...] = ()  # read ahead for a batch of timer steps (engine.services)
    nav: tuple[NavLink, ...] = ()  # header links for staff roles


_LABEL = re.compile(r'name="statusLabel" value="([^"]+)"')


class ModuleRegistry:
    """The process modules of one runtime, declared once in processes/__init__.py."""

    def __init__(self, modules: Iterable[ProcessModule]):
        self.modules: tuple[ProcessModule, ...] = tuple(modules)
        self._forms: dict[str, FormSpec] = {}
        self._by_process: dict[str, ProcessModule] = {}
        for module in self.modules:
            for spec in module.forms:
                if spec.form_key in self._forms:
                    raise ValueError(f"form key {spec.form_key!r} declared twice")
                self._forms[spec.form_key] = spec
            for process_id in module.process_ids:
                if process_id in self._by_process:
                    raise ValueError(f"process {process_id!r} declared twice")
                self._by_process[process_id] = module

    def extensions(self) -> Extensions:
        ext = Extensions()
        for module in self.modules:
            ext.add_handlers(module.handlers)
            ext.add_hooks(module.hooks)
            ext.add_senders(module.senders)
            ext.add_step_hooks(module.step_hooks)
            ext.add_batch_loaders(module.batch_loaders)
        return ext

    def process_areas(self) -> dict[str, str]:
        """ROLE-2: process id -> permission area, for the access policy."""
        return {pid: m.area for m in self.modules for pid in m.process_ids}

    def nav_links(self, role: str) -> list[NavLink]:
        return [link for m in self.modules for link in m.nav if role in link.roles]

    def bpmn_dirs(self) -> list[Path]:
        return [m.bpmn_dir for m in self.modules]

    def form(self, form_key: str) -> FormSpec | None:
        return self._forms.get(form_key)

    def for_process(self, process_id: str) -> ProcessModule | None:
        return self._by_process.get(process_id)

    def start(self, process_id: str) -> StartSpec | None:
        return next((s for m in self.modules for s in m.starts if s.process_id == process_id), None)

    def starts(self) -> list[StartSpec]:
        return [s for m in self.modules for s in m.starts]

    def answer_keys(self) -> list[str]:
        return [key for key, spec in self._forms.items() if spec.answer]

    def withdrawable(self, process_id: str) -> bool:
        return any(process_id in m.withdrawable for m in self.modules)

    def status_labels(self) -> set[str]:
        """Every status label the BPMN files declare (the catalogue to translate)."""
        labels: set[str] = set()
        for module in self.modules:
            for path in sorted(module.bpmn_dir.glob("*.bpmn")):
                labels.update(_LABEL.findall(path.read_text(encoding="utf-8")))
        return labels
