"""Hardened parsing of uploaded BPMN XML.

Diagrams arrive from the browser, so the XML is untrusted. XML's dangerous parts are all
in the DTD: external entities read local files or fetch URLs (XXE), and nested internal
entities expand exponentially ("billion laughs"). BPMN never needs a DTD, so any
DOCTYPE or ENTITY declaration is refused outright, before and after parsing, and the
parser itself is configured not to load DTDs, resolve entities or touch the network.
"""

from __future__ import annotations

import io
import re

from lxml import etree

__all__ = ["BPMN_MODEL_NS", "MAX_BPMN_BYTES", "BpmnXmlError", "parse_bpmn_xml"]

MAX_BPMN_BYTES = 2 * 1024 * 1024
BPMN_MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_DEFINITIONS_TAG = f"{{{BPMN_MODEL_NS}}}definitions"

_DTD_MESSAGE = "DTDs and entity declarations are not allowed (XXE / entity expansion)"
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING_DECLARATION = re.compile(
    r"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*)(["'])[^"']*\2""", re.IGNORECASE
)


class BpmnXmlError(ValueError):
    """The upload is not acceptable BPMN XML; `line` is set when the parser knows it."""

    def __init__(self, message: str, line: int | None = None, source: str = "<upload>") -> None:
        self.message = message
        self.line = line
        self.source = source
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {message}")


def _looks_like_dtd(raw: bytes) -> bool:
    """Pre-scan for ``<!DOCTYPE`` / ``<!ENTITY`` in any common encoding.

    Removing NUL bytes turns UTF-16 and UTF-32 text (either byte order) into its ASCII
    skeleton, so one case-insensitive byte search covers UTF-8, Latin-1, UTF-16 and UTF-32.
    A false positive (the text inside a comment) only refuses an unusual file.
    """
    return bool(_DECLARATION.search(raw) or _DECLARATION.search(raw.replace(b"\x00", b"")))


def _to_bytes(data: bytes | bytearray | str) -> bytes:
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_BPMN_BYTES:
            raise BpmnXmlError("file is larger than 2 MiB")
        return bytes(data)
    if not isinstance(data, str):
        raise TypeError(f"BPMN XML must be bytes or str, not {type(data).__name__}")
    if len(data) > MAX_BPMN_BYTES:  # every character is at least one byte
        raise BpmnXmlError("file is larger than 2 MiB")
    # Text is re-encoded as UTF-8, so an encoding declaration must say so too.
    text = _ENCODING_DECLARATION.sub(r"\1\2UTF-8\2", data.lstrip("\ufeff"), count=1)
    raw = text.encode("utf-8")
    if len(raw) > MAX_BPMN_BYTES:
        raise BpmnXmlError("file is larger than 2 MiB")
    return raw


def _parser() -> etree.XMLParser:
    """A fresh parser per call: lxml parsers are not safe to share between threads."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_bpmn_xml(data: bytes | str, source: str = "<upload>") -> etree._ElementTree:
    """Parse untrusted BPMN XML into an lxml tree, or raise :class:`BpmnXmlError`.

    `source` names the upload in error messages. The tree can be handed to
    ``SpiffBpmnParser.add_bpmn_xml``.
    """
    try:
        raw = _to_bytes(data)
    except BpmnXmlError as err:
        raise BpmnXmlError(err.message, source=source) from None
    if _looks_like_dtd(raw):
        raise BpmnXmlError(_DTD_MESSAGE, source=source)
    try:
        tree = etree.parse(io.BytesIO(raw), _parser())
    except etree.XMLSyntaxError as err:
        line = err.lineno if err.lineno else None
        raise BpmnXmlError(f"malformed XML: {err.msg}", line, source) from None
    except (etree.LxmlError, ValueError) as err:
        raise BpmnXmlError(f"malformed XML: {err}", source=source) from None

    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BpmnXmlError(_DTD_MESSAGE, source=source)
    if next(tree.iter(etree.Entity), None) is not None:
        raise BpmnXmlError(_DTD_MESSAGE, source=source)

    root = tree.getroot()
    if root.tag != _DEFINITIONS_TAG:
        raise BpmnXmlError(
            f"not a BPMN 2.0 document: root element is {root.tag}", root.sourceline, source
        )
    return tree


# Local names of BPMN flow nodes (activities, events, gateways): what flows connect.
FLOW_NODE_TAGS = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "callActivity",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)


def executable_processes(tree: etree._ElementTree) -> list[etree._Element]:
    """The file's executable processes, in order; SpiffWorkflow treats a process without
    `isExecutable` as executable, and so do we."""
    return [
        process
        for process in tree.iterfind(f".//{{{BPMN_MODEL_NS}}}process")
        if process.get("isExecutable", "true").strip().lower() == "true"
    ]
