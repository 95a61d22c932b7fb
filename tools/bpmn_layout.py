#!/usr/bin/env python3
"""Add (or refresh) BPMN diagram interchange so process files open in a modeler.

The process files under ``processes/`` are written by hand and carry no
``bpmndi`` section, so bpmn.io / Camunda Modeler cannot show them.  This script
computes a plain left-to-right layout and writes a ``bpmndi:BPMNDiagram``:

* one ``BPMNPlane`` per diagram; its ``bpmnElement`` is the collaboration when
  there is one, otherwise the process (one diagram per process).  Every
  sub-process gets a plane of its own (a collapsed shape that a modeler can
  drill into);
* a ``BPMNShape`` for each participant (pool) and lane (``isHorizontal="true"``)
  and for each flow node (events 36x36, gateways 50x50, activities 100x80);
  boundary events sit on the bottom border of the activity they attach to;
* a ``BPMNEdge`` (orthogonal, >= 2 waypoints) for each sequence flow and
  message flow.

Layout: nodes are ranked by the longest path from the start event(s), back
edges (loops) ignored; the rank is the column.  Each node goes into the
horizontal band of its lane (lanes stacked in laneSet order inside the pool);
nodes sharing a lane and a column get separate rows.  Edges take the
orthogonal route with the fewest shapes crossed, then the fewest bends.

Everything outside the diagram is kept byte for byte: the file is parsed with
lxml for analysis only and the new diagram is spliced into the original text
(replacing any existing ``BPMNDiagram``, so running the script again gives the
same file).  Only if that is impossible is the whole document re-serialised
with lxml (XML declaration, UTF-8, the original prefixes).  Missing ``bpmndi``,
``dc`` and ``di`` namespace declarations are added to the root element.

NOTE: SpiffWorkflow sorts the outgoing flows of a node by the y coordinate of
their targets' shapes (without DI all y are 0, so document order is used).
The layout keeps document order among siblings where it can (not across
lanes); any flow whose order changes is reported as a warning.

Usage::

    .venv/bin/python tools/bpmn_layout.py processes/*.bpmn    # rewrite in place
    .venv/bin/python tools/bpmn_layout.py --check processes/*.bpmn   # CI: exit 1 when DI is missing/stale

Only the standard library and lxml are used.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
DI_PREFIXES = (("bpmndi", BPMNDI), ("dc", DC), ("di", DI))

EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
SUBPROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
ACTIVITIES = {
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
} | SUBPROCESSES
FLOW_NODES = EVENTS | GATEWAYS | ACTIVITIES

# geometry (all integers so the output stays tidy)
SIZES = {"event": (36, 36), "gateway": (50, 50), "activity": (100, 80)}
COL_W = 150  # one column: a 100 px slot + 50 px gap
SLOT = 100
ROW_H = 150  # one row of a lane; shapes are centred in it
POOL_LABEL = 30  # the participant's name strip
LANE_LABEL = 30  # a lane's name strip
PAD_X = 40  # space between the label strips / pool border and the first / last column
ORIGIN = (150, 80)
POOL_GAP = 60  # between stacked pools / diagrams
CHANNEL = 8  # distance of a routing channel from its row border
CHANNEL_STEP = 4
BOUNDARY_PER_SIDE = 3  # boundary events on one border of their activity
BOUNDARY_STEP = 40  # between their centres


def bq(local: str) -> str:
    return f"{{{BPMN}}}{local}"


def lname(el) -> str | None:
    if not isinstance(el.tag, str):
        return None  # comment / processing instruction
    return etree.QName(el).localname


def kind_of(local: str) -> str:
    if local in EVENTS:
        return "event"
    if local in GATEWAYS:
        return "gateway"
    return "activity"


def bpmn_children(el, *locals_: str):
    return [
        c for c in el if isinstance(c.tag, str) and etree.QName(c).namespace == BPMN and lname(c) in locals_
    ]


# --------------------------------------------------------------------------- geometry


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self):
        return self.x + self.w / 2

    @property
    def cy(self):
        return self.y + self.h / 2

    @property
    def right(self):
        return self.x + self.w

    @property
    def bottom(self):
        return self.y + self.h

    def port(self, side: str):
        return {
            "left": (self.x, self.cy),
            "right": (self.right, self.cy),
            "top": (self.cx, self.y),
            "bottom": (self.cx, self.bottom),
        }[side]

    def contains(self, other: Box, tol: float = 0.001) -> bool:
        return (
            other.x >= self.x - tol
            and other.y >= self.y - tol
            and other.right <= self.right + tol
            and other.bottom <= self.bottom + tol
        )

    def overlaps(self, other: Box) -> bool:
        return not (
            other.x >= self.right or other.right <= self.x or other.y >= self.bottom or other.bottom <= self.y
        )


@dataclass
class Shape:
    bpmn_id: str
    box: Box
    attrs: dict = field(default_factory=dict)
    kind: str = "activity"  # event / gateway / activity / participant / lane


@dataclass
class Edge:
    bpmn_id: str
    points: list


@dataclass
class Diagram:
    plane_element: str
    shapes: list = field(default_factory=list)
    edges: list = field(default_factory=list)


@dataclass
class NodeInfo:
    """Where a flow node ended up, for routing."""

    box: Box
    rank: int
    band_top: float  # its row in its lane
    band_bottom: float
    row_key: tuple
    local: str
    side: str = ""  # boundary events: the border of the host they sit on


def _segments(points):
    return list(zip(points, points[1:], strict=False))


def _segment_hits(seg, box: Box) -> bool:
    (x1, y1), (x2, y2) = seg
    lo_x, hi_x = sorted((x1, x2))
    lo_y, hi_y = sorted((y1, y2))
    e = 0.5  # touching a border is fine
    return lo_x < box.right - e and hi_x > box.x + e and lo_y < box.bottom - e and hi_y > box.y + e


def _direction(seg):
    (x1, y1), (x2, y2) = seg
    if y1 == y2 and x2 > x1:
        return "+x"
    if y1 == y2 and x2 < x1:
        return "-x"
    if x1 == x2 and y2 > y1:
        return "+y"
    if x1 == x2 and y2 < y1:
        return "-y"
    return None  # diagonal or empty


EXIT_DIR = {"right": "+x", "left": "-x", "bottom": "+y", "top": "-y"}
ENTRY_DIR = {"left": "+x", "right": "-x", "top": "+y", "bottom": "-y"}  # direction of travel when arriving


def _simplify(points):
    """Drop repeated and collinear points; None if the path doubles back on itself or is not orthogonal."""
    pts = []
    for p in points:
        if not pts or p != pts[-1]:
            pts.append(p)
    if len(pts) < 2:
        return None
    dirs = [_direction(s) for s in _segments(pts)]
    if None in dirs:
        return None
    out = [pts[0]]
    for i in range(1, len(pts) - 1):
        d_in, d_out = dirs[i - 1], dirs[i]
        if d_in == d_out:
            continue  # collinear, same direction
        if d_in[1] == d_out[1]:
            return None  # reverses along the same axis
        out.append(pts[i])
    out.append(pts[-1])
    return out


def route(src: Box, dst: Box, exits, entries, xcs, ycs, obstacles):
    """Cheapest orthogonal route from a side of src to a side of dst.

    Candidates are straight, L, Z and U shapes through the given channel
    coordinates; cost = (shapes crossed, bends, length)."""
    best = None
    idx = 0
    for es in exits:
        p0 = src.port(es)
        for en in entries:
            p3 = dst.port(en)
            h_out, h_in = es in ("left", "right"), en in ("left", "right")
            paths = [[p0, p3]]
            if h_out != h_in:
                paths.append([p0, (p3[0], p0[1]) if h_out else (p0[0], p3[1]), p3])
            if h_out and h_in:
                paths += [[p0, (xc, p0[1]), (xc, p3[1]), p3] for xc in xcs]
                paths += [
                    [p0, (xa, p0[1]), (xa, yc), (xb, yc), (xb, p3[1]), p3]
                    for xa in xcs
                    for xb in xcs
                    for yc in ycs
                ]
            if not h_out and not h_in:
                paths += [[p0, (p0[0], yc), (p3[0], yc), p3] for yc in ycs]
            if not h_out and h_in:
                paths += [[p0, (p0[0], yc), (xc, yc), (xc, p3[1]), p3] for yc in ycs for xc in xcs]
            if h_out and not h_in:
                paths += [[p0, (xc, p0[1]), (xc, yc), (p3[0], yc), p3] for xc in xcs for yc in ycs]
            for raw in paths:
                idx += 1
                pts = _simplify(raw)
                if pts is None:
                    continue
                segs = _segments(pts)
                if _direction(segs[0]) != EXIT_DIR[es] or _direction(segs[-1]) != ENTRY_DIR[en]:
                    continue
                crossings = sum(1 for ob in obstacles if any(_segment_hits(s, ob) for s in segs))
                length = sum(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in segs)
                cost = (crossings, len(pts) - 2, length, idx)
                if best is None or cost < best[0]:
                    best = (cost, pts)
    if best is None:  # cannot happen with the candidates above, but never emit no edge
        return [src.port("right"), dst.port("left")]
    return best[1]


# --------------------------------------------------------------------------- layout


@dataclass
class Lane:
    el: object
    depth: int
    children: list = field(default_factory=list)
    box: Box | None = None


@dataclass
class Block:
    """A laid-out process (or sub-process) — one pool or one bare diagram."""

    shapes: list
    edges: list
    lanes: list  # all Lane objects, depth first
    pool: Shape | None
    width: float
    height: float
    x0: float
    nodes: dict  # id -> NodeInfo
    order_changes: list

    def stretch(self, width: float):
        """Give the pool and its lanes their final width."""
        right = self.x0 + width
        if self.pool is not None:
            self.pool.box.w = width
        for lane in self.lanes:
            lane.box.w = right - lane.box.x


def _lane_tree(container):
    roots, flat = [], []

    def walk(lane_set, depth, into):
        for el in bpmn_children(lane_set, "lane"):
            lane = Lane(el, depth)
            into.append(lane)
            flat.append(lane)
            for child_set in bpmn_children(el, "childLaneSet"):
                walk(child_set, depth + 1, lane.children)

    for lane_set in bpmn_children(container, "laneSet"):
        walk(lane_set, 1, roots)
    return roots, flat


def _leaves(lane: Lane):
    if not lane.children:
        return [lane]
    return [leaf for child in lane.children for leaf in _leaves(child)]


def layout_block(container, x0: float, y0: float, with_pool: bool) -> Block:
    nodes = [c for c in container if lname(c) in FLOW_NODES and etree.QName(c).namespace == BPMN]
    by_id = {n.get("id"): n for n in nodes}
    doc_index = {n.get("id"): i for i, n in enumerate(nodes)}
    host_of = {}
    for n in nodes:
        host = n.get("attachedToRef")
        if lname(n) == "boundaryEvent" and host in by_id and lname(by_id[host]) != "boundaryEvent":
            host_of[n.get("id")] = host
    main = [n.get("id") for n in nodes if n.get("id") not in host_of]

    flows = [
        (f.get("id"), f.get("sourceRef"), f.get("targetRef"))
        for f in bpmn_children(container, "sequenceFlow")
        if f.get("sourceRef") in by_id and f.get("targetRef") in by_id
    ]

    # ---- ranking: longest path from the start events, back edges ignored
    def rank_node(i):
        return host_of.get(i, i)

    succ = {i: [] for i in main}
    for fid, s, t in flows:
        succ[rank_node(s)].append((rank_node(t), fid))
    indeg = defaultdict(int)
    for s in succ:
        for t, _ in succ[s]:
            indeg[t] += 1
    starts = [i for i in main if lname(by_id[i]) == "startEvent"]
    roots = starts + [i for i in main if indeg[i] == 0 and i not in starts] + main
    state, back = {}, set()
    for r in roots:
        if r in state:
            continue
        state[r] = 1
        stack = [(r, iter(succ[r]))]
        while stack:
            v, it = stack[-1]
            for w, fid in it:
                if w == v or state.get(w) == 1:
                    back.add(fid)
                elif w not in state:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
            else:
                state[v] = 2
                stack.pop()
    fwd = {v: [(w, fid) for w, fid in succ[v] if fid not in back] for v in main}
    indeg2 = defaultdict(int)
    for v in main:
        for w, _ in fwd[v]:
            indeg2[w] += 1
    rank = {v: 0 for v in main}
    queue = deque(v for v in main if indeg2[v] == 0)
    while queue:
        v = queue.popleft()
        for w, _ in fwd[v]:
            rank[w] = max(rank[w], rank[v] + 1)
            indeg2[w] -= 1
            if indeg2[w] == 0:
                queue.append(w)

    # ---- lanes -> bands
    lane_roots, all_lanes = _lane_tree(container)
    lane_of = {}

    def assign(lanes):
        for lane in lanes:
            for ref in bpmn_children(lane.el, "flowNodeRef"):
                if ref.text and ref.text.strip() in by_id:
                    lane_of[ref.text.strip()] = lane  # a deeper lane overrides its parent
            assign(lane.children)

    assign(lane_roots)
    leaves = [leaf for root in lane_roots for leaf in _leaves(root)]
    bands = list(range(len(leaves)))
    leaf_index = {id(leaf): i for i, leaf in enumerate(leaves)}
    band_of = {}
    for v in main:
        lane = lane_of.get(v)
        band_of[v] = leaf_index[id(_leaves(lane)[0])] if lane is not None else None
    if not leaves or any(b is None for b in band_of.values()):
        bands.append(None)  # nodes outside every lane (or no lanes at all)

    # ---- rows inside a (band, rank) cell
    out_index = {}
    for s in main:
        for k, (_, fid) in enumerate(succ[s]):
            out_index[fid] = k
    preds = defaultdict(list)
    for v in main:
        for w, fid in fwd[v]:
            preds[w].append((v, out_index[fid]))
    cells = defaultdict(list)
    for v in main:
        cells[(band_of[v], rank[v])].append(v)
    row = {}
    for r in sorted(set(rank.values())):
        for b in bands:
            keys = {}
            for v in cells.get((b, r), []):
                same = [(row[u], oi) for u, oi in preds[v] if band_of[u] == b and u in row]
                if same:
                    desired, oi = min(same)
                else:
                    desired, oi = 0, min((oi for _, oi in preds[v]), default=0)
                keys[v] = (desired, oi, doc_index[v])
            last = -1
            for v in sorted(keys, key=keys.get):
                row[v] = max(keys[v][0], last + 1)
                last = row[v]
    rows = {b: 1 + max([row[v] for v in main if band_of[v] == b], default=0) for b in bands}

    # ---- coordinates
    pool_label = POOL_LABEL if with_pool else 0
    max_depth = max((lane.depth for lane in all_lanes), default=0)
    content_x = x0 + pool_label + max_depth * LANE_LABEL + PAD_X
    band_y, y = {}, y0
    for b in bands:
        band_y[b] = y
        y += rows[b] * ROW_H
    height = y - y0
    ncols = 1 + max(rank.values(), default=0)
    width = (content_x - x0) + (ncols - 1) * COL_W + SLOT + PAD_X

    for i, leaf in enumerate(leaves):
        leaf.box = Box(x0 + pool_label + (leaf.depth - 1) * LANE_LABEL, band_y[i], 0, rows[i] * ROW_H)

    def parent_box(lane):
        if lane.children:
            for child in lane.children:
                parent_box(child)
            top = min(c.box.y for c in lane.children)
            bottom = max(c.box.bottom for c in lane.children)
            lane.box = Box(x0 + pool_label + (lane.depth - 1) * LANE_LABEL, top, 0, bottom - top)

    for lane in lane_roots:
        parent_box(lane)

    infos = {}
    for v in main:
        local = lname(by_id[v])
        w, h = SIZES[kind_of(local)]
        cx = content_x + rank[v] * COL_W + SLOT // 2
        top = band_y[band_of[v]] + row[v] * ROW_H
        cy = top + ROW_H // 2
        infos[v] = NodeInfo(
            Box(cx - w // 2, cy - h // 2, w, h), rank[v], top, top + ROW_H, (band_of[v], row[v]), local
        )
    by_host = defaultdict(list)
    for b, host in host_of.items():
        by_host[host].append(b)
    for host, events in by_host.items():
        hi = infos[host]
        hb = hi.box
        events = sorted(events, key=doc_index.get)
        # up to three on the bottom border, 40 px apart and centred; any more go on the top border
        for k, b in enumerate(events):
            side = "bottom" if k < BOUNDARY_PER_SIDE else "top"
            n_side = (
                min(len(events), BOUNDARY_PER_SIDE) if side == "bottom" else len(events) - BOUNDARY_PER_SIDE
            )
            pos = k % BOUNDARY_PER_SIDE if side == "bottom" else k - BOUNDARY_PER_SIDE
            cx = round(hb.cx + (pos - (n_side - 1) / 2) * BOUNDARY_STEP)
            cy = hb.bottom if side == "bottom" else hb.y
            infos[b] = NodeInfo(
                Box(cx - 18, cy - 18, 36, 36),
                hi.rank,
                hi.band_top,
                hi.band_bottom,
                hi.row_key,
                "boundaryEvent",
                side,
            )

    # ---- shapes (document order; boundary events after their hosts' shapes)
    shapes = []
    for n in nodes:
        nid = n.get("id")
        if nid in host_of:
            continue
        attrs = {}
        local = lname(n)
        if local == "exclusiveGateway":
            attrs["isMarkerVisible"] = "true"
        if local in SUBPROCESSES:
            attrs["isExpanded"] = "false"
        shapes.append(Shape(nid, infos[nid].box, attrs, kind_of(local)))
    for n in nodes:
        if n.get("id") in host_of:
            shapes.append(Shape(n.get("id"), infos[n.get("id")].box, {}, "event"))

    # ---- edges
    obstacles = [s.box for s in shapes]
    usage = defaultdict(int)

    def gap_before(r):
        return content_x + r * COL_W - (COL_W - SLOT) // 2

    def gap_after(r):
        return content_x + r * COL_W + SLOT + (COL_W - SLOT) // 2

    edges = []
    for f in bpmn_children(container, "sequenceFlow"):
        fid, s, t = f.get("id"), f.get("sourceRef"), f.get("targetRef")
        if s not in infos or t not in infos:
            continue
        si, ti = infos[s], infos[t]
        if si.local == "boundaryEvent":
            exits = [si.side]
        elif si.local in GATEWAYS:
            exits = ["bottom", "top", "right"]
        else:
            exits = ["right", "bottom", "top"]
        entries = ["left", "top", "bottom"]
        xcs = sorted({gap_after(si.rank), gap_before(ti.rank), gap_before(si.rank), gap_after(ti.rank)})
        channels = {}
        for info in (si, ti):
            for where in ("top", "bottom"):
                key = (info.row_key, where)
                k = min(usage[key], 2)
                off = CHANNEL + CHANNEL_STEP * k
                channels[info.band_top + off if where == "top" else info.band_bottom - off] = key
        pts = route(si.box, ti.box, exits, entries, xcs, sorted(channels), obstacles)
        for p in pts[1:-1]:
            if p[1] in channels:
                usage[channels[p[1]]] += 1
        edges.append(Edge(fid, pts))

    # ---- what SpiffWorkflow will make of it (it orders outgoing flows by target y)
    order_changes = []
    for s in by_id:
        outs = [(fid, t) for fid, s2, t in flows if s2 == s]
        if len(outs) > 1:
            by_y = sorted(outs, key=lambda o: infos[o[1]].box.y)
            if by_y != outs:
                order_changes.append((s, lname(by_id[s]), [o[0] for o in outs], [o[0] for o in by_y]))

    return Block(shapes, edges, all_lanes, None, width, height, x0, infos, order_changes)


def layout(root) -> tuple[list[Diagram], list]:
    """All diagrams for a definitions element, plus SpiffWorkflow order changes."""
    processes = {p.get("id"): p for p in bpmn_children(root, "process")}
    diagrams, changes = [], []
    sub_queue = []
    covered = set()

    for collab in bpmn_children(root, "collaboration"):
        diagram = Diagram(collab.get("id"))
        x0, y = ORIGIN
        blocks = []
        for part in bpmn_children(collab, "participant"):
            proc = processes.get(part.get("processRef"))
            if proc is not None:
                block = layout_block(proc, x0, y, with_pool=True)
                covered.add(proc.get("id"))
                sub_queue += [c for c in proc if lname(c) in SUBPROCESSES]
                changes += block.order_changes
            else:  # black-box pool
                block = Block([], [], [], None, 600, 100, x0, {}, [])
            block.pool = Shape(
                part.get("id"), Box(x0, y, 0, block.height), {"isHorizontal": "true"}, "participant"
            )
            blocks.append(block)
            y += block.height + POOL_GAP
        width = max((b.width for b in blocks), default=600)
        for block in blocks:
            block.stretch(width)
            diagram.shapes.append(block.pool)
            diagram.shapes += [
                Shape(lane.el.get("id"), lane.box, {"isHorizontal": "true"}, "lane") for lane in block.lanes
            ]
        for block in blocks:
            diagram.shapes += block.shapes
        for block in blocks:
            diagram.edges += block.edges
        # message flows between pools / flow nodes
        boxes = {s.bpmn_id: s.box for s in diagram.shapes}
        pools = {s.bpmn_id for s in diagram.shapes if s.kind == "participant"}
        obstacles = [s.box for s in diagram.shapes if s.kind not in ("participant", "lane")]
        for mf in bpmn_children(collab, "messageFlow"):
            s, t = boxes.get(mf.get("sourceRef")), boxes.get(mf.get("targetRef"))
            if s is None or t is None:
                continue
            down = s.cy < t.cy
            mid = (s.bottom + t.y) / 2 if down else (t.bottom + s.y) / 2
            # a pool end is met straight above / below the other end
            if mf.get("sourceRef") in pools and s.x <= t.cx <= s.right:
                s = Box(t.cx - 1, s.y, 2, s.h)
            elif mf.get("targetRef") in pools and t.x <= s.cx <= t.right:
                t = Box(s.cx - 1, t.y, 2, t.h)
            pts = route(
                s,
                t,
                ["bottom" if down else "top"],
                ["top" if down else "bottom"],
                [],
                [round(mid)],
                obstacles,
            )
            diagram.edges.append(Edge(mf.get("id"), pts))
        diagrams.append(diagram)

    for pid, proc in processes.items():
        if pid in covered:
            continue
        block = layout_block(proc, *ORIGIN, with_pool=False)
        diagram = Diagram(pid)
        diagram.shapes += [
            Shape(lane.el.get("id"), lane.box, {"isHorizontal": "true"}, "lane") for lane in block.lanes
        ]
        block.stretch(block.width)
        diagram.shapes += block.shapes
        diagram.edges += block.edges
        changes += block.order_changes
        sub_queue += [c for c in proc if lname(c) in SUBPROCESSES]
        diagrams.append(diagram)

    while sub_queue:  # one drill-down plane per sub-process
        sub = sub_queue.pop(0)
        block = layout_block(sub, *ORIGIN, with_pool=False)
        block.stretch(block.width)
        diagram = Diagram(sub.get("id"))
        diagram.shapes += [
            Shape(lane.el.get("id"), lane.box, {"isHorizontal": "true"}, "lane") for lane in block.lanes
        ]
        diagram.shapes += block.shapes
        diagram.edges += block.edges
        changes += block.order_changes
        sub_queue += [c for c in sub if lname(c) in SUBPROCESSES]
        diagrams.append(diagram)
    return diagrams, changes


# --------------------------------------------------------------------------- check


def required_elements(root):
    """(id, kind) of every element a modeler needs a DI element for."""
    out = []
    for el in root.iter():
        local = lname(el)
        if local is None or etree.QName(el).namespace != BPMN or not el.get("id"):
            continue
        if local in FLOW_NODES or local in ("sequenceFlow", "messageFlow", "participant", "lane"):
            out.append((el.get("id"), local))
    return out


def check(root) -> list[str]:
    """Problems a modeler would stumble on: missing DI, DI pointing nowhere, invalid DI."""
    problems = []
    di_refs = defaultdict(list)
    for el in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge", f"{{{BPMNDI}}}BPMNPlane"):
        di_refs[el.get("bpmnElement")].append(el)
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for eid, local in required_elements(root):
        if eid not in di_refs:
            problems.append(f"{eid} ({local}) has no DI element")
    for ref, els in di_refs.items():
        if ref is None or ref not in ids:
            problems.append(f"DI element {els[0].get('id')} refers to unknown element {ref!r}")
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        if shape.find(f"{{{DC}}}Bounds") is None:
            problems.append(f"BPMNShape {shape.get('id')} has no dc:Bounds")
    for edge in root.iter(f"{{{BPMNDI}}}BPMNEdge"):
        if len(edge.findall(f"{{{DI}}}waypoint")) < 2:
            problems.append(f"BPMNEdge {edge.get('id')} has fewer than two di:waypoint")
    return problems


# --------------------------------------------------------------------------- writing


def _fmt(v) -> str:
    v = round(float(v), 2)
    return str(int(v)) if v == int(v) else str(v)


def render(diagrams, prefixes, taken_ids, indent="  ", level=1) -> str:
    """The BPMNDiagram elements as text, one element per line, ending with a newline."""
    p_di, p_dc, p_wp = prefixes["bpmndi"], prefixes["dc"], prefixes["di"]
    taken = set(taken_ids)

    def new_id(base):
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        return candidate

    lines = []

    def line(depth, text):
        lines.append(indent * (level + depth) + text)

    for d in diagrams:
        line(0, f"<{p_di}:BPMNDiagram id={quoteattr(new_id(d.plane_element + '_diagram'))}>")
        line(
            1,
            f"<{p_di}:BPMNPlane id={quoteattr(new_id(d.plane_element + '_plane'))} "
            f"bpmnElement={quoteattr(d.plane_element)}>",
        )
        for s in d.shapes:
            extra = "".join(f" {k}={quoteattr(v)}" for k, v in s.attrs.items())
            line(
                2,
                f"<{p_di}:BPMNShape id={quoteattr(new_id(s.bpmn_id + '_di'))} "
                f"bpmnElement={quoteattr(s.bpmn_id)}{extra}>",
            )
            b = s.box
            line(
                3,
                f'<{p_dc}:Bounds x="{_fmt(b.x)}" y="{_fmt(b.y)}" width="{_fmt(b.w)}" height="{_fmt(b.h)}" />',
            )
            line(2, f"</{p_di}:BPMNShape>")
        for e in d.edges:
            line(
                2,
                f"<{p_di}:BPMNEdge id={quoteattr(new_id(e.bpmn_id + '_di'))} bpmnElement={quoteattr(e.bpmn_id)}>",
            )
            for x, y in e.points:
                line(3, f'<{p_wp}:waypoint x="{_fmt(x)}" y="{_fmt(y)}" />')
            line(2, f"</{p_di}:BPMNEdge>")
        line(1, f"</{p_di}:BPMNPlane>")
        line(0, f"</{p_di}:BPMNDiagram>")
    return "\n".join(lines) + "\n"


def choose_prefixes(root):
    """Prefixes for the DI namespaces: the root's own if declared, else bpmndi/dc/di (made unique)."""
    nsmap = {k: v for k, v in root.nsmap.items()}
    uri_to_prefix = {v: k for k, v in nsmap.items() if k}
    prefixes, missing = {}, {}
    for want, uri in DI_PREFIXES:
        if uri in uri_to_prefix:
            prefixes[want] = uri_to_prefix[uri]
            continue
        p, n = want, 1
        while p in nsmap or p in missing:
            n += 1
            p = f"{want}{n}"
        prefixes[want] = p
        missing[p] = uri
    return prefixes, missing


