"""The restricted script engine: designer code is untrusted, so every escape must fail.

No database needed. Refusals are checked for their side effect too: the canary file
``/tmp/pwned_xyz`` must never appear.
"""

from __future__ import annotations

import threading
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn_xml import parse_bpmn_xml
from engine.scripting import (
    RestrictedEnvironment,
    RestrictedScriptEngine,
    ScriptRefused,
    check_code,
)

CANARY = Path("/tmp/pwned_xyz")
SHELL_ESCAPE = "__import__('os').system('touch /tmp/pwned_xyz')"

ROUTING_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="Definitions_routing" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="routing" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:outgoing>to_script</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="to_script" sourceRef="start" targetRef="score_case" />
    <bpmn:scriptTask id="score_case" name="Score the case">
      <bpmn:incoming>to_script</bpmn:incoming>
      <bpmn:outgoing>to_gateway</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="to_gateway" sourceRef="score_case" targetRef="route" />
    <bpmn:exclusiveGateway id="route" default="to_normal">
      <bpmn:incoming>to_gateway</bpmn:incoming>
      <bpmn:outgoing>to_urgent</bpmn:outgoing>
      <bpmn:outgoing>to_normal</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_urgent" sourceRef="route" targetRef="urgent">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_normal" sourceRef="route" targetRef="normal" />
    <bpmn:endEvent id="urgent">
      <bpmn:incoming>to_urgent</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="normal">
      <bpmn:incoming>to_normal</bpmn:incoming>
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

GOOD_SCRIPT = """\
total = sum(score for score in scores)
labels = [f"#{n}" for n in range(len(scores))]
urgent = total > 10
summary = {"total": total, "count": len(scores)}
"""


@pytest.fixture(autouse=True)
def no_canary():
    """Every test starts and must end without the canary file."""
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "sandboxed code created a file"


def build_workflow(
    script: str = GOOD_SCRIPT,
    condition: str = "urgent",
    engine: RestrictedScriptEngine | None = None,
) -> BpmnWorkflow:
    """Parse the routing diagram through the hardened parser, as the product does."""
    xml = ROUTING_BPMN.format(script=escape(script), condition=escape(condition))
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(parse_bpmn_xml(xml, "routing.bpmn"), "routing.bpmn")
    spec = parser.get_spec("routing")
    return BpmnWorkflow(spec, script_engine=engine or RestrictedScriptEngine())


def make_task(data: dict | None = None, engine: RestrictedScriptEngine | None = None):
    """A real SpiffWorkflow task (exceptions attach the task and read its workflow)."""
    workflow = build_workflow(engine=engine)
    task = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "start")
    task.data = dict(data or {})
    return task


def finished_end_events(workflow: BpmnWorkflow) -> list[str]:
    return [
        t.task_spec.bpmn_id
        for t in workflow.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id in ("urgent", "normal")
    ]


@pytest.fixture
def engine() -> RestrictedScriptEngine:
    return RestrictedScriptEngine(time_limit=0.2)


# --------------------------------------------------------------------------- refused


MALICIOUS_EXPRESSIONS = [
    SHELL_ESCAPE,
    "().__class__.__base__.__subclasses__()",
    "open('/etc/passwd').read()",
    "getattr(x, '__class__')",
    "[].__class__",
    "(x for x in []).gi_frame",
    "(x for x in []).gi_frame.f_back.f_globals",
    "(lambda: 0).__code__",
    "(lambda: (yield))",
    "'{0.__class__}'.format(x)",
    "str.format('{0.__class__}', x)",
    "eval('1 + 1')",
    "exec('y = 1')",
    "compile('1', 'x', 'eval')",
    "globals()",
    "vars()",
    "type(x)",
    "x.mro()",
    "__builtins__",
]


@pytest.mark.parametrize("expression", MALICIOUS_EXPRESSIONS)
def test_malicious_expressions_are_refused(engine, expression):
    task = make_task({"x": "text"}, engine)
    with pytest.raises(ScriptRefused) as info:
        engine.evaluate(task, expression)
    assert isinstance(info.value, WorkflowTaskException)
    assert info.value.task is task
    assert check_code(expression, "eval") is not None


