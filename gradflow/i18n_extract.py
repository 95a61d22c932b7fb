"""Babel extractors registered in babel.cfg: the catalogue takes the texts the platform shows from where they
are declared, never from a list kept by hand (here in gradflow, the layer that may read the process registry).

- `bpmn`: every status label of a BPMN file (``spiffworkflow:property name="statusLabel"``); a label with
  ``{decided_level_label}`` is expanded with each level label the file's lanes or review declare. Also the
  process names and the names of the named flow elements (tasks, events, gateways, sequence flows, lanes,
  pools, call activities) that contain Chinese.
- `dictionary`: the names and labels of a fixed dictionary file (domain/data/*.json: destination types,
  industries, unit natures, job categories, termination reasons).
- `modules`: the module, start and header-link titles and descriptions the process registry declares, the
  permission areas and levels, and the code lists of a graduate's basic information (gender, education ...).
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

_STATUS = re.compile(r'name="statusLabel" value="([^"]+)"')
_LEVEL = re.compile(r'name="levelLabel" value="([^"]+)"')
# every named element of a flow: a user task's name is a work item's title (inbox, history); the others are
# what the admin's instance page and the diagrams show (tasks, events, gateways, sequence flows, lanes, pools)
_ELEMENT = re.compile(r'<bpmn:(userTask|task|scriptTask|serviceTask|manualTask|sendTask|receiveTask|businessRuleTask'
                      r'|callActivity|subProcess|transaction|adHocSubProcess|startEvent|endEvent|boundaryEvent'
                      r'|intermediateCatchEvent|intermediateThrowEvent|exclusiveGateway|parallelGateway'
                      r'|inclusiveGateway|eventBasedGateway|complexGateway|sequenceFlow|lane|participant)'
                      r'\b[^>]*?\bname="([^"]+)"')
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # a name without Chinese is an identifier
_PROCESS = re.compile(r'<bpmn:process\b[^>]*?\bname="([^"]+)"')  # a process kind (inbox, admin, library)
LEVEL_LABELS = ("院系", "学校")  # the review levels (processes/review/review.bpmn levelLabel)
_Found = Iterator[tuple[int, str | None, str, list[str]]]


def extract_bpmn(fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: dict) -> _Found:
    text = fileobj.read().decode("utf-8")
    levels = sorted(set(_LEVEL.findall(text)) | set(LEVEL_LABELS))
    for match in _STATUS.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        label = match.group(1)
        if "{decided_level_label}" in label:
            for level in levels:
                yield line, None, label.replace("{decided_level_label}", level), ["status label"]
        else:
            yield line, None, label, ["status label"]
    for match in _LEVEL.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, None, match.group(1), ["review level"]
    for match in _ELEMENT.finditer(text):
        name = html.unescape(match.group(2))
        if _CJK.search(name):
            kind = re.sub(r"(?<!^)([A-Z])", r" \1", match.group(1)).lower()  # exclusiveGateway: exclusive gateway
            yield text.count("\n", 0, match.start()) + 1, None, name, [kind]
    for match in _PROCESS.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, None, match.group(1), ["process"]


def extract_dictionary(fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: dict) -> _Found:
    data = json.loads(fileobj.read().decode("utf-8"))
    keys = {"name", "label", "title"}

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for value in walk(data):
        yield 0, None, value, ["dictionary"]


def extract_modules(fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: dict) -> _Found:
    """Run on processes/__init__.py: the titles every registered module declares."""
    from processes import modules

    seen: set[str] = set()
    for module in modules():
        texts = [module.title, *(s.title for s in module.starts), *(n.title for n in module.nav)]
        if module.entry is not None:
            texts += [module.entry.title, module.entry.description]
        if module.record is not None:
            texts += list(module.record.field_labels.values())
        for text in map(str, texts):  # a form's lazy label gives its msgid outside a request
            if text and text not in seen:
                seen.add(text)
                yield 0, None, text, [f"module {module.name}"]
    from domain.access import AREA_NAMES, PERMISSION_NAMES
    from processes.roster.dictionaries import LISTS, YES_NO

    listed = [*AREA_NAMES.values(), *PERMISSION_NAMES.values(), *(n for _c, n in YES_NO),
              *(n for items in LISTS.values() for _c, n in items)]
    for text in map(str, listed):
        if text not in seen:
            seen.add(text)
            yield 0, None, text, ["code list"]
