"""Process versions: parse BPMN files, hash what each process needs, cache parsed specs.

A version is the sha256 of the files a process needs (its own file plus the
files of the processes it calls). The BPMN text is kept in the database so an
instance can always be loaded with the exact version it started on.

Deploying is one explicit step that any number of processes may run at once:
each version row is inserted inside a SAVEPOINT, and a caller that loses the
race on the (process_id, content_hash) unique constraint rolls the savepoint
back and takes the row the winner inserted. Which version is the latest is
always read from the database, so a long-running process starts new instances
on a version another process deployed after it started.
"""
from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import EngineError, NotFound
from engine.models import ProcessVersion


@dataclass
class LoadedSpec:
    version_id: int
    process_id: str
    name: str
    spec: object
    subprocess_specs: dict[str, Any]


def _parser_for(files: dict[str, str]) -> SpiffBpmnParser:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for filename in sorted(files):
        doc = etree.parse(io.BytesIO(files[filename].encode("utf-8")))
        parser.add_bpmn_xml(doc, filename=filename)
    return parser


def _dependencies(parser: SpiffBpmnParser, process_id: str) -> set[str]:
    """The files one process needs: its own and those of every process it calls."""
    files = {parser.process_parsers[process_id].filename}
    for sub_id in parser.get_subprocess_specs(process_id):
        if sub_id in parser.process_parsers:
            files.add(parser.process_parsers[sub_id].filename)
    return files


def content_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name].encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def read_process_files(directory: Path) -> dict[str, str]:
    """Every *.bpmn under directory, at any depth, keyed by file name.

    The file name is the key a version row stores and a parser reports, so two
    files of one name (e.g. in different subfolders) are refused, not merged.
    """
    files: dict[str, str] = {}
    seen: dict[str, Path] = {}
    for path in sorted(Path(directory).rglob("*.bpmn")):
        if not path.is_file():
            continue
        if path.name in seen:
            raise EngineError(f"流程文件重名：{seen[path.name]} 与 {path}（文件名须唯一）")
        seen[path.name] = path
        files[path.name] = path.read_text(encoding="utf-8")
    return files


class SpecRegistry:
    """Deploys process files and hands out parsed specs, cached per version in this process.

    Only parsed specs are cached (a version row never changes); which version is the
    latest is asked of the database every time, since another process may deploy.
    """

    def __init__(self, directories: list[Path]):
        self.directories = directories
        self._cache: dict[int, LoadedSpec] = {}
        self._lock = threading.Lock()

    def read_files(self) -> dict[str, str]:
        files: dict[str, str] = {}
        origin: dict[str, Path] = {}
        for directory in self.directories:
            for name, text in read_process_files(directory).items():
                if name in files:
                    raise EngineError(f"流程文件重名：{name} 同时出现在 {origin[name]} 与 {directory}（文件名须唯一）")
                files[name] = text
                origin[name] = Path(directory)
        return files

    def deploy(self, session: Session) -> list[ProcessVersion]:
        """Parse every file; a process whose needed files changed gets a new version row.

        Safe to run from several processes at once: every caller ends with the same rows,
        and each returns the rows it inserted itself. Runs in the caller's transaction and
        leaves it uncommitted. On SQLite, when the session has not begun yet, the
        transaction takes the write lock at BEGIN so concurrent deploys queue up instead of
        failing with 'database is locked'. On PostgreSQL the session must be READ COMMITTED
        (the default) so the row a concurrent winner committed is seen after the conflict.
        """
        files = self.read_files()
        if not session.in_transaction():
            session.connection(execution_options={"sqlite_immediate": True})
        try:
            parser = _parser_for(files)
            new_versions = []
            # One order for every caller: concurrent inserts wait on each other's keys in
            # the same order, so they cannot deadlock.
            for process_id in sorted(parser.get_process_ids()):
                needed = {name: files[name] for name in _dependencies(parser, process_id)}
                digest = content_hash(needed)
                if self._find(session, process_id, digest) is not None:
                    continue
                parser.get_spec(process_id)  # validates the whole process before it is stored
                name = parser.process_parsers[process_id].get_name() or process_id
                row = ProcessVersion(process_id=process_id, content_hash=digest, name=name, files=needed)
                try:
                    with session.begin_nested():
                        session.add(row)
                        session.flush()
                except IntegrityError:
                    # Another deploy inserted (and committed) the same version first: take its row.
                    if self._find(session, process_id, digest) is None:
                        raise
                    continue
                new_versions.append(row)
        except ValidationException as exc:
            raise EngineError(f"流程文件校验失败：{exc}") from exc
        return new_versions

    @staticmethod
    def _find(session: Session, process_id: str, digest: str) -> ProcessVersion | None:
        return session.scalar(
            select(ProcessVersion).where(
                ProcessVersion.process_id == process_id, ProcessVersion.content_hash == digest
            )
        )

    def latest_version_id(self, session: Session, process_id: str) -> int:
        """The newest deployed version of a process, by whichever process deployed it."""
        version_id = session.scalar(
            select(ProcessVersion.id)
            .where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.id.desc())
            .limit(1)
        )
        if version_id is None:
            raise NotFound(f"流程 {process_id} 尚未部署")
        return version_id

    def load(self, session: Session, version_id: int) -> LoadedSpec:
        cached = self._cache.get(version_id)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(version_id)
            if cached is not None:
                return cached
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise NotFound("流程版本不存在")
            parser = _parser_for(row.files)
            spec = parser.get_spec(row.process_id)
            subs = parser.get_subprocess_specs(row.process_id)
            loaded = LoadedSpec(
                version_id=row.id,
                process_id=row.process_id,
                name=row.name,
                spec=spec,
                subprocess_specs=subs,
            )
            self._cache[version_id] = loaded
            return loaded