MALICIOUS_SCRIPTS = [
    SHELL_ESCAPE,
    "import os\nos.system('touch /tmp/pwned_xyz')",
    "from os import system",
    "f = open('/tmp/pwned_xyz', 'w')",
    "c = [].__class__",
    "g = (i for i in [])\nframe = g.gi_frame",
    "def f():\n    return 1\ncode = f.__code__",
    "global x\nx = 1",
    "def outer():\n    y = 1\n    def inner():\n        nonlocal y\n    return inner",
    "class Evil:\n    pass",
    "try:\n    y = 1\nexcept:\n    pass",
    "for i in range(3):\n    try:\n        pass\n    finally:\n        continue",
    "with x:\n    pass",
    "def gen():\n    yield 1",
    "setattr(x, 'a', 1)",
]


@pytest.mark.parametrize("script", MALICIOUS_SCRIPTS)
def test_malicious_scripts_are_refused(engine, script):
    task = make_task({"x": "text"}, engine)
    with pytest.raises(ScriptRefused):
        engine.execute(task, script)
    assert check_code(script, "exec") is not None
    assert task.data == {"x": "text"}


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        ("import os", "exec", "Import statements are not allowed"),
        ("[].__class__", "eval", "Names starting with '_' are not allowed: __class__"),
        ("__import__('os')", "eval", "Names starting with '_' are not allowed: __import__"),
        ("open('/etc/passwd')", "eval", "'open' is not allowed"),
        ("(x for x in y).gi_frame", "eval", "attribute 'gi_frame' is not allowed"),
        ("a = 1\nimport os", "exec", "(line 2)"),
        ("x ==", "eval", "Syntax error"),
    ],
)
def test_check_code_explains_refusals(source, mode, expected):
    message = check_code(source, mode)
    assert message is not None
    assert expected in message


def test_check_code_accepts_ordinary_code():
    assert check_code("score > 3 and status == 'open'", "eval") is None
    assert check_code(GOOD_SCRIPT, "exec") is None
    assert check_code("for i in range(3):\n    n = n + i", "exec") is None


def test_check_code_wants_text():
    with pytest.raises(TypeError):
        check_code(None, "eval")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_code("1", "single")


def test_refusal_message_names_the_problem(engine):
    task = make_task({}, engine)
    with pytest.raises(ScriptRefused) as info:
        engine.execute(task, "import os")
    assert info.value.message == "Import statements are not allowed"
    assert str(info.value).startswith("Import statements are not allowed")


# --------------------------------------------------------------------------- time limit


def test_infinite_loop_is_stopped(engine):
    task = make_task({}, engine)
    with pytest.raises(ScriptRefused, match="time limit"):
        engine.execute(task, "while True: pass")


def test_infinite_expression_is_stopped(engine):
    task = make_task({}, engine)
    with pytest.raises(ScriptRefused, match="time limit"):
        engine.evaluate(task, "any(False for i in range(100000) for j in range(100000))")


def test_script_cannot_swallow_the_time_limit(engine):
    script = (
        "while True:\n"
        "    try:\n"
        "        while True:\n"
        "            pass\n"
        "    except Exception:\n"
        "        pass\n"
    )
    with pytest.raises(ScriptRefused, match="time limit"):
        engine.execute(make_task({}, engine), script)


def test_recursion_cannot_switch_off_the_time_limit(engine):
    """RecursionError raised inside a trace hook would uninstall it; depth is capped first."""
    script = (
        "def dive(n):\n"
        "    return dive(n + 1)\n"
        "try:\n"
        "    dive(0)\n"
        "except Exception:\n"
        "    pass\n"
        "while True:\n"
        "    pass\n"
    )
    with pytest.raises(ScriptRefused, match="call depth"):
        engine.execute(make_task({}, engine), script)


