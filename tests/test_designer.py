"""Workflow designers through the engine: versions, validation, diff, dry run, migration.

On every configured database. The shipped suggestion workflow is version 1; variants of
it (a step's role, name and time limit changed; the `draft` step removed; unsafe code)
are saved and deployed as later versions.
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
SUGGESTION = (WORKFLOWS / "suggestion.bpmn").read_text(encoding="utf-8")
TIMER_FIXTURE = Path(__file__).parent / "fixtures" / "timer_supervision.bpmn"
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


def retitled_draft(xml: str = SUGGESTION) -> str:
    """v2: the draft step renamed, done by department heads, with 5 instead of 10 days."""
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


def without_draft(xml: str = SUGGESTION) -> str:
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


def with_condition(condition: str, xml: str = SUGGESTION) -> str:
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
            ("suggestion", 2, 2)
        ]
        rows, total = versions.list_versions(session, designer, "suggestion")
        assert total == 2 and [m.version for m in rows] == [2, 1]
    # deploying the current version again changes nothing
    again = deploy(factory, designer, draft.id)
    assert again.deployed_at == deployed.deployed_at


def test_saving_a_version_with_problems_stores_a_draft_that_cannot_be_deployed(factory, people, v1):
    designer = people["designer"]
    xml = replaced(
        SUGGESTION,
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
        assert session.scalar(select(func.count()).select_from(ProcessModel)) == 1
        with pytest.raises(InvalidData):
            versions.validate(session, people["designer"], xml)


def test_uploads_over_two_mebibytes_are_too_large(factory, people, v1):
    padding = "<!--" + "x" * MAX_BPMN_BYTES + "-->"
    with pytest.raises(TooLarge):
        save(
            factory,
            people["designer"],
            SUGGESTION.replace("<bpmn:process ", padding + "<bpmn:process ", 1),
        )


def test_the_process_id_must_be_the_key_it_is_saved_under(factory, people, v1):
    with pytest.raises(InvalidData) as refused:
        save(factory, people["designer"], SUGGESTION, key="letter")
    assert "`suggestion`" in refused.value.message and "`letter`" in refused.value.message
    with pytest.raises(NotFound):
        save(factory, people["designer"], SUGGESTION, key="no such/key")


def test_forms_are_given_checked_and_stored(factory, people, v1):
    forms = {
        **FORMS,
        "note.schema.json": {"type": "object", "properties": {"x": {"type": "string"}}},
    }
    saved = save(factory, people["designer"], SUGGESTION, forms=forms)
    assert saved.deployable and set(saved.model.forms) == set(forms)
    broken = {
        **FORMS,
        "draft.schema.json": {"type": "object", "properties": {"draft": {"type": 12}}},
    }
    saved = save(factory, people["designer"], SUGGESTION, forms=broken)
    (problem,) = saved.report.problems
    assert problem.element_id == "draft" and "JSON Schema" in problem.message
    with pytest.raises(InvalidData):
        save(factory, people["designer"], SUGGESTION, forms={"../etc/passwd": {}})
    with pytest.raises(InvalidData):
        save(factory, people["designer"], SUGGESTION, forms=["draft.schema.json"])


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
            lambda: versions.validate(session, user, SUGGESTION),
            lambda: versions.save_draft(session, user, "suggestion", SUGGESTION),
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
        deployed = process_models.deploy(session, court, retitled_draft(), FORMS, note="cli")
        assert (deployed.version, deployed.deployed) == (2, True)
        with pytest.raises(InvalidData) as refused:
            process_models.deploy(session, court, with_condition(SHELL_ESCAPE), FORMS)
        assert "flow_approved" not in refused.value.fields  # named by its gateway
        assert "approved_gateway" in refused.value.fields


# --- validation ----------------------------------------------------------------------------


def codes(xml: str, forms=FORMS) -> set[tuple[str | None, str]]:
    return {(p.element_id, p.code) for p in lint_bpmn(xml, forms)}


def test_the_shipped_diagrams_are_deployable():
    assert lint_bpmn(SUGGESTION, FORMS) == []
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


def test_diff_names_elements_added_removed_and_changed(factory, people, v1):
    designer = people["designer"]
    v2 = save(factory, designer, retitled_draft()).model.id
    v3 = save(
        factory,
        designer,
        without_draft(),
        forms={**FORMS, "extra.schema.json": {"type": "object", "properties": {}}},
    ).model.id
    with unit_of_work(factory) as session:
        result = diffs.diff_versions(session, designer, v2, v1)
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

        result = diffs.diff_versions(session, designer, v3, v1)
        assert {e.id for e in result.elements.removed} == {"draft", "flow_draft_leader"}
        assert result.forms.added == ["extra.schema.json"]
        changed = {
            e.id: set(e.changes and [d["field"] for d in e.details])
            for e in result.elements.changed
        }
        assert changed["flow_register_draft"] == {"target"}
        assert "incoming" in changed["leader_approve"] and "incoming" in changed["register"]
        backwards = diffs.diff_versions(session, designer, v1, v3)
        assert {e.id for e in backwards.elements.added} == {"draft", "flow_draft_leader"}


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
    factory, people, v1
):
    designer = people["designer"]
    old_item = at_draft(factory, people)
    v2 = save(factory, designer, retitled_draft()).model.id
    deploy(factory, designer, v2)
    new_item = at_draft(factory, people)
    assert open_task(factory, new_item).role == "dept_head"
    assert instance_of(factory, new_item).process_model_id == v2
    # the old item still follows v1: its draft is for a drafter, and it finishes there
    assert open_task(factory, old_item).role == "drafter"
    for user, step in (
        ("drafter", "draft"),
        ("leader", "approve"),
        ("registrar", "reply"),
        ("registrar", "file"),
    ):
        complete(factory, people[user], old_item, step)
    assert instance_of(factory, old_item).process_model_id == v1
    with unit_of_work(factory) as session:
        assert session.get(Item, old_item).status == "filed"
    complete(factory, people["head"], new_item, "draft")
    assert open_task(factory, new_item).bpmn_id == "leader_approve"


def test_migration_preview_and_a_refused_migration_leave_the_item_untouched(factory, people, v1):
    designer = people["designer"]
    waiting_at_draft = at_draft(factory, people)
    waiting_at_register = register(factory, people["registrar"], "第二件")
    past_draft = at_draft(factory, people)
    complete(factory, people["drafter"], past_draft, "draft")
    v3 = save(factory, designer, without_draft()).model.id
    deploy(factory, designer, v3)

    with unit_of_work(factory) as session:
        checks, total, target = migration.preview(session, designer, v3)
    assert total == 3 and target.version == 2
    by_item = {c.item.id: c for c in checks}
    assert by_item[waiting_at_draft].current_steps == ["draft"]
    assert not by_item[waiting_at_draft].can_migrate
    assert "current step `draft`" in by_item[waiting_at_draft].reason
    assert "v2" in by_item[waiting_at_draft].reason
    assert not by_item[past_draft].can_migrate
    assert "completed step `draft`" in by_item[past_draft].reason
    assert by_item[waiting_at_register].can_migrate and by_item[waiting_at_register].reason is None

    before = instance_of(factory, waiting_at_draft)
    with unit_of_work(factory) as session:
        result = migration.migrate_item(session, designer, v3, waiting_at_draft)
    assert not result.migrated and "draft" in result.reason
    after = instance_of(factory, waiting_at_draft)
    assert (after.process_model_id, after.version, after.state) == (
        v1,
        before.version,
        before.state,
    )
    assert open_task(factory, waiting_at_draft).bpmn_id == "draft"

    with unit_of_work(factory) as session:
        result = migration.migrate_item(session, designer, v3, waiting_at_register)
    assert result.migrated
    complete(factory, people["registrar"], waiting_at_register, "register")
    assert open_task(factory, waiting_at_register).bpmn_id == "leader_approve"


def test_a_migration_that_renames_a_step_and_changes_its_role_and_time_limit(factory, people, v1):
    designer = people["designer"]
    item_id = at_draft(factory, people)
    before_task = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        tasks.claim(session, people["drafter"], before_task.id)
    v2 = save(factory, designer, retitled_draft()).model.id
    deploy(factory, designer, v2)
    with unit_of_work(factory) as session:
        (check,), total, _ = migration.preview(session, designer, v2)
    assert check.can_migrate and check.from_version == 1 and total == 1
    old_version = instance_of(factory, item_id).version
    with unit_of_work(factory) as session:
        assert migration.migrate_item(session, designer, v2, item_id).migrated
    instance = instance_of(factory, item_id)
    assert instance.process_model_id == v2 and instance.version > old_version
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
            "from_version": 1,
            "to_version": 2,
            "from_model_id": v1,
            "to_model_id": v2,
        }
        assert event.actor_id == designer.id and event.comment == "v1 → v2"
        # nothing is left to migrate, and migrating again is refused with a reason
        assert migration.preview(session, designer, v2)[1] == 0
        assert not migration.migrate_item(session, designer, v2, item_id).migrated
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
    report = check_bpmn(SUGGESTION, FORMS)
    assert report.key == "suggestion" and report.deployable and report.specs is not None
    report = check_bpmn(XXE, FORMS)
    assert report.xml_error is not None and report.problems[0].code == "xml"
    assert not report.deployable
