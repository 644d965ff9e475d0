"""The shipped workflows carry a complete diagram (BPMN DI), so bpmn-js draws them with lanes.

Every participant, lane, flow node and sequence flow has a shape or an edge, and each flow
node is drawn inside the lane that lists it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bpmn_xml import BPMN_MODEL_NS, FLOW_NODE_TAGS, parse_bpmn_xml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.bpmn"))
NS = {
    "bpmn": BPMN_MODEL_NS,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}


def local(element) -> str:
    return element.tag.rpartition("}")[2]


def bounds(shape) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a BPMNShape."""
    box = shape.find("dc:Bounds", NS)
    x, y = float(box.get("x")), float(box.get("y"))
    return x, y, x + float(box.get("width")), y + float(box.get("height"))


@pytest.fixture(params=WORKFLOWS, ids=lambda path: path.stem)
def tree(request):
    return parse_bpmn_xml(request.param.read_bytes(), source=request.param.name)


def test_every_workflow_is_checked():
    assert len(WORKFLOWS) >= 7


def test_every_element_has_a_shape_or_edge(tree):
    shapes = {s.get("bpmnElement") for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {
        e.get("bpmnElement")
        for e in tree.iterfind(".//bpmndi:BPMNEdge", NS)
        if len(e.findall("di:waypoint", NS)) >= 2
    }
    drawn = [
        *tree.iterfind(".//bpmn:participant", NS),
        *tree.iterfind(".//bpmn:lane", NS),
        *(el for el in tree.iter(f"{{{BPMN_MODEL_NS}}}*") if local(el) in FLOW_NODE_TAGS),
    ]
    flows = [f.get("id") for f in tree.iterfind(".//bpmn:sequenceFlow", NS)]
    assert drawn and flows
    assert [el.get("id") for el in drawn if el.get("id") not in shapes] == []
    assert [flow for flow in flows if flow not in edges] == []


def test_flow_nodes_lie_inside_their_lane(tree):
    shapes = {s.get("bpmnElement"): bounds(s) for s in tree.iterfind(".//bpmndi:BPMNShape", NS)}
    outside = []
    for lane in tree.iterfind(".//bpmn:lane", NS):
        left, top, right, bottom = shapes[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x1, y1, x2, y2 = shapes[ref.text]
            if not (left <= x1 and x2 <= right and top <= y1 and y2 <= bottom):
                outside.append((ref.text, lane.get("name")))
    assert outside == []