def test_lazy_iterators_cannot_be_nested_into_a_crash(engine):
    """map/filter/zip/enumerate return lists, so no deep C-level iterator chain exists."""
    task = make_task({"items": [1, -2]}, engine)
    engine.execute(task, "x = items\nfor i in range(1000):\n    x = map(abs, x)\ny = x")
    assert task.data["y"] == [1, 2]


def test_time_limit_works_outside_the_main_thread():
    environment = RestrictedEnvironment(time_limit=0.2)
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            environment.execute("n = 0\nwhile True:\n    n = n + 1", {})
        except BaseException as err:  # recorded for the assertion below
            outcome["error"] = err

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), ScriptRefused)


# --------------------------------------------------------------------------- size caps


@pytest.mark.parametrize(
    "expression",
    [
        "'x' * 10**9",
        "[0] * 10**9",
        "10**10**10",
        "1 << 10**10",
        "list(range(10**9))",
        "'%1000000000d' % 1",
        "f'{x:>1000000000}'",
        "x.ljust(10**9)",
        "sum([[1]] * 10, [])",
        "str(['x' * 1000000] * 1000000)",
        "f'{[x * 100000] * 100000}'",
        "'%s' % ([x * 100000] * 100000,)",
        "', '.join([x * 100000] * 100000)",
    ],
)
def test_huge_allocations_are_refused(engine, expression):
    with pytest.raises(ScriptRefused):
        engine.evaluate(make_task({"x": "text"}, engine), expression)


def test_doubling_loop_is_refused(engine):
    with pytest.raises(ScriptRefused, match="too large"):
        engine.execute(make_task({}, engine), "s = 'x'\nfor i in range(40):\n    s = s + s")


# --------------------------------------------------------------------------- allowed


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("score > 3", True),
        ("score > 3 and status == 'open'", False),
        ("len(items) == 3 and max(items) == 3", True),
        ("sum(x for x in items)", 6),
        ("[x * 2 for x in items if x > 1]", [4, 6]),
        ("{k: v for k, v in person.items()}", {"name": "Li"}),
        ("person['name'].upper()", "LI"),
        ("f'{person[\"name\"]}: {score:>3}'", "Li:   5"),
        ("sorted(items, key=lambda v: -v)", [3, 2, 1]),
        ("'PT1H'", "PT1H"),
        ("\n    score > 3\n  ", True),
        ("isinstance(status, str) and str(score) == '5'", True),
        ("str(items) + str(person)", "[1, 2, 3]{'name': 'Li'}"),
        ("list(zip(items, map(str, items)))", [(1, "1"), (2, "2"), (3, "3")]),
    ],
)
def test_ordinary_conditions_work(engine, expression, expected):
    task = make_task(
        {"score": 5, "status": "closed", "items": [1, 2, 3], "person": {"name": "Li"}}, engine
    )
    assert engine.evaluate(task, expression) == expected


def test_scripts_write_variables_into_task_data(engine):
    task = make_task({"items": [1, 2, 3], "score": 5, "a": 1, "n": 0}, engine)
    script = (
        "total = sum(x for x in items)\n"
        "approved = (score > 3)\n"
        'result = {"a": 1}\n'
        "a += 1\n"
        "for i in range(3): n = n + i\n"
        "first, *rest = items\n"
        "def double(v):\n"
        "    return v * 2\n"
        "doubled = [double(v) for v in items]\n"
        "items.append(4)\n"
        "result['b'] = 2\n"
        "print('ignored')\n"
    )
    assert engine.execute(task, script) is True
    assert task.data == {
        "items": [1, 2, 3, 4],
        "score": 5,
        "a": 2,
        "n": 3,
        "i": 2,
        "total": 6,
        "approved": True,
        "result": {"a": 1, "b": 2},
        "first": 1,
        "rest": [2, 3],
        "doubled": [2, 4, 6],
    }


def test_scripts_can_delete_variables_and_keep_private_keys(engine):
    task = make_task({"draft": "x", "_internal": "kept"}, engine)
    engine.execute(task, "del draft\nok = True")
    assert task.data == {"_internal": "kept", "ok": True}


def test_iterators_cannot_be_stored(engine):
    task = make_task({"items": [1, 2]}, engine)
    with pytest.raises(ScriptRefused, match="list"):
        engine.execute(task, "names = (str(i) for i in items)")


