"""What the designer pages read and do: versions with their instance counts (one GROUP BY), the process's own
file of a version, SpiffWorkflow's diff of two versions, and a deploy of an edited file.

A deploy from the page runs the same SpecRegistry.deploy as `gradflow processes deploy`, over the files on
disk with the edited one put in (or added): the version rows, and so the content hashes, are the ones a deploy
of the same text from files makes."""
from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from engine.models import ProcessInstance, ProcessVersion
from engine.serialization import SERIALIZER
from engine.specs import SpecRegistry
from engine.validate import BPMN_NS, Problem, check_files, errors, safe_parser

STATUSES = ("running", "suspended", "completed", "terminated")
STATUS_NAMES = {"running": "运行中", "suspended": "已暂停", "completed": "已完成", "terminated": "已终止"}
FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.bpmn$")


@dataclass
class VersionRow:
    id: int
    process_id: str
    name: str
    content_hash: str
    deployed_at: datetime
    files: list[str]
    counts: dict[str, int]
    number: int = 0  # 1, 2, ... within its process
    latest: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class ProcessRow:
    process_id: str
    name: str
    versions: list[VersionRow] = field(default_factory=list)  # newest first

    @property
    def latest(self) -> VersionRow:
        return self.versions[0]

    def total(self, status: str | None = None) -> int:
        return sum(v.counts.get(status, 0) if status else v.total for v in self.versions)


def instance_counts(db: Session) -> dict[int, dict[str, int]]:
    """Instances per version and status, counted by the database."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = db.execute(select(ProcessInstance.version_id, ProcessInstance.status, func.count())
                      .group_by(ProcessInstance.version_id, ProcessInstance.status))
    for version_id, status, n in rows:
        counts[version_id][status] = n
    return counts


def library(db: Session) -> list[ProcessRow]:
    """Every deployed process with its versions (newest first) and their instance counts."""
    counts = instance_counts(db)
    processes: dict[str, ProcessRow] = {}
    rows = db.execute(select(ProcessVersion.id, ProcessVersion.process_id, ProcessVersion.name,
                             ProcessVersion.content_hash, ProcessVersion.deployed_at, ProcessVersion.files)
                      .order_by(ProcessVersion.process_id, ProcessVersion.id))
    for vid, pid, name, digest, deployed, files in rows:
        proc = processes.setdefault(pid, ProcessRow(pid, name))
        proc.name = name or pid
        proc.versions.insert(0, VersionRow(vid, pid, name, digest, deployed, sorted(files),
                                           {s: counts.get(vid, {}).get(s, 0) for s in STATUSES}))
    for proc in processes.values():
        for number, version in enumerate(reversed(proc.versions), start=1):
            version.number = number
        proc.latest.latest = True
    return sorted(processes.values(), key=lambda p: p.process_id)


def process_row(db: Session, process_id: str) -> ProcessRow:
    for proc in library(db):
        if proc.process_id == process_id:
            return proc
    raise NotFound("流程不存在")


def version(db: Session, version_id: int) -> ProcessVersion:
    row = db.get(ProcessVersion, version_id)
    if row is None:
        raise NotFound("流程版本不存在")
    return row


def own_file(row: ProcessVersion) -> str:
    """The file of a version that defines its process (the others are the processes it calls)."""
    for name in sorted(row.files):
        doc = etree.parse(io.BytesIO(row.files[name].encode("utf-8")), safe_parser())
        if doc.xpath("//bpmn:process[@id=$pid]", namespaces={"bpmn": BPMN_NS}, pid=row.process_id):
            return name
    return sorted(row.files)[0]


def recent_instances(db: Session, version_id: int, limit: int = 20) -> list[ProcessInstance]:
    return list(db.scalars(select(ProcessInstance).where(ProcessInstance.version_id == version_id)
                           .order_by(ProcessInstance.id.desc()).limit(limit)))


# -- diff ---------------------------------------------------------------------------------------------------
@dataclass
class Change:
    element_id: str
    name: str
    kind: str  # the BPMN element type (UserTask, ServiceTask, ...)
    details: list[str] = field(default_factory=list)  # what changed, in words


@dataclass
class Diff:
    added: list[Change]
    removed: list[Change]
    changed: list[Change]
    files_changed: list[str]

    @property
    def ids(self) -> dict[str, list[str]]:
        return {k: [c.element_id for c in getattr(self, k)] for k in ("added", "removed", "changed")}


def _change(spec: Any, details: list[str] | None = None) -> Change:
    return Change(str(spec.bpmn_id), str(getattr(spec, "bpmn_name", None) or ""), type(spec).__name__, details or [])


def _props(spec: Any) -> dict[str, str]:
    return dict((getattr(spec, "extensions", None) or {}).get("properties", {}) or {})


def _details(old: Any, new: Any, keys: list[str]) -> list[str]:
    out = []
    for key in keys:
        if key == "extensions":
            a, b = _props(old), _props(new)
            for prop in sorted(set(a) | set(b)):
                if a.get(prop) != b.get(prop):
                    out.append(f"{prop}: {a.get(prop, '—')} → {b.get(prop, '—')}")
            if (getattr(old, "operation_name", None) != getattr(new, "operation_name", None)):
                out.append(f"handler: {getattr(old, 'operation_name', '—')} → {getattr(new, 'operation_name', '—')}")
            if not out:
                out.append(key)
        elif key == "operation_name":
            out.append(f"handler: {getattr(old, key, '—')} → {getattr(new, key, '—')}")
        else:
            out.append(key)
    return out


def diff(runtime: Any, db: Session, old_id: int, new_id: int) -> Diff:
    """SpiffWorkflow's own SpecDiff of two versions' top-level process, in the elements the diagram draws."""
    old_row, new_row = version(db, old_id), version(db, new_id)
    old_spec = runtime.registry.load(db, old_id).spec
    new_spec = runtime.registry.load(db, new_id).spec
    result = SpecDiff(SERIALIZER.registry, old_spec, new_spec)
    added = [_change(s) for s in result.added if getattr(s, "bpmn_id", None)]
    removed = [_change(s) for s in result.removed if getattr(s, "bpmn_id", None)]
    changed = []
    for spec, keys in result.changed.items():
        if not getattr(spec, "bpmn_id", None):
            continue
        counterpart = result.alignment.get(spec)
        details = _details(spec, counterpart, keys) if counterpart is not None else keys
        changed.append(_change(spec, details))
    names = sorted(set(old_row.files) | set(new_row.files))
    files_changed = [n for n in names if old_row.files.get(n) != new_row.files.get(n)]
    return Diff(sorted(added, key=lambda c: c.element_id), sorted(removed, key=lambda c: c.element_id),
                sorted(changed, key=lambda c: c.element_id), files_changed)


# -- validate and deploy ------------------------------------------------------------------------------------
class _GivenFiles(SpecRegistry):
    """SpecRegistry.deploy over the files on disk with the edited one put in."""

    def __init__(self, directories: list[Path], name: str, text: str):
        super().__init__(directories)
        self._edited = (name, text)

    def read_files(self) -> dict[str, str]:
        files = super().read_files()
        files[self._edited[0]] = self._edited[1]
        return files


def handlers(runtime: Any) -> set[str]:
    return set(runtime.extensions.handlers) | set(runtime.extensions.senders)


def file_name_problem(name: str) -> Problem | None:
    if not FILE_NAME.match(name or ""):
        return Problem(name or "-", "", "文件名须为字母、数字、下划线、点或连字符，并以 .bpmn 结尾")
    return None


def validate(runtime: Any, name: str, text: str) -> list[Problem]:
    """The CLI's checks over the files on disk with this one put in (so calls to shipped processes resolve)."""
    bad_name = file_name_problem(name)
    if bad_name is not None:
        return [bad_name]
    files = _GivenFiles(runtime.registry.directories, name, text).read_files()
    return check_files(needed_files(files, name), handlers(runtime))


