"""The BPMN process files open in a modeler and still load in the engine.

rule REV-1: processes/review/review.bpmn is the shared two-level (院系 / 学校) review.
rule DST-1: processes/destination/destination_filing.bpmn is the other-destination filing, which calls the review.

Every file under processes/ must carry diagram interchange (bpmndi) for each
flow node and sequence flow (``tools/bpmn_layout.py`` writes it), must pass
SpiffWorkflow's XSD validation with that DI, and the DI must not change what
the engine does.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

ROOT = Path(__file__).resolve().parents[1]
PROCESS_DIR = ROOT / "processes"
TOOL = ROOT / "tools" / "bpmn_layout.py"
PROCESS_FILES = sorted(PROCESS_DIR.rglob("*.bpmn"))
RULES = {"review.bpmn": "REV-1", "destination_filing.bpmn": "DST-1"}

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOW_NODES = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
}

files = pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"{p.name}:{RULES.get(p.name, 'unmapped')}") for p in PROCESS_FILES]
)


def _load_tool():
    spec = importlib.util.spec_from_file_location("bpmn_layout", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _root(path: Path):
    return etree.parse(str(path), etree.XMLParser(remove_blank_text=False)).getroot()


def _parser(texts: dict[str, bytes]) -> SpiffBpmnParser:
    """All process files together, as engine.specs does (a call activity needs the called file)."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name in sorted(texts):
        parser.add_bpmn_xml(etree.fromstring(texts[name]).getroottree(), filename=name)
    return parser


def _bounds(el):
    b = el.find("dc:Bounds", NS)
    return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))


def _inside(inner, outer):
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return x >= ox and y >= oy and x + w <= ox + ow and y + h <= oy + oh


def _overlap(a, b):
    return not (b[0] >= a[0] + a[2] or b[0] + b[2] <= a[0] or b[1] >= a[1] + a[3] or b[1] + b[3] <= a[1])


def test_there_are_process_files():
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: both processes exist, so the parametrised checks below really run for them."""
    assert {"review.bpmn", "destination_filing.bpmn"} <= {p.name for p in PROCESS_FILES}


@files
def test_every_flow_node_and_sequence_flow_has_di(path):
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: each flow node, sequence flow, lane and pool has a bpmndi element (bpmnElement)."""
    root = _root(path)
    di_refs = {el.get("bpmnElement") for el in root.iterfind(".//bpmndi:BPMNDiagram//*[@bpmnElement]", NS)}
    wanted = [
        (el.get("id"), etree.QName(el).localname)
        for el in root.iter(f"{{{NS['bpmn']}}}*")
        if etree.QName(el).localname in FLOW_NODES | {"sequenceFlow", "lane", "participant"}
    ]
    assert wanted, "no flow elements found"
    assert [w for w in wanted if w[0] not in di_refs] == []
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane is not None
    collaboration = root.find("bpmn:collaboration", NS)
    expected = collaboration if collaboration is not None else root.find("bpmn:process", NS)
    assert plane.get("bpmnElement") == expected.get("id")
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        assert len(edge.findall("di:waypoint", NS)) >= 2, edge.get("id")