def test_script_errors_are_workflow_task_exceptions(engine):
    task = make_task({}, engine)
    with pytest.raises(WorkflowTaskException, match="not a valid case") as info:
        engine.execute(task, "x = 1\nraise ValueError('not a valid case')")
    assert not isinstance(info.value, ScriptRefused)
    assert info.value.line_number == 2


def test_caught_exceptions_still_work(engine):
    task = make_task({"raw": "abc"}, engine)
    engine.execute(task, "try:\n    n = int(raw)\nexcept ValueError:\n    n = 0")
    assert task.data["n"] == 0


def test_helpers_are_visible_but_not_stored():
    def add_working_days(start: int, days: int) -> int:
        return start + days

    engine = RestrictedScriptEngine(helpers={"add_working_days": add_working_days})
    task = make_task({"start": 1}, engine)
    assert engine.evaluate(task, "add_working_days(start, 2) == 3") is True
    engine.execute(task, "due = add_working_days(start, 4)")
    assert task.data == {"start": 1, "due": 5}
    assert "add_working_days" not in task.data


def test_task_data_may_not_hide_a_helper():
    engine = RestrictedScriptEngine(helpers={"add_working_days": lambda start, days: start})
    task = make_task({"add_working_days": 3}, engine)
    with pytest.raises(ScriptRefused, match="add_working_days"):
        engine.execute(task, "x = 1")


def test_invalid_helper_names_are_rejected():
    with pytest.raises(ValueError):
        RestrictedScriptEngine(helpers={"_secret": len})


def test_environment_is_restricted_without_a_task():
    """SpiffWorkflow calls script_engine.environment.evaluate directly in a few places."""
    environment = RestrictedScriptEngine().environment
    assert environment.evaluate("a + 1", {"a": 1}) == 2
    with pytest.raises(ScriptRefused):
        environment.evaluate(SHELL_ESCAPE, {})


def test_validate_keeps_syntax_errors_for_dmn(engine):
    with pytest.raises(SyntaxError):
        engine.validate("> 3 >")
    with pytest.raises(ScriptRefused):
        engine.validate("__import__('os')")
    engine.validate("score > 3")


def test_service_calls_are_refused(engine):
    with pytest.raises(ScriptRefused):
        engine.call_service(make_task({}, engine), operation_name="http/GetRequest")


# --------------------------------------------------------------------------- end to end


def test_workflow_runs_good_scripts_and_routes():
    workflow = build_workflow()
    workflow.task_tree.data.update({"scores": [4, 5, 6]})
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert finished_end_events(workflow) == ["urgent"]
    end = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "urgent")
    assert end.data["total"] == 15
    assert end.data["labels"] == ["#0", "#1", "#2"]
    assert end.data["summary"] == {"total": 15, "count": 3}

    low = build_workflow()
    low.task_tree.data.update({"scores": [1, 2]})
    low.do_engine_steps()
    assert finished_end_events(low) == ["normal"]


def test_workflow_refuses_malicious_gateway_condition():
    workflow = build_workflow(condition=SHELL_ESCAPE)
    workflow.task_tree.data.update({"scores": [1]})
    with pytest.raises(SpiffWorkflowException) as info:
        workflow.do_engine_steps()
    assert isinstance(info.value, ScriptRefused)
    assert "__import__" in str(info.value)
    assert not workflow.is_completed()


def test_workflow_refuses_malicious_script_task():
    workflow = build_workflow(script=SHELL_ESCAPE)
    workflow.task_tree.data.update({"scores": [1]})
    with pytest.raises(SpiffWorkflowException):
        workflow.do_engine_steps()
    assert not workflow.is_completed()


def test_workflow_stops_runaway_script():
    workflow = build_workflow(script="while True:\n    pass", engine=RestrictedScriptEngine(0.2))
    workflow.task_tree.data.update({"scores": [1]})
    with pytest.raises(SpiffWorkflowException, match="time limit"):
        workflow.do_engine_steps()
