"""Hardened BPMN XML parsing: uploads are untrusted, so DTD tricks must never run."""

from __future__ import annotations

import pytest
from lxml import etree

from engine import bpmn_xml
from engine.bpmn_xml import MAX_BPMN_BYTES, BpmnXmlError, parse_bpmn_xml

MINIMAL_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <!-- designers' comments survive parsing -->
  <bpmn:process id="minimal" isExecutable="true">
    <bpmn:startEvent id="start" />
  </bpmn:process>
</bpmn:definitions>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&e;</bpmn:definitions>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""

DTD_MESSAGE = "DTDs and entity declarations are not allowed"


def test_valid_minimal_bpmn_is_accepted():
    tree = parse_bpmn_xml(MINIMAL_BPMN, "minimal.bpmn")
    assert isinstance(tree, etree._ElementTree)
    assert tree.getroot().tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}definitions"
    assert tree.xpath("//comment()")


def test_bytes_and_other_declared_encodings_are_accepted():
    assert parse_bpmn_xml(MINIMAL_BPMN.encode("utf-8")).getroot() is not None
    latin = MINIMAL_BPMN.replace("UTF-8", "ISO-8859-1")
    assert parse_bpmn_xml(latin).getroot() is not None
    assert parse_bpmn_xml(latin.encode("iso-8859-1")).getroot() is not None


def test_malformed_xml_reports_the_line():
    broken = MINIMAL_BPMN.replace("</bpmn:process>", "</bpmn:proces>")
    with pytest.raises(BpmnXmlError) as info:
        parse_bpmn_xml(broken, "broken.bpmn")
    assert info.value.line == 7
    assert "mismatch" in info.value.message
    assert "broken.bpmn" in str(info.value)


def test_empty_input_is_malformed():
    with pytest.raises(BpmnXmlError):
        parse_bpmn_xml(b"")


@pytest.mark.parametrize("document", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtd_attacks_are_refused(document):
    with pytest.raises(BpmnXmlError) as info:
        parse_bpmn_xml(document)
    assert DTD_MESSAGE in info.value.message
    assert "root:" not in str(info.value)  # /etc/passwd content never appears


@pytest.mark.parametrize(
    "document",
    [
        b'<!doctype x SYSTEM "http://example.com/x.dtd"><x/>',
        b"<x><!ENTITY e 'x'></x>",
        XXE.encode("utf-16"),
        XXE.encode("utf-16-be"),
        XXE.encode("utf-32"),
    ],
    ids=["lowercase-doctype", "stray-entity", "utf-16", "utf-16-be-no-bom", "utf-32"],
)
def test_dtd_is_detected_in_any_spelling_or_encoding(document):
    with pytest.raises(BpmnXmlError, match="DTDs and entity declarations"):
        parse_bpmn_xml(document)


def test_parsed_tree_is_checked_for_a_dtd_too(monkeypatch):
    """Second line of defence: the parsed document's DTD, if the pre-scan were fooled."""
    monkeypatch.setattr(bpmn_xml, "_looks_like_dtd", lambda raw: False)
    with pytest.raises(BpmnXmlError, match="DTDs and entity declarations"):
        parse_bpmn_xml(XXE)
    with pytest.raises(BpmnXmlError, match="DTDs and entity declarations"):
        parse_bpmn_xml("<!DOCTYPE x><x/>")


def test_too_large_is_refused():
    padding = "<!-- " + "x" * MAX_BPMN_BYTES + " -->"
    document = MINIMAL_BPMN.replace("<bpmn:process", padding + "<bpmn:process")
    for data in (document, document.encode("utf-8")):
        with pytest.raises(BpmnXmlError, match="larger than 2 MiB"):
            parse_bpmn_xml(data)


def test_multibyte_text_is_measured_in_bytes():
    padding = "<!-- " + "联" * (MAX_BPMN_BYTES // 2) + " -->"  # fewer chars, more bytes
    document = MINIMAL_BPMN.replace("<bpmn:process", padding + "<bpmn:process")
    assert len(document) < MAX_BPMN_BYTES
    with pytest.raises(BpmnXmlError, match="larger than 2 MiB"):
        parse_bpmn_xml(document)


@pytest.mark.parametrize(
    ("document", "tag"),
    [
        ("<html/>", "html"),
        (
            '<definitions xmlns="http://example.com/other"/>',
            "{http://example.com/other}definitions",
        ),
        (
            '<bpmn:process xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
            "{http://www.omg.org/spec/BPMN/20100524/MODEL}process",
        ),
    ],
)
def test_non_bpmn_root_is_refused(document, tag):
    with pytest.raises(BpmnXmlError) as info:
        parse_bpmn_xml(document)
    assert info.value.message == f"not a BPMN 2.0 document: root element is {tag}"


def test_error_is_a_value_error():
    assert issubclass(BpmnXmlError, ValueError)
    err = BpmnXmlError("boom", 3)
    assert (err.message, err.line) == ("boom", 3)
