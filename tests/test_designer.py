"""Workflow designers through the engine: versions, validation, diff, dry run, migration.

On every configured database. The shipped suggestion workflow is version 1; it calls the
shared subprocesses (`common_handling`, `common_follow_up`), which are process models of
their own. The designer's edits are made on a self-contained suggestion diagram
(tests/fixtures/suggestion_standalone.bpmn: register → draft → leader_approve → reply →
file), which a designer may deploy as the suggestion's next version; variants of it (a
step's role, name and time limit changed; the `draft` step removed; unsafe code) are saved
and deployed as later versions. A new version of a shared subprocess, saved and deployed
through the designer, gives every kind that calls it a new version.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.bpmn_xml import MAX_BPMN_BYTES
from engine.db import unit_of_work
from engine.designer import diff as diffs
from engine.designer import dryrun, migration, versions
from engine.errors import Forbidden, InvalidData, NotFound, TooLarge
from engine.models import AuditEvent, Court, Item, ProcessInstance, ProcessModel, Task, Timer
from engine.services import accounts, items, process_models, tasks
from engine.workflow.lint import check_bpmn, lint_bpmn, lint_forms
from tests.conftest import COURT
from tests.helpers import STEP_DATA, complete, open_task, register

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
FIXTURES = Path(__file__).parent / "fixtures"
# The shipped suggestion: register, then `handling` calls common_handling, reply, file.
SHIPPED = (WORKFLOWS / "suggestion.bpmn").read_text(encoding="utf-8")
# A self-contained suggestion (no call activities): what the designer tests edit.
STANDALONE = (FIXTURES / "suggestion_standalone.bpmn").read_text(encoding="utf-8")
TIMER_FIXTURE = FIXTURES / "timer_supervision.bpmn"
KINDS = ("concern_case", "letter", "petition", "suggestion", "supervision")
SHARED = ("common_follow_up", "common_handling")
BEIJING = ZoneInfo("Asia/Shanghai")
CANARY = Path("/tmp/pwned_designer")
SHELL_ESCAPE = "__import__('os').system('touch /tmp/pwned_designer')"


# --- diagram variants ----------------------------------------------------------------------


def replaced(xml: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in xml, old
        xml = xml.replace(old, new)
    return xml


def drafter_lane_is(xml: str, role: str) -> str:
    return replaced(
        xml,
        (
            '<bpmn:lane id="Lane_drafter" name="drafter">',
            f'<bpmn:lane id="Lane_drafter" name="{role}">',
        ),
    )


def retitled_draft(xml: str = STANDALONE) -> str:
    """The draft step renamed, done by department heads, with 5 instead of 10 days."""
    return replaced(
        drafter_lane_is(xml, "dept_head"),
        (
            '<bpmn:userTask id="draft" name="承办拟稿">',
            '<bpmn:userTask id="draft" name="承办起草">',
        ),
        (
            '<spiffworkflow:property name="due_working_days" value="10" />',
            '<spiffworkflow:property name="due_working_days" value="5" />',
        ),
    )


def without_draft(xml: str = STANDALONE) -> str:
    """The `draft` step removed: register goes straight to the leader, who sends back to
    register."""
    xml = re.sub(r'\s*<bpmn:userTask id="draft".*?</bpmn:userTask>', "", xml, flags=re.S)
    xml = re.sub(r'\s*<bpmndi:BPMNShape id="draft_di".*?</bpmndi:BPMNShape>', "", xml, flags=re.S)
    xml = re.sub(
        r'\s*<bpmndi:BPMNEdge id="flow_draft_leader_di".*?</bpmndi:BPMNEdge>', "", xml, flags=re.S
    )
    return replaced(
        xml,
        ("<bpmn:flowNodeRef>draft</bpmn:flowNodeRef>", ""),
        (
            'sourceRef="register" targetRef="draft" />',
            'sourceRef="register" targetRef="leader_approve" />',
        ),
        (
            '<bpmn:sequenceFlow id="flow_draft_leader" sourceRef="draft" '
            'targetRef="leader_approve" />',
            "",
        ),
        (
            "<bpmn:incoming>flow_draft_leader</bpmn:incoming>",
            "<bpmn:incoming>flow_register_draft</bpmn:incoming>",
        ),
        (
            'sourceRef="approved_gateway" targetRef="draft">',
            'sourceRef="approved_gateway" targetRef="register">',
        ),
    )


def with_condition(condition: str, xml: str = STANDALONE) -> str:
    return replaced(
        xml,
        ("approved == True</bpmn:conditionExpression>", f"{condition}</bpmn:conditionExpression>"),
    )


def minimal(body: str, process_id: str = "suggestion", extra: str = "") -> str:
    """A one-lane suggestion process around `body` (flow nodes and flows)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_1" targetNamespace="http://liaison-desk.local/test">
  {extra}
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_registrar" name="registrar">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>register</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="register" />
    <bpmn:userTask id="register" name="登记">
      <bpmn:extensionElements>
        <spiffworkflow:formJsonSchemaFilename>register.schema.json</spiffworkflow:formJsonSchemaFilename>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    {body}
    <bpmn:endEvent id="end"><bpmn:incoming>f_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def through(element: str, element_id: str = "x") -> str:
    """`register` → element → end."""
    return f"""{element}
    <bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="{element_id}" />
    <bpmn:sequenceFlow id="f_end" sourceRef="{element_id}" targetRef="end" />"""


