"""What changed between two versions: BPMN elements added, removed and changed, and forms.

Computed from the XML (hardened parse), not from SpiffWorkflow specs, so it works for
any two versions, also drafts that do not build. Elements are matched by id; an element
has changed when its name, type, lane, extension properties, form, condition, script,
event definition, incoming or outgoing flows (or another attribute the product reads)
differ. Diagram layout (BPMN DI) is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from engine.bpmn_xml import BPMN_MODEL_NS, FLOW_NODE_TAGS, BpmnXmlError, parse_bpmn_xml
from engine.designer.versions import get_version
from engine.errors import InvalidData
from engine.models import ProcessModel, User

_B = f"{{{BPMN_MODEL_NS}}}"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_S = f"{{{SPIFF_NS}}}"

# Elements a diagram shows (and the diff reports), by local name.
ELEMENT_TAGS = FLOW_NODE_TAGS | {
    "process",
    "lane",
    "sequenceFlow",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
}
# Order in which changed fields are listed.
FIELDS = (
    "type",
    "name",
    "lane",
    "form",
    "properties",
    "condition",
    "default",
    "script",
    "event",
    "attached_to",
    "called_process",
    "source",
    "target",
    "incoming",
    "outgoing",
    "extensions",
    "attributes",
)
_IGNORED_ATTRIBUTES = frozenset(
    {"id", "name", "sourceRef", "targetRef", "default", "calledElement"}
)
_IGNORED_ATTRIBUTES |= {"attachedToRef"}


def type_name(local: str) -> str:
    """The bpmn-js (moddle) type of a BPMN element: `userTask` → `bpmn:UserTask`."""
    return f"bpmn:{local[:1].upper()}{local[1:]}"


@dataclass
class ElementDiff:
    id: str
    name: str | None
    type: str
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        return [_describe(d) for d in self.details]


@dataclass
class BpmnDiff:
    added: list[ElementDiff]
    removed: list[ElementDiff]
    changed: list[ElementDiff]


@dataclass
class FormsDiff:
    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass
class VersionDiff:
    old: ProcessModel
    new: ProcessModel
    elements: BpmnDiff
    forms: FormsDiff


def diff_versions(session: Session, actor: User, version_id: int, against_id: int) -> VersionDiff:
    """What changed from version `against_id` (old) to version `version_id` (new)."""
    new = get_version(session, actor, version_id)
    old = get_version(session, actor, against_id)
    try:
        elements = diff_bpmn(old.bpmn_xml, new.bpmn_xml)
    except BpmnXmlError as exc:  # stored versions are well-formed; be safe anyway
        raise InvalidData(f"a version cannot be read: {exc.message}") from exc
    return VersionDiff(old, new, elements, diff_forms(old.forms or {}, new.forms or {}))


def diff_forms(old: dict[str, Any], new: dict[str, Any]) -> FormsDiff:
    return FormsDiff(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        changed=sorted(
            name for name in set(old) & set(new) if _canonical(old[name]) != _canonical(new[name])
        ),
    )


def diff_bpmn(old_xml: str | bytes, new_xml: str | bytes) -> BpmnDiff:
    """Elements added, removed and changed (matched by id) from `old_xml` to `new_xml`."""
    old = describe_elements(parse_bpmn_xml(old_xml, "old"))
    new = describe_elements(parse_bpmn_xml(new_xml, "new"))
    added = [_summary(new[i]) for i in new if i not in old]
    removed = [_summary(old[i]) for i in old if i not in new]
    changed = []
    for element_id, after in new.items():
        before = old.get(element_id)
        if before is None:
            continue
        details = [
            {"field": name, "before": before.get(name), "after": after.get(name)}
            for name in FIELDS
            if before.get(name) != after.get(name)
        ]
        if details:
            changed.append(ElementDiff(element_id, after.get("name"), after["type"], details))
    return BpmnDiff(added, removed, changed)


def _summary(element: dict[str, Any]) -> ElementDiff:
    return ElementDiff(element["id"], element.get("name"), element["type"])


def _local(element: etree._Element) -> str | None:
    tag = element.tag
    if isinstance(tag, str) and tag.startswith(_B):
        return tag[len(_B) :]
    return None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def describe_elements(tree: etree._ElementTree) -> dict[str, dict[str, Any]]:
    """Element id → what the product reads from it, for every element of every process."""
    root = tree.getroot()
    lanes: dict[str, list[str]] = {}
    for lane in root.iter(f"{_B}lane"):
        label = lane.get("name") or lane.get("id") or ""
        for ref in lane.iterfind(f"{_B}flowNodeRef"):
            if ref.text and ref.text.strip():
                lanes.setdefault(ref.text.strip(), []).append(label)
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow in root.iter(f"{_B}sequenceFlow"):
        flow_id = flow.get("id") or ""
        if flow.get("sourceRef"):
            outgoing.setdefault(flow.get("sourceRef"), []).append(flow_id)
        if flow.get("targetRef"):
            incoming.setdefault(flow.get("targetRef"), []).append(flow_id)
    elements: dict[str, dict[str, Any]] = {}
    for process in root.iter(f"{_B}process"):
        for element in process.iter():
            local = _local(element)
            element_id = element.get("id") if local else None
            if local not in ELEMENT_TAGS or not element_id or element_id in elements:
                continue
            elements[element_id] = _describe_element(element, local, lanes, incoming, outgoing)
    return elements


def _describe_element(
    element: etree._Element,
    local: str,
    lanes: dict[str, list[str]],
    incoming: dict[str, list[str]],
    outgoing: dict[str, list[str]],
) -> dict[str, Any]:
    element_id = element.get("id")
    info: dict[str, Any] = {
        "id": element_id,
        "type": type_name(local),
        "name": (element.get("name") or _text(element.find(f"{_B}text")) or None),
        "attributes": {
            k: v
            for k, v in sorted(element.attrib.items())
            if k not in _IGNORED_ATTRIBUTES and not k.startswith("{")
        }
        or None,
    }
    if local == "lane":
        return info
    if local != "process":
        info["lane"] = ", ".join(sorted(lanes.get(element_id, []))) or None
    if local == "sequenceFlow":
        info["source"] = element.get("sourceRef")
        info["target"] = element.get("targetRef")
        info["condition"] = _text(element.find(f"{_B}conditionExpression"))
    elif local != "process":
        info["incoming"] = sorted(incoming.get(element_id, [])) or None
        info["outgoing"] = sorted(outgoing.get(element_id, [])) or None
    info["default"] = element.get("default")
    info["attached_to"] = element.get("attachedToRef")
    info["called_process"] = element.get("calledElement")
    if local != "process":
        info["script"] = _text(element.find(f"{_B}script"))
        info["event"] = _event_definitions(element)
    extensions = element.find(f"{_B}extensionElements")
    if extensions is not None:
        form = extensions.find(f"{_S}formJsonSchemaFilename")
        info["form"] = _text(form)
        properties = {
            p.get("name"): p.get("value")
            for p in extensions.iter(f"{_S}property")
            if p.get("name") is not None
        }
        info["properties"] = properties or None
        rest = [
            _canonical_xml(child)
            for child in extensions
            if isinstance(child.tag, str)
            and child.tag not in (f"{_S}formJsonSchemaFilename", f"{_S}properties")
        ]
        info["extensions"] = rest or None
    return info


def _event_definitions(element: etree._Element) -> list[str] | None:
    definitions = []
    for child in element:
        local = _local(child)
        if not local or not local.endswith("EventDefinition"):
            continue
        parts = [local.removesuffix("EventDefinition")]
        for attribute in ("messageRef", "signalRef", "errorRef", "escalationRef"):
            if child.get(attribute):
                parts.append(f"{attribute}={child.get(attribute)}")
        for timer in ("timeDate", "timeDuration", "timeCycle", "condition"):
            if (value := _text(child.find(f"{_B}{timer}"))) is not None:
                parts.append(f"{timer}={value}")
        definitions.append(" ".join(parts))
    return definitions or None


def _canonical_xml(element: etree._Element) -> str:
    text = etree.tostring(element, method="c14n", with_comments=False).decode("utf-8")
    return " ".join(text.split())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _describe(detail: dict[str, Any]) -> str:
    return f"{detail['field']}: {_show(detail['before'])} → {_show(detail['after'])}"