_ATTRS = r"""(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*"""


def _line_start(text, pos):
    start = text.rfind("\n", 0, pos) + 1
    return start if text[start:pos].strip() == "" else pos


def _markup(pattern, text, start=0):
    """re.finditer over text, skipping matches inside comments, CDATA sections and processing instructions."""
    hidden = [
        (m.start(), m.end()) for m in re.finditer(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", text, re.S)
    ]
    for m in re.compile(pattern).finditer(text, start):
        if not any(a <= m.start() < b for a, b in hidden):
            yield m


def splice(text: str, root, di_text: str, missing_ns: dict) -> str | None:
    """Put di_text in place of the old diagrams (or before </definitions>) without touching anything else."""
    n_old = len(root.findall(f"{{{BPMNDI}}}BPMNDiagram"))
    spans = []
    for m in _markup(r"<(?:([A-Za-z_][\w.-]*):)?BPMNDiagram\b(" + _ATTRS + r")(/?)>", text):
        prefix = m.group(1)
        end = m.end()
        if not m.group(3):
            close = r"</" + (re.escape(prefix) + ":" if prefix else "") + r"BPMNDiagram\s*>"
            cm = next(_markup(close, text, m.end()), None)
            if cm is None:
                return None
            end = cm.end()
        spans.append((m.start(), end))
    if len(spans) != n_old:
        return None  # e.g. a diagram inside a comment: let lxml do it
    if spans:
        pieces, pos, insert_at = [], 0, None
        for start, end in spans:
            line_start = text.rfind("\n", 0, start) + 1
            if text[line_start:start].strip() == "":  # the diagram has its own line(s): take them whole
                start = line_start
                nl = re.match(r"[ \t]*\r?\n", text[end:])
                if nl:
                    end += nl.end()
            pieces.append(text[pos:start])
            if insert_at is None:
                insert_at = sum(len(p) for p in pieces)
            pos = end
        pieces.append(text[pos:])
        text = "".join(pieces)
    else:
        if root.find(bq("relationship")) is not None:
            return None  # diagrams must come before relationships; rare enough to leave to lxml
        closes = list(_markup(r"</(?:[\w.-]+:)?definitions\s*>", text))
        if not closes:
            return None
        insert_at = _line_start(text, closes[-1].start())
    block = di_text
    if insert_at > 0 and text[insert_at - 1] != "\n":
        block = "\n" + block
    text = text[:insert_at] + block + text[insert_at:]

    if missing_ns:
        root_q = (
            root.prefix + ":" + etree.QName(root).localname if root.prefix else etree.QName(root).localname
        )
        m = next(_markup(r"<" + re.escape(root_q) + r"(" + _ATTRS + r")/?>", text), None)
        if m is None:
            return None
        attrs = m.group(1)
        decls = list(re.finditer(r"(\s+)xmlns(?::[\w.-]+)?\s*=\s*(?:\"[^\"]*\"|'[^']*')", attrs))
        if decls:
            sep, at = decls[-1].group(1), m.start(1) + decls[-1].end()
        else:
            sep, at = " ", m.start(1)
        new = "".join(f"{sep}xmlns:{p}={quoteattr(uri)}" for p, uri in missing_ns.items())
        text = text[:at] + new + text[at:]
    return text


def _signature(root):
    """The document minus its diagrams, insensitive to whitespace between elements."""
    root = copy.deepcopy(root)
    for d in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        d.getparent().remove(d)
    return [
        (
            str(el.tag),
            sorted(el.attrib.items()) if isinstance(el.tag, str) else None,
            (el.text or "").strip(),
            (el.tail or "").strip(),
        )
        for el in root.iter()
    ]


def _parse(data: bytes):
    parser = etree.XMLParser(remove_blank_text=False, remove_comments=False, resolve_entities=False)
    return etree.fromstring(data, parser)


def relayout(data: bytes) -> tuple[bytes, list[Diagram], list]:
    """The file's bytes with a fresh diagram section."""
    root = _parse(data)
    diagrams, changes = layout(root)
    prefixes, missing = choose_prefixes(root)
    ids = {
        el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id") and not _in_diagram(el)
    }
    m = re.search(r"\n([ \t]+)<", data.decode("utf-8", "replace"))
    indent = m.group(1) if m else "  "
    di_text = render(diagrams, prefixes, ids, indent=indent)

    def verify(new: bytes) -> bool:
        try:
            new_root = _parse(new)
        except etree.XMLSyntaxError:
            return False
        n_shapes = sum(len(d.shapes) for d in diagrams)
        return (
            _signature(new_root) == _signature(root)
            and len(new_root.findall(f"{{{BPMNDI}}}BPMNDiagram")) == len(diagrams)
            and len(list(new_root.iter(f"{{{BPMNDI}}}BPMNShape"))) == n_shapes
        )

    text = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = re.match(rb"""<\?xml[^>]*encoding=["']([^"']+)""", data)
    if text is not None and (declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")):
        spliced = splice(text, root, di_text, missing)
        if spliced is not None and verify(spliced.encode("utf-8")):
            return spliced.encode("utf-8"), diagrams, changes

    # fallback: let lxml serialise the document, then splice into that
    tree_root = copy.deepcopy(root)
    for d in tree_root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        d.getparent().remove(d)
    etree.cleanup_namespaces(tree_root, top_nsmap=missing, keep_ns_prefixes=[p for p in root.nsmap if p])
    base = etree.tostring(tree_root.getroottree(), xml_declaration=True, encoding="UTF-8").decode("utf-8")
    base_root = _parse(base.encode("utf-8"))
    spliced = splice(base, base_root, di_text, {})
    if spliced is None or not verify(spliced.encode("utf-8")):
        raise RuntimeError("could not insert the diagram")
    return spliced.encode("utf-8"), diagrams, changes


def _in_diagram(el) -> bool:
    """el is a BPMNDiagram or inside one."""
    return el.tag == f"{{{BPMNDI}}}BPMNDiagram" or any(
        a.tag == f"{{{BPMNDI}}}BPMNDiagram" for a in el.iterancestors()
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 listing flow nodes / flows / lanes / pools without DI",
    )
    args = ap.parse_args(argv)
    status = 0
    for path in args.files:
        data = path.read_bytes()
        if args.check:
            try:
                problems = check(_parse(data))
            except etree.XMLSyntaxError as exc:
                problems = [f"not well-formed XML: {exc}"]
            if problems:
                status = 1
                print(f"{path}: {len(problems)} problem(s)")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"{path}: ok")
            continue
        try:
            new, diagrams, changes = relayout(data)
        except (etree.XMLSyntaxError, RuntimeError) as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            status = 1
            continue
        shapes = sum(len(d.shapes) for d in diagrams)
        edges = sum(len(d.edges) for d in diagrams)
        if new != data:
            path.write_bytes(new)
            print(f"{path}: wrote {len(diagrams)} diagram(s), {shapes} shapes, {edges} edges")
        else:
            print(f"{path}: unchanged")
        for node, local, before, after in changes:
            print(
                f"{path}: note: SpiffWorkflow orders the outgoing flows of {local} {node!r} by target y: "
                f"{', '.join(after)} (document order: {', '.join(before)})",
                file=sys.stderr,
            )
    return status


if __name__ == "__main__":
    sys.exit(main())
