"""Spec-less workflow serialization.

A serialized instance embeds its whole spec (about half of the JSON). We drop
`spec` and `subprocess_specs` on save and, on load, rebuild the workflow around
the parsed spec objects cached for its version instead of restoring the spec
from JSON every time: smaller rows and faster loads.
"""
from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_SPEC_KEYS = ("spec", "subprocess_specs")
_WORKFLOW_CONVERTER = SERIALIZER.registry.convert_from_dict["BpmnWorkflow"].args[0].__self__


def dump_workflow(workflow: BpmnWorkflow) -> str:
    registry = SERIALIZER.registry
    registry._encoder_mode = True  # the same conversion serialize_json does, minus the spec
    try:
        dct = SERIALIZER.to_dict(workflow)
    finally:
        registry._encoder_mode = False
    for key in _SPEC_KEYS:
        dct.pop(key, None)
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