FORMS = process_models.shipped_forms()
LIBRARY = process_models.shipped_library()

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_canary():
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "designer code ran outside the sandbox"


@pytest.fixture
def v1(factory, people) -> int:
    """The shipped suggestion workflow, deployed as version 1; returns its id."""
    with unit_of_work(factory) as session:
        model = process_models.current_model(session, people["designer"].court_id, "suggestion")
        assert model.version == 1
        return model.id


@pytest.fixture
def standalone(factory, people, v1) -> int:
    """The self-contained suggestion, saved and deployed by the designer as version 2
    (items registered from now on run on it); returns its id."""
    saved = save(factory, people["designer"], STANDALONE, note="自成一体的建议流程")
    assert saved.deployable and saved.model.version == 2 and saved.model.called_ids == []
    deploy(factory, people["designer"], saved.model.id)
    return saved.model.id


def save(factory, user, xml: str, key: str = "suggestion", **kwargs) -> versions.CheckedVersion:
    with unit_of_work(factory) as session:
        return versions.save_draft(session, user, key, xml, **kwargs)


def deploy(factory, user, version_id: int) -> ProcessModel:
    with unit_of_work(factory) as session:
        return versions.deploy_version(session, user, version_id).model


def model(factory, version_id: int) -> ProcessModel:
    with unit_of_work(factory) as session:
        return session.get(ProcessModel, version_id)


def instance_of(factory, item_id: int) -> ProcessInstance:
    with unit_of_work(factory) as session:
        return session.scalar(select(ProcessInstance).where(ProcessInstance.item_id == item_id))


def at_draft(factory, people) -> int:
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    assert open_task(factory, item_id).bpmn_id == "draft"
    return item_id


# --- versions ------------------------------------------------------------------------------


def test_save_draft_is_the_next_version_and_deploy_makes_it_current(factory, people, v1):
    designer = people["designer"]
    saved = save(factory, designer, retitled_draft(), note="拟稿改由部门负责人办理")
    assert saved.deployable and saved.report.problems == []
    draft = saved.model
    assert (draft.version, draft.deployed, draft.deployed_at) == (2, False, None)
    assert process_models.status_of(draft) == "draft"
    assert draft.forms == FORMS  # forms default to the previous version's
    assert draft.created_by_id == designer.id and draft.note == "拟稿改由部门负责人办理"
    assert process_models.status_of(model(factory, v1)) == "deployed"

    deployed = deploy(factory, designer, draft.id)
    assert deployed.deployed and deployed.deployed_at is not None
    assert process_models.status_of(model(factory, v1)) == "retired"
    with unit_of_work(factory) as session:
        assert process_models.current_model(session, designer.court_id, "suggestion").id == draft.id
        summary = versions.list_processes(session, designer)
        assert [(s.key, s.deployed_version, s.latest_version) for s in summary] == [
            (key, 2, 2) if key == "suggestion" else (key, 1, 1) for key in sorted(SHARED + KINDS)
        ]
        rows, total = versions.list_versions(session, designer, "suggestion")
        assert total == 2 and [m.version for m in rows] == [2, 1]
    # deploying the current version again changes nothing
    again = deploy(factory, designer, draft.id)
    assert again.deployed_at == deployed.deployed_at


def test_saving_a_version_with_problems_stores_a_draft_that_cannot_be_deployed(factory, people, v1):
    designer = people["designer"]
    xml = replaced(
        STANDALONE,
        (
            "<spiffworkflow:formJsonSchemaFilename>draft.schema.json",
            "<spiffworkflow:formJsonSchemaFilename>missing.schema.json",
        ),
        (
            '<bpmn:lane id="Lane_leader" name="leader">',
            '<bpmn:lane id="Lane_leader" name="judges">',
        ),
    )
    saved = save(factory, designer, xml)
    assert not saved.deployable
    problems = {(p.element_id, p.code) for p in saved.report.problems}
    assert ("draft", "form") in problems and ("leader_approve", "lane") in problems
    with pytest.raises(InvalidData) as refused:
        deploy(factory, designer, saved.model.id)
    assert "missing.schema.json" in refused.value.fields["draft"]
    assert "leader_approve" in refused.value.fields
    assert process_models.status_of(model(factory, saved.model.id)) == "draft"
    assert process_models.status_of(model(factory, v1)) == "deployed"