def needed_files(files: dict[str, str], name: str) -> dict[str, str]:
    """The edited file and the files of the processes it calls (transitively): what its versions contain,
    so a problem in an unrelated file on disk is not the page's to report."""
    ns = {"bpmn": BPMN_NS}
    defines: dict[str, str] = {}
    calls: dict[str, set[str]] = {}
    for file, xml in files.items():
        try:
            doc = etree.parse(io.BytesIO(xml.encode("utf-8")), safe_parser())
        except etree.XMLSyntaxError:
            calls[file] = set()
            continue
        for pid in doc.xpath("//bpmn:process/@id", namespaces=ns):
            defines.setdefault(str(pid), file)
        calls[file] = {str(c) for c in doc.xpath("//bpmn:callActivity/@calledElement", namespaces=ns)}
    wanted, todo = {name}, [name]
    while todo:
        for called in calls.get(todo.pop(), set()):
            target = defines.get(called)
            if target and target not in wanted:
                wanted.add(target)
                todo.append(target)
    return {f: files[f] for f in sorted(wanted)}


def store(runtime: Any, db: Session, name: str, text: str) -> list[ProcessVersion]:
    """SpecRegistry.deploy in the caller's transaction (validated text only: see deploy)."""
    return _GivenFiles(runtime.registry.directories, name, text).deploy(db)


def deploy(runtime: Any, db: Session, name: str, text: str) -> tuple[list[Problem], list[ProcessVersion]]:
    """Validate, then deploy in the caller's transaction; nothing is stored when there is any error."""
    problems = validate(runtime, name, text)
    if errors(problems):
        return problems, []
    return problems, store(runtime, db, name, text)
