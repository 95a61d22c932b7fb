"""Process versions: parse BPMN files, hash what each process needs, cache parsed specs.

A version is the sha256 of the files a process needs (its own file plus the
files of the processes it calls). The BPMN text is kept in the database so an
instance can always be loaded with the exact version it started on.
"""
from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import EngineError, NotFound
from engine.models import ProcessVersion


@dataclass
class LoadedSpec:
    version_id: int
    process_id: str
    name: str
    spec: object
    subprocess_specs: dict


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
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(directory).glob("*.bpmn"))}


class SpecRegistry:
    """Deploys process files and hands out parsed specs, cached per version in this process."""

    def __init__(self, directories: list[Path]):
        self.directories = directories
        self._cache: dict[int, LoadedSpec] = {}
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    def deploy(self, session: Session) -> list[ProcessVersion]:
        """Parse every file; a process whose needed files changed gets a new version row."""
        files: dict[str, str] = {}
        for directory in self.directories:
            files.update(read_process_files(directory))
        try:
            parser = _parser_for(files)
            process_ids = parser.get_process_ids()
            new_versions = []
            for process_id in process_ids:
                needed = {name: files[name] for name in _dependencies(parser, process_id)}
                digest = content_hash(needed)
                row = session.scalar(
                    select(ProcessVersion).where(
                        ProcessVersion.process_id == process_id, ProcessVersion.content_hash == digest
                    )
                )
                if row is None:
                    parser.get_spec(process_id)  # validates the whole process before it is stored
                    name = parser.process_parsers[process_id].get_name() or process_id
                    row = ProcessVersion(process_id=process_id, content_hash=digest, name=name, files=needed)
                    session.add(row)
                    session.flush()
                    new_versions.append(row)
                self._latest[process_id] = row.id
        except ValidationException as exc:
            raise EngineError(f"流程文件校验失败：{exc}") from exc
        return new_versions

    def latest_version_id(self, session: Session, process_id: str) -> int:
        version_id = self._latest.get(process_id)
        if version_id is None:
            version_id = session.scalar(
                select(ProcessVersion.id)
                .where(ProcessVersion.process_id == process_id)
                .order_by(ProcessVersion.id.desc())
                .limit(1)
            )
            if version_id is None:
                raise NotFound(f"流程 {process_id} 尚未部署")
            self._latest[process_id] = version_id
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