XXE = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</bpmn:definitions>"""
NOT_BPMN = '<?xml version="1.0"?><html><body>hello</body></html>'
MALFORMED = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process>'
)


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        (XXE, "DTD"),
        (LAUGHS, "DTD"),
        (NOT_BPMN, "not a BPMN 2.0 document"),
        (MALFORMED, "malformed XML"),
        ("", "required"),
    ],
    ids=["xxe", "billion-laughs", "not-bpmn", "malformed", "empty"],
)
def test_unusable_uploads_are_refused_with_a_clear_message_and_nothing_is_stored(
    factory, people, v1, xml, words
):
    with pytest.raises(InvalidData) as refused:
        save(factory, people["designer"], xml)
    assert words in refused.value.message
    assert "bpmn_xml" in refused.value.fields
    with unit_of_work(factory) as session:
        # only the shipped versions: the five kinds and the two shared subprocesses
        assert session.scalar(select(func.count()).select_from(ProcessModel)) == 7
        with pytest.raises(InvalidData):
            versions.validate(session, people["designer"], xml)


def test_uploads_over_two_mebibytes_are_too_large(factory, people, v1):
    padding = "<!--" + "x" * MAX_BPMN_BYTES + "-->"
    with pytest.raises(TooLarge):
        save(
            factory,
            people["designer"],
            SHIPPED.replace("<bpmn:process ", padding + "<bpmn:process ", 1),
        )


def test_the_process_id_must_be_the_key_it_is_saved_under(factory, people, v1):
    with pytest.raises(InvalidData) as refused:
        save(factory, people["designer"], SHIPPED, key="letter")
    assert "`suggestion`" in refused.value.message and "`letter`" in refused.value.message
    with pytest.raises(NotFound):
        save(factory, people["designer"], SHIPPED, key="no such/key")


def test_forms_are_given_checked_and_stored(factory, people, v1):
    forms = {
        **FORMS,
        "note.schema.json": {"type": "object", "properties": {"x": {"type": "string"}}},
    }
    saved = save(factory, people["designer"], SHIPPED, forms=forms)
    assert saved.deployable and set(saved.model.forms) == set(forms)
    broken = {
        **FORMS,
        "draft.schema.json": {"type": "object", "properties": {"draft": {"type": 12}}},
    }
    saved = save(factory, people["designer"], SHIPPED, forms=broken)
    (problem,) = saved.report.problems
    assert problem.element_id == "draft" and "JSON Schema" in problem.message
    with pytest.raises(InvalidData):
        save(factory, people["designer"], SHIPPED, forms={"../etc/passwd": {}})
    with pytest.raises(InvalidData):
        save(factory, people["designer"], SHIPPED, forms=["draft.schema.json"])


def test_lint_forms_requires_json_schema_objects_with_properties_and_no_remote_refs():
    assert lint_forms(FORMS) == {}
    problems = lint_forms(
        {
            "a.json": [],
            "b.json": {"type": "array", "properties": {}},
            "c.json": {"type": "object"},
            "d.json": {"type": "object", "properties": {"x": {"$ref": "https://evil.example/s"}}},
            "e.json": {"type": "object", "properties": {"x": {"minLength": -1}}},
            "f.json": {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}},
            "g.json": {"type": "object", "properties": {"x": {"$ref": "#nowhere"}}},
            "ok.json": {
                "type": "object",
                "$defs": {"text": {"type": "string", "$anchor": "text"}},
                "properties": {"x": {"$ref": "#/$defs/text"}, "y": {"$ref": "#text"}},
            },
        }
    )
    assert set(problems) == {"a.json", "b.json", "c.json", "d.json", "e.json", "f.json", "g.json"}
    assert "$ref" in problems["d.json"]


@pytest.mark.parametrize("role", ["registrar", "drafter", "head", "leader", "president"])
def test_only_designers_and_administrators_may_use_the_designer(factory, people, v1, role):
    user = people[role]
    with unit_of_work(factory) as session:
        calls = [
            lambda: versions.list_processes(session, user),
            lambda: versions.list_versions(session, user, "suggestion"),
            lambda: versions.get_version(session, user, v1),
            lambda: versions.validate(session, user, SHIPPED),
            lambda: versions.save_draft(session, user, "suggestion", SHIPPED),
            lambda: versions.deploy_version(session, user, v1),
            lambda: diffs.diff_versions(session, user, v1, v1),
            lambda: dryrun.dry_run(session, user, v1, []),
            lambda: migration.preview(session, user, v1),
            lambda: migration.migrate_item(session, user, v1, 1),
        ]
        for call in calls:
            with pytest.raises(Forbidden):
                call()
    with unit_of_work(factory) as session:
        assert versions.list_processes(session, people["admin"])


def test_versions_of_another_court_are_not_found(factory, people, v1):
    with unit_of_work(factory) as session:
        other = Court(name="另一法院")
        session.add(other)
        session.flush()
        outsider = accounts.create_user(session, other, "outsider", "designer", password="x" * 12)
    with unit_of_work(factory) as session:
        assert versions.list_processes(session, outsider) == []
        for call in (
            lambda: versions.get_version(session, outsider, v1),
            lambda: versions.list_versions(session, outsider, "suggestion"),
            lambda: versions.deploy_version(session, outsider, v1),
            lambda: diffs.diff_versions(session, outsider, v1, v1),
            lambda: dryrun.dry_run(session, outsider, v1, []),
            lambda: migration.preview(session, outsider, v1),
        ):
            with pytest.raises(NotFound):
                call()


def test_cli_deploy_and_shipped_loading_still_work(factory, people, v1):
    with unit_of_work(factory) as session:
        court = accounts.get_or_create_court(session, COURT)
        assert process_models.load_shipped(session, court) == []  # already loaded
        assert session.scalar(select(func.count()).select_from(ProcessModel)) == 7
        other = Court(name="另一法院")
        session.add(other)
        session.flush()
        # the shared subprocesses first: the kinds that call them are checked against them
        assert process_models.load_shipped(session, other) == [*SHARED, *KINDS]
        shared = process_models.shared_models(session, other.id)
        for kind in KINDS:
            linked = process_models.current_model(session, other.id, kind).called_ids
            assert shared["common_handling"].id in linked
            assert set(linked) <= {m.id for m in shared.values()}
        deployed = process_models.deploy(session, court, retitled_draft(), FORMS, note="cli")
        assert (deployed.version, deployed.deployed) == (2, True)
        with pytest.raises(InvalidData) as refused:
            process_models.deploy(session, court, with_condition(SHELL_ESCAPE), FORMS)
        assert "flow_approved" not in refused.value.fields  # named by its gateway
        assert "approved_gateway" in refused.value.fields


# --- validation ----------------------------------------------------------------------------


def codes(xml: str, forms=FORMS) -> set[tuple[str | None, str]]:
    return {(p.element_id, p.code) for p in lint_bpmn(xml, forms)}


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.bpmn")), ids=lambda path: path.stem)
def test_the_shipped_diagrams_are_deployable(path):
    """Each shipped file, checked with the shipped shared subprocesses it may call."""
    assert lint_bpmn(path.read_bytes(), FORMS, path.name, LIBRARY) == []


def test_the_shipped_kinds_call_the_shared_subprocesses_and_the_fixtures_stand_alone():
    # without the library, the shipped suggestion's call activities are named
    assert codes(SHIPPED) == {("handling", "call_activity"), ("follow_up_call", "call_activity")}
    assert lint_bpmn(STANDALONE, FORMS) == []
    assert lint_bpmn(TIMER_FIXTURE.read_bytes(), FORMS) == []


def wired(tag: str, inner: str = "", attrs: str = "", element_id: str = "x", flows=("f2", "f_end")):
    """A flow node with one incoming and one outgoing flow."""
    incoming, outgoing = flows
    return (
        f'<bpmn:{tag} id="{element_id}" {attrs}><bpmn:incoming>{incoming}</bpmn:incoming>'
        f"<bpmn:outgoing>{outgoing}</bpmn:outgoing>{inner}</bpmn:{tag}>"
    )


def timer(kind: str, expression: str) -> str:
    return (
        f'<bpmn:timerEventDefinition id="td"><bpmn:{kind}>{expression}</bpmn:{kind}>'
        "</bpmn:timerEventDefinition>"
    )


MESSAGE = '<bpmn:messageEventDefinition id="md" messageRef="m" />'


@pytest.mark.parametrize(
    ("element", "code"),
    [
        (wired("serviceTask", attrs='name="调接口"'), "unsupported_serviceTask"),
        (wired("businessRuleTask"), "unsupported_businessRuleTask"),
        (wired("manualTask"), "unsupported_manualTask"),
        (wired("task"), "unsupported_task"),
        (wired("sendTask", attrs='messageRef="m"'), "message"),
        (wired("receiveTask", attrs='messageRef="m"'), "message"),
        (wired("intermediateCatchEvent", MESSAGE), "message"),
        (wired("intermediateThrowEvent", MESSAGE), "message"),
        (
            wired("intermediateCatchEvent", '<bpmn:signalEventDefinition signalRef="s" />'),
            "signal",
        ),
        (wired("intermediateCatchEvent", timer("timeCycle", '"R3/PT1H"')), "cycle_timer"),
        (wired("callActivity", attrs='calledElement="elsewhere"'), "call_activity"),
        (wired("complexGateway"), "unsupported_complexGateway"),
        (wired("scriptTask", f"<bpmn:script>{SHELL_ESCAPE}</bpmn:script>"), "code"),
        (wired("intermediateCatchEvent", timer("timeDate", SHELL_ESCAPE)), "code"),
    ],
    ids=lambda value: value if isinstance(value, str) and "<" not in value else None,
)
def test_elements_this_product_cannot_execute_are_named(element, code):
    extra = '<bpmn:message id="m" name="m" /><bpmn:signal id="s" name="s" />'
    problems = lint_bpmn(minimal(through(element), extra=extra), FORMS)
    assert ("x", code) in {(p.element_id, p.code) for p in problems}, problems
    for problem in problems:
        assert problem.element_id and " / " in problem.message  # Chinese / English


def test_a_data_store_and_a_message_pair_inside_the_process():
    store = """<bpmn:dataStoreReference id="store" />
    <bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="end" />
    <bpmn:sequenceFlow id="f_end" sourceRef="register" targetRef="end" />"""
    assert ("store", "unsupported_dataStoreReference") in codes(minimal(store))
    split = "<bpmn:outgoing>f5</bpmn:outgoing>"
    join = "<bpmn:incoming>f6</bpmn:incoming>"
    pair = "\n".join(
        [
            wired("parallelGateway", split, element_id="split", flows=("f2", "f4")),
            wired("intermediateThrowEvent", MESSAGE, element_id="send", flows=("f5", "f3")),
            wired("intermediateCatchEvent", MESSAGE, element_id="receive", flows=("f4", "f6")),
            wired("parallelGateway", join, element_id="join", flows=("f3", "f_end")),
            '<bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="split" />',
            '<bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="receive" />',
            '<bpmn:sequenceFlow id="f5" sourceRef="split" targetRef="send" />',
            '<bpmn:sequenceFlow id="f3" sourceRef="send" targetRef="join" />',
            '<bpmn:sequenceFlow id="f6" sourceRef="receive" targetRef="join" />',
            '<bpmn:sequenceFlow id="f_end" sourceRef="join" targetRef="end" />',
        ]
    )
    found = codes(minimal(pair, extra='<bpmn:message id="m" name="m" />'))
    assert not {c for c in found if c[1] == "message"}, found


def test_spiffworkflow_errors_name_the_element():
    gateway = "\n".join(
        [
            wired("exclusiveGateway", "<bpmn:outgoing>f3</bpmn:outgoing>", element_id="gw"),
            '<bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="gw" />',
            '<bpmn:sequenceFlow id="f_end" sourceRef="gw" targetRef="end" />',
            '<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end" />',
        ]
    )
    (problem,) = lint_bpmn(minimal(gateway), FORMS)
    assert problem.element_id in {"gw", "f_end", "f3"} and "condition" in problem.message
    # An XML Schema error only knows its line: the problem names the element on it.
    schema = through(wired("userTask", "<bpmn:unknownChild />"))
    (problem,) = [p for p in lint_bpmn(minimal(schema), FORMS) if p.code == "bpmn_schema"]
    assert problem.element_id == "x" and "BPMN 2.0 schema" in problem.message


def test_processes_that_do_not_run_and_unreachable_steps_are_named():
    xml = minimal(through(wired("userTask")))
    assert codes(xml.replace('isExecutable="true"', 'isExecutable="false"')) == {
        ("suggestion", "not_executable")
    }
    island = (
        '<bpmn:userTask id="island" name="孤岛"><bpmn:extensionElements>'
        "<spiffworkflow:formJsonSchemaFilename>file.schema.json"
        "</spiffworkflow:formJsonSchemaFilename></bpmn:extensionElements></bpmn:userTask>"
    )
    assert ("island", "unreachable") in codes(minimal(through(wired("userTask")) + island))
    assert ("suggestion_x", "process_key") in codes(minimal("", process_id="suggestion_x"))


def test_conditions_that_escape_the_sandbox_are_refused_at_validation_and_deploy(
    factory, people, v1
):
    xml = with_condition(SHELL_ESCAPE)
    assert ("approved_gateway", "code") in codes(xml)
    saved = save(factory, people["designer"], xml)
    with pytest.raises(InvalidData):
        deploy(factory, people["designer"], saved.model.id)


# --- diff ----------------------------------------------------------------------------------


def test_diff_names_elements_added_removed_and_changed(factory, people, standalone):
    designer = people["designer"]
    base = standalone
    v3 = save(factory, designer, retitled_draft()).model.id
    v4 = save(
        factory,
        designer,
        without_draft(),
        forms={**FORMS, "extra.schema.json": {"type": "object", "properties": {}}},
    ).model.id
    with unit_of_work(factory) as session:
        result = diffs.diff_versions(session, designer, v3, base)
        changed = {e.id: e for e in result.elements.changed}
        assert set(changed) == {"draft", "Lane_drafter"}
        fields = {d["field"]: d for d in changed["draft"].details}
        assert set(fields) == {"name", "lane", "properties"}
        assert (fields["lane"]["before"], fields["lane"]["after"]) == ("drafter", "dept_head")
        assert fields["properties"]["after"]["due_working_days"] == "5"
        assert "name: 承办拟稿 → 承办起草" in changed["draft"].changes
        assert changed["draft"].type == "bpmn:UserTask"
        assert result.elements.added == [] and result.elements.removed == []
        assert (result.forms.added, result.forms.removed, result.forms.changed) == ([], [], [])

        result = diffs.diff_versions(session, designer, v4, base)
        assert {e.id for e in result.elements.removed} == {"draft", "flow_draft_leader"}
        assert result.forms.added == ["extra.schema.json"]
        changed = {
            e.id: set(e.changes and [d["field"] for d in e.details])
            for e in result.elements.changed
        }
        assert changed["flow_register_draft"] == {"target"}
        assert "incoming" in changed["leader_approve"] and "incoming" in changed["register"]
        backwards = diffs.diff_versions(session, designer, base, v4)
        assert {e.id for e in backwards.elements.added} == {"draft", "flow_draft_leader"}


# --- shared subprocesses -------------------------------------------------------------------


def current_models(factory, court_id: int) -> dict[str, ProcessModel]:
    """The deployed version of every process, loaded with its diagram and forms."""
    with unit_of_work(factory) as session:
        models = {
            key: process_models.current_model(session, court_id, key) for key in (*SHARED, *KINDS)
        }
        for loaded in models.values():
            assert loaded.bpmn_xml and loaded.forms  # loaded (deferred) before the session ends
        return models


def test_a_shared_subprocess_deployed_by_the_designer_relinks_every_kind_that_calls_it(
    factory, people, v1
):
    designer = people["designer"]
    running = at_draft(factory, people)  # waits at common_handling v1's `draft`
    running_task = open_task(factory, running)
    before = current_models(factory, designer.court_id)
    old_handling = before["common_handling"]
    xml = replaced(
        old_handling.bpmn_xml,
        (
            '<bpmn:userTask id="draft" name="承办拟稿">',
            '<bpmn:userTask id="draft" name="承办部门拟稿">',
        ),
        (
            '<spiffworkflow:property name="due_working_days" value="10" />',
            '<spiffworkflow:property name="due_working_days" value="7" />',
        ),
    )
    saved = save(factory, designer, xml, key="common_handling", note="拟稿期限改为 7 个工作日")
    assert saved.deployable and saved.model.version == 2
    assert process_models.status_of(saved.model) == "draft"
    assert saved.model.forms == old_handling.forms  # the previous version's forms
    # a draft of a shared subprocess reaches nothing yet
    assert {k: m.id for k, m in current_models(factory, designer.court_id).items()} == {
        k: m.id for k, m in before.items()
    }

    deploy(factory, designer, saved.model.id)
    after = current_models(factory, designer.court_id)
    assert after["common_handling"].id == saved.model.id
    assert after["common_follow_up"].id == before["common_follow_up"].id
    for kind in KINDS:
        new, old = after[kind], before[kind]
        assert new.version == old.version + 1 == 2, kind
        assert saved.model.id in new.called_ids and old_handling.id not in new.called_ids
        # the other links stay; the kind's own diagram and forms are unchanged
        assert set(new.called_ids) - {saved.model.id} == set(old.called_ids) - {old_handling.id}
        assert (new.bpmn_xml, new.forms) == (old.bpmn_xml, old.forms)
        assert "common_handling v2" in new.note
        assert process_models.status_of(model(factory, old.id)) == "retired"
    with unit_of_work(factory) as session:
        summary = versions.list_processes(session, designer)
        assert [(s.key, s.deployed_version, s.latest_version) for s in summary] == [
            (key, 1, 1) if key == "common_follow_up" else (key, 2, 2)
            for key in sorted(SHARED + KINDS)
        ]
        suggestion = session.get(ProcessModel, after["suggestion"].id)
        assert process_models.library_of(session, suggestion)["common_handling"] == xml
        old_suggestion = session.get(ProcessModel, before["suggestion"].id)
        assert process_models.library_of(session, old_suggestion)["common_handling"] == (
            old_handling.bpmn_xml
        )

    # the running item keeps its version: the old step's title and limit, and it goes on
    assert instance_of(factory, running).process_model_id == before["suggestion"].id
    task = open_task(factory, running)
    assert (task.id, task.title, task.due_at) == (
        running_task.id,
        "承办拟稿",
        running_task.due_at,
    )
    # a new item follows the relinked version: the new title and the shorter limit
    new_item = at_draft(factory, people)
    assert instance_of(factory, new_item).process_model_id == after["suggestion"].id
    new_task = open_task(factory, new_item)
    assert new_task.title == "承办部门拟稿" and new_task.due_at < running_task.due_at
    complete(factory, people["drafter"], running, "draft")
    assert open_task(factory, running).bpmn_id == "leader_approve"
    assert instance_of(factory, running).process_model_id == before["suggestion"].id


def test_validate_names_the_call_activity_of_an_unknown_shared_subprocess(factory, people, v1):
    designer = people["designer"]
    xml = replaced(SHIPPED, ('calledElement="common_handling"', 'calledElement="common_x"'))
    with unit_of_work(factory) as session:
        assert versions.validate(session, designer, SHIPPED).problems == []
        report = versions.validate(session, designer, xml)
    assert not report.deployable
    assert [(p.element_id, p.code) for p in report.problems] == [("handling", "call_activity")]
    assert "common_x" in report.problems[0].message
    saved = save(factory, designer, xml)
    assert [p.element_id for p in saved.report.problems] == ["handling"]
    with pytest.raises(InvalidData) as refused:
        deploy(factory, designer, saved.model.id)
    assert "common_x" in refused.value.fields["handling"]


# --- dry run -------------------------------------------------------------------------------


def item_rows(factory) -> tuple[int, int, int, int]:
    with unit_of_work(factory) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Item, ProcessInstance, Task, AuditEvent)
        )


def test_dry_run_walks_a_draft_version_and_touches_nothing(factory, people, v1):
    designer = people["designer"]
    v2 = save(factory, designer, retitled_draft()).model.id
    before = item_rows(factory)
    steps = dryrun.parse_steps(
        [
            {"task": "register", "data": STEP_DATA["register"]},
            {"task": "draft", "data": STEP_DATA["draft"]},
            {"task": "leader_approve", "data": STEP_DATA["reject"]},
            {"task": "draft", "data": STEP_DATA["draft"]},
            {"task": "leader_approve", "data": STEP_DATA["approve"]},
            {"task": "reply", "data": STEP_DATA["reply"]},
        ]
    )
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(session, designer, v2, steps)
    assert [(p["task"], p["ok"]) for p in result.path] == [(s.task, True) for s in steps]
    assert result.path[1]["role"] == "dept_head" and result.path[1]["title"] == "承办起草"
    assert [w["task"] for w in result.waiting] == ["file"] and not result.ended
    assert result.visited[:3] == ["start", "register", "draft"]
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(session, designer, v2, [*steps, dryrun.Step("file", {})])
    assert result.ended and result.waiting == [] and result.error is None
    assert item_rows(factory) == before


def test_dry_run_stops_at_invalid_data_and_at_steps_that_are_not_waiting(factory, people, v1):
    designer = people["designer"]
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(
            session,
            designer,
            v1,
            dryrun.parse_steps([{"task": "register", "data": {"department": "不存在的庭"}}]),
        )
    assert result.path[0]["task"] == "register", result.error  # the deployed v1 starts
    (entry,) = result.path
    assert not entry["ok"] and set(entry["fields"]) == {"department", "opinion"}
    assert [w["task"] for w in result.waiting] == ["register"]
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(
            session, designer, v1, dryrun.parse_steps([{"task": "file", "data": {}}])
        )
    assert not result.path[0]["ok"] and "register" in result.path[0]["error"]
    with pytest.raises(InvalidData):
        dryrun.parse_steps([{"data": {}}])
    with pytest.raises(InvalidData):
        dryrun.parse_steps({"task": "x"})


def test_dry_run_walks_the_shipped_suggestion_through_its_called_subprocesses(factory, people, v1):
    steps = dryrun.parse_steps(
        [
            {"task": "register", "data": STEP_DATA["register"]},
            {"task": "draft", "data": STEP_DATA["draft"]},  # in common_handling
            {"task": "leader_approve", "data": STEP_DATA["approve"]},
            {"task": "reply", "data": STEP_DATA["reply"]},
            {"task": "file", "data": STEP_DATA["file"]},
        ]
    )
    before = item_rows(factory)
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(session, people["designer"], v1, steps)
    assert result.error is None, result.error
    assert [(p["task"], p["role"], p["ok"]) for p in result.path] == [
        ("register", "registrar", True),
        ("draft", "drafter", True),
        ("leader_approve", "leader", True),
        ("reply", "registrar", True),
        ("file", "registrar", True),
    ]
    assert result.ended and result.waiting == []
    assert item_rows(factory) == before


def test_dry_run_never_runs_code_outside_the_sandbox(factory, people, v1):
    designer = people["designer"]
    draft = save(factory, designer, with_condition(SHELL_ESCAPE)).model.id
    steps = [
        {"task": "register", "data": STEP_DATA["register"]},
        {"task": "draft", "data": STEP_DATA["draft"]},
        {"task": "leader_approve", "data": STEP_DATA["approve"]},
    ]
    with unit_of_work(factory) as session:
        result = dryrun.dry_run(session, designer, draft, dryrun.parse_steps(steps))
    assert [p["ok"] for p in result.path] == [True, True, False]
    assert "refused" in result.path[-1]["error"] or "not allowed" in result.path[-1]["error"]
    assert not CANARY.exists()


# --- migration -----------------------------------------------------------------------------


def test_new_items_follow_the_deployed_version_while_old_items_finish_on_theirs(
    factory, people, standalone
):
    designer = people["designer"]
    old_item = at_draft(factory, people)
    assert instance_of(factory, old_item).process_model_id == standalone
    v3 = save(factory, designer, retitled_draft()).model.id
    deploy(factory, designer, v3)
    new_item = at_draft(factory, people)
    assert open_task(factory, new_item).role == "dept_head"
    assert instance_of(factory, new_item).process_model_id == v3
    # the old item still follows v2: its draft is for a drafter, and it finishes there
    assert open_task(factory, old_item).role == "drafter"
    for user, step in (
        ("drafter", "draft"),
        ("leader", "approve"),
        ("registrar", "reply"),
        ("registrar", "file"),
    ):
        complete(factory, people[user], old_item, step)
    assert instance_of(factory, old_item).process_model_id == standalone
    with unit_of_work(factory) as session:
        assert session.get(Item, old_item).status == "filed"
    complete(factory, people["head"], new_item, "draft")
    assert open_task(factory, new_item).bpmn_id == "leader_approve"


def test_migration_preview_and_a_refused_migration_leave_the_item_untouched(
    factory, people, standalone
):
    designer = people["designer"]
    waiting_at_draft = at_draft(factory, people)
    waiting_at_register = register(factory, people["registrar"], "第二件")
    past_draft = at_draft(factory, people)
    complete(factory, people["drafter"], past_draft, "draft")
    v3 = save(factory, designer, without_draft()).model.id
    deploy(factory, designer, v3)

    with unit_of_work(factory) as session:
        checks, total, target = migration.preview(session, designer, v3)
    assert total == 3 and target.version == 3
    by_item = {c.item.id: c for c in checks}
    assert {c.from_version for c in checks} == {2}
    assert by_item[waiting_at_draft].current_steps == ["draft"]
    assert not by_item[waiting_at_draft].can_migrate
    assert "current step `draft`" in by_item[waiting_at_draft].reason
    assert "v3" in by_item[waiting_at_draft].reason
    assert not by_item[past_draft].can_migrate
    assert "completed step `draft`" in by_item[past_draft].reason
    assert by_item[waiting_at_register].can_migrate and by_item[waiting_at_register].reason is None

    before = instance_of(factory, waiting_at_draft)
    with unit_of_work(factory) as session:
        result = migration.migrate_item(session, designer, v3, waiting_at_draft)
    assert not result.migrated and "draft" in result.reason
    after = instance_of(factory, waiting_at_draft)
    assert (after.process_model_id, after.version, after.state) == (
        standalone,
        before.version,
        before.state,
    )
    assert open_task(factory, waiting_at_draft).bpmn_id == "draft"

    with unit_of_work(factory) as session:
        result = migration.migrate_item(session, designer, v3, waiting_at_register)
    assert result.migrated
    complete(factory, people["registrar"], waiting_at_register, "register")
    assert open_task(factory, waiting_at_register).bpmn_id == "leader_approve"


def test_a_migration_that_renames_a_step_and_changes_its_role_and_time_limit(
    factory, people, standalone
):
    designer = people["designer"]
    item_id = at_draft(factory, people)
    before_task = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        tasks.claim(session, people["drafter"], before_task.id)
    v3 = save(factory, designer, retitled_draft()).model.id
    deploy(factory, designer, v3)
    with unit_of_work(factory) as session:
        (check,), total, _ = migration.preview(session, designer, v3)
    assert check.can_migrate and check.from_version == 2 and total == 1
    old_version = instance_of(factory, item_id).version
    with unit_of_work(factory) as session:
        assert migration.migrate_item(session, designer, v3, item_id).migrated
    instance = instance_of(factory, item_id)
    assert instance.process_model_id == v3 and instance.version > old_version
    task = open_task(factory, item_id)
    assert task.id == before_task.id and task.task_guid == before_task.task_guid
    assert (task.title, task.role, task.assignee_id) == ("承办起草", "dept_head", None)
    assert task.department.name == "民一庭"
    assert task.due_at < before_task.due_at  # 5 working days instead of 10
    with unit_of_work(factory) as session:
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "migrated")
        )
        assert event.data == {
            "from_version": 2,
            "to_version": 3,
            "from_model_id": standalone,
            "to_model_id": v3,
        }
        assert event.actor_id == designer.id and event.comment == "v2 → v3"
        # nothing is left to migrate, and migrating again is refused with a reason
        assert migration.preview(session, designer, v3)[1] == 0
        assert not migration.migrate_item(session, designer, v3, item_id).migrated
    with pytest.raises(Forbidden):
        complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["head"], item_id, "draft")
    complete(factory, people["leader"], item_id, "approve")
    assert open_task(factory, item_id).bpmn_id == "reply"


def test_migration_keeps_a_waiting_timer_instant(factory, people):
    """The letter's draft waits with a `working_days(1)` timer; migrating a day later must
    not restart it (SpiffWorkflow's migrate resets waiting tasks)."""
    clock.travel_to(datetime(2026, 6, 1, 10, 0, tzinfo=BEIJING))  # a Monday
    xml = TIMER_FIXTURE.read_text(encoding="utf-8")
    with unit_of_work(factory) as session:
        court = accounts.get_or_create_court(session, COURT)
        v1 = process_models.deploy(session, court, xml, FORMS).id
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(kind="letter", title="来信", content="内容", deputies=["李代表"]),
        )
        item_id = item.id
    with unit_of_work(factory) as session:
        task = session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))
        tasks.complete(session, people["registrar"], task.id, STEP_DATA["register"])
    with unit_of_work(factory) as session:
        (timer,) = session.scalars(select(Timer)).all()
    assert timer.due_at == datetime(2026, 6, 2, 23, 59, 59, tzinfo=BEIJING)
    clock.travel_to(datetime(2026, 6, 2, 9, 0, tzinfo=BEIJING))
    v2 = save(
        factory,
        people["designer"],
        replaced(xml, ('name="承办拟稿"', 'name="承办起草"')),
        key="letter",
    ).model.id
    with unit_of_work(factory) as session:
        assert migration.migrate_item(session, people["designer"], v2, item_id).migrated
    with unit_of_work(factory) as session:
        (after,) = session.scalars(select(Timer)).all()
        assert (after.task_guid, after.due_at) == (timer.task_guid, timer.due_at)
        assert (
            session.scalar(select(Task.title).where(Task.item_id == item_id, Task.status == "open"))
            == "承办起草"
        )
    assert v1 != v2


def test_migration_refuses_undeployable_targets_and_reports_unknown_items(factory, people, v1):
    designer = people["designer"]
    broken = save(factory, designer, with_condition(SHELL_ESCAPE)).model.id
    with unit_of_work(factory) as session:
        with pytest.raises(InvalidData):
            migration.preview(session, designer, broken)
        with pytest.raises(InvalidData):
            migration.migrate_item(session, designer, broken, 1)
    v2 = save(factory, designer, retitled_draft()).model.id
    with unit_of_work(factory) as session:
        result = migration.migrate_item(session, designer, v2, 999_999)
    assert not result.migrated and "not found" in result.reason


def test_check_bpmn_reports_the_key_and_hard_errors():
    report = check_bpmn(SHIPPED, FORMS, library=LIBRARY)
    assert report.key == "suggestion" and report.deployable and report.specs is not None
    assert sorted(report.shared_calls) == ["common_follow_up", "common_handling"]
    report = check_bpmn(STANDALONE, FORMS)
    assert report.key == "suggestion" and report.deployable and report.shared_calls == []
    report = check_bpmn(XXE, FORMS)
    assert report.xml_error is not None and report.problems[0].code == "xml"
    assert not report.deployable
