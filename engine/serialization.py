"""Spec-less workflow serialization.

A serialized instance embeds its whole spec (about half of the JSON). We drop
`spec` and `subprocess_specs` on save (never converting them) and, on load, rebuild the workflow around
the parsed spec objects cached for its version instead of restoring the spec
from JSON every time: smaller rows and faster loads.

The JSON is stored zlib-compressed (table instance_state): about 2 KB instead of 11.5 KB for a filing
(bench/step_cost.py, table 3). A step compresses fast (level 1); a finished instance, which is only read
again, is compacted with the strongest level.
"""
from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_WORKFLOW_CONVERTER = SERIALIZER.registry.convert_from_dict["BpmnWorkflow"].args[0].__self__


def dump_workflow(workflow: BpmnWorkflow) -> str:
    """Mirror of BpmnWorkflowConverter.to_dict that never converts the spec (a third of the time it took to
    convert it and drop it): the same dict, key for key, as serialize_json's without `spec`/`subprocess_specs`."""
    registry = SERIALIZER.registry
    conv = _WORKFLOW_CONVERTER
    registry._encoder_mode = True  # the same conversion serialize_json does
    try:
        dct = WorkflowConverter.to_dict(conv, workflow)
        dct["subprocesses"] = conv.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = registry.convert(workflow.bpmn_events)
        dct["typename"] = registry.typenames[type(workflow)]
    finally:
        registry._encoder_mode = False
    dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    return json.dumps(dct, cls=SERIALIZER._encoder_cls, ensure_ascii=False, separators=(",", ":"))


def load_workflow(text: str, spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    """Mirror of BpmnWorkflowConverter.from_dict that takes the cached spec objects."""
    dct = json.loads(text, cls=SERIALIZER.json_decoder_cls)
    SERIALIZER.migrate(dct)
    conv = _WORKFLOW_CONVERTER
    workflow = BpmnWorkflow(spec, subprocess_specs, deserializing=True)
    workflow.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    conv.set_default_attributes(workflow, dct)
    conv.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = SERIALIZER.registry.restore(dct.pop("bpmn_events", []))
    return workflow


RUNNING_LEVEL, FINISHED_LEVEL = 1, 9  # zlib levels: a step pays for compressing; a finished row is written once


def encode_state(text: str, *, finished: bool = False) -> bytes:
    return zlib.compress(text.encode(), FINISHED_LEVEL if finished else RUNNING_LEVEL)


def decode_state(data: bytes) -> str:
    return zlib.decompress(data).decode()


class WorkflowCache:
    """The deserialized workflows of this process's recent steps (an LRU keyed by instance id).

    A step that saved a workflow leaves it here once its transaction commits, under the instance row's
    optimistic version (and process version and creation time) after that commit. The next step takes it only
    when the instance row it has just read carries that same key; any other writer (another process, an admin
    action, a migration) moves the version, so a stale workflow is never served, only missed. A taken workflow
    leaves the cache while its step runs (a step changes it in place): a rolled-back or unsaved step puts
    nothing back, and two threads on one instance never share one."""

    _PENDING = "gradflow.cached_workflows"  # session.info: {instance id: (instance, workflow)} saved, uncommitted
    _LISTENING = "gradflow.workflow_caches"  # session.info: ids of the caches listening to the session's commits

    def __init__(self, size: int = 256):
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple[Any, ...], BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def _key(instance: Any) -> tuple[Any, ...] | None:
        loaded = sa_inspect(instance).dict  # what the row holds now; never a lazy load
        key = tuple(loaded.get(name) for name in ("version", "version_id", "created_at"))
        return None if None in key else key

    def take(self, instance: Any) -> BpmnWorkflow | None:
        if not self.size:
            return None
        key = self._key(instance)
        with self._lock:
            entry = self._entries.pop(instance.id, None)
        if entry is not None and entry[0] == key:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def saved(self, session: Session, instance: Any, workflow: BpmnWorkflow) -> None:
        """The step in `session` stored this workflow for the instance: cache it if and when it commits."""
        if not self.size:
            return
        listening = session.info.setdefault(self._LISTENING, set())
        if id(self) not in listening:  # once per session and cache, for the session's lifetime
            listening.add(id(self))
            event.listen(session, "after_commit", self._committed)
            event.listen(session, "after_soft_rollback", self._rolled_back)
        session.info.setdefault((self._PENDING, id(self)), {})[instance.id] = (instance, workflow)

    def _committed(self, session: Session) -> None:
        for instance_id, (instance, workflow) in session.info.pop((self._PENDING, id(self)), {}).items():
            key = self._key(instance)
            if key is None:
                continue
            with self._lock:
                self._entries[instance_id] = (key, workflow)
                self._entries.move_to_end(instance_id)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)

    def _rolled_back(self, session: Session, _previous_transaction: Any) -> None:
        session.info.pop((self._PENDING, id(self)), None)  # a savepoint's rollback too: what it saved may be undone