@files
def test_di_shapes_sit_in_their_lanes_and_do_not_overlap(path):
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: the diagram is readable — each node inside its lane, no two nodes on top of each other,
    boundary events on the border of their activity."""
    root = _root(path)
    shapes = {el.get("bpmnElement"): _bounds(el) for el in root.iterfind(".//bpmndi:BPMNShape", NS)}
    nodes = {
        el.get("id"): el for el in root.iter(f"{{{NS['bpmn']}}}*") if etree.QName(el).localname in FLOW_NODES
    }
    lane_of = {}
    for lane in root.iter(f"{{{NS['bpmn']}}}lane"):  # document order: a nested lane overrides its parent
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lane_of[ref.text.strip()] = lane.get("id")
    for node_id, lane_id in lane_of.items():
        assert _inside(shapes[node_id], shapes[lane_id]), f"{node_id} is outside lane {lane_id}"
    for part in root.iterfind("bpmn:collaboration/bpmn:participant", NS):
        proc = root.find(f"bpmn:process[@id='{part.get('processRef')}']", NS)
        for el in proc.iter(f"{{{NS['bpmn']}}}*"):
            if el.get("id") in shapes and etree.QName(el).localname in FLOW_NODES | {"lane"}:
                assert _inside(shapes[el.get("id")], shapes[part.get("id")]), (
                    f"{el.get('id')} is outside its pool"
                )
    ids = [i for i in nodes if i in shapes]
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if nodes[a].get("attachedToRef") == b or nodes[b].get("attachedToRef") == a:
                continue
            assert not _overlap(shapes[a], shapes[b]), f"{a} overlaps {b}"
    for node_id, el in nodes.items():
        host = el.get("attachedToRef")
        if host:
            x, y, w, h = shapes[node_id]
            hx, hy, hw, hh = shapes[host]
            cx, cy = x + w / 2, y + h / 2
            on_border = (hx <= cx <= hx + hw and cy in (hy, hy + hh)) or (
                hy <= cy <= hy + hh and cx in (hx, hx + hw)
            )
            assert on_border, f"boundary event {node_id} is not on the border of {host}"


@files
def test_file_passes_spiff_xsd_validation_and_parses(path):
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: SpiffBpmnParser with the XSD VALIDATOR accepts the file, DI included, and builds its specs."""
    VALIDATOR.validate(_root(path), filename=path.name)
    parser = _parser({p.name: p.read_bytes() for p in PROCESS_FILES})
    for proc in _root(path).iterfind("bpmn:process", NS):
        assert parser.get_spec(proc.get("id")) is not None


def test_review_spec_parses():
    # rule REV-1
    """REV-1: the shared two-level review loads with SpiffBpmnParser + VALIDATOR."""
    parser = _parser({p.name: p.read_bytes() for p in PROCESS_FILES})
    spec = parser.get_spec("review")
    assert {"department_review", "school_review"} <= set(spec.task_specs)


def test_destination_filing_spec_parses():
    # rule DST-1
    """DST-1: destination filing loads with SpiffBpmnParser + VALIDATOR, including the review it calls."""
    parser = _parser({p.name: p.read_bytes() for p in PROCESS_FILES})
    spec = parser.get_spec("destination_filing")
    assert "review_call" in spec.task_specs
    assert "review" in parser.get_subprocess_specs("destination_filing")


def test_di_does_not_change_branch_order():
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: SpiffWorkflow orders a node's outgoing flows by the y of their targets' shapes, so adding
    DI may reorder them.  That is only harmless where a single branch is taken and the conditions are
    mutually exclusive (exclusive gateways); anywhere else the order must stay the document order."""
    with_di = {p.name: p.read_bytes() for p in PROCESS_FILES}
    without_di = {}
    for name, data in with_di.items():
        root = etree.fromstring(data)
        for diagram in root.findall("bpmndi:BPMNDiagram", NS):
            root.remove(diagram)
        without_di[name] = etree.tostring(root)
    a, b = _parser(without_di), _parser(with_di)
    for pid in a.get_process_ids():
        spec_a, spec_b = a.get_spec(pid), b.get_spec(pid)
        for name, task_a in spec_a.task_specs.items():
            outs_a = [t.name for t in task_a.outputs]
            outs_b = [t.name for t in spec_b.task_specs[name].outputs]
            assert sorted(outs_a) == sorted(outs_b), (pid, name)
            if not isinstance(task_a, ExclusiveGateway):
                assert outs_a == outs_b, f"{pid}/{name}: DI reorders branches {outs_a} -> {outs_b}"


def test_layout_check_passes():
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: ``tools/bpmn_layout.py --check processes/*.bpmn`` (the CI gate) passes."""
    result = subprocess.run(
        [sys.executable, str(TOOL), "--check", *map(str, PROCESS_FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@files
def test_layout_tool_only_touches_di_and_is_idempotent(path):
    # rule REV-1
    # rule DST-1
    """REV-1 / DST-1: re-running the layout tool (in memory) keeps every byte outside the diagram and is stable."""
    tool = _load_tool()
    data = path.read_bytes()
    once, _, _ = tool.relayout(data)
    twice, _, _ = tool.relayout(once)
    assert once == twice

    def outside_di(raw: bytes) -> bytes:
        raw = re.sub(rb"(?ms)^[ \t]*<bpmndi:BPMNDiagram\b.*?</bpmndi:BPMNDiagram>\r?\n?", b"", raw)
        return re.sub(rb'\s+xmlns:(?:bpmndi|dc|di)="[^"]*"', b"", raw)

    assert outside_di(once) == outside_di(data)
    assert tool.check(etree.fromstring(once)) == []
