"""Is a diagram deployable here? Element-precise problems, in plain Chinese and English.

Runs, in order:

1. the hardened XML parse (size limit, no DTD/entities, BPMN 2.0 root element);
2. a scan of the process that would run (and the processes it calls) for elements this
   product cannot execute: service, business-rule and manual tasks, untyped tasks,
   message and signal events without a counterpart, cycle timers, call activities to
   processes not in the file, data stores, complex gateways, ad-hoc subprocesses, …;
3. SpiffWorkflow's spec build, whose errors (also its XML Schema errors, which only
   know a line number) are turned into problems naming the element;
4. the product's own rules: every user task sits in a lane that names a role and has a
   form that exists; deadline properties are whole numbers; every condition, script and
   timer expression compiles under the restricted script engine; form schemas are valid
   JSON Schema (Draft 2020-12) objects.

Every problem is ``Problem(element_id, message, code)``: `element_id` is the id of the
BPMN element it is about (None only for problems about the whole file), `code` a
stable machine-readable kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.bpmn_xml import (
    BPMN_MODEL_NS,
    FLOW_NODE_TAGS,
    BpmnXmlError,
    executable_processes,
    parse_bpmn_xml,
)
from engine.models import ITEM_KINDS
from engine.roles import ROLE_LABELS
from engine.scripting import check_code
from engine.workflow.specs import (
    ProcessSpecs,
    describe_user_task,
    is_shared_process,
    user_task_specs,
)

__all__ = [
    "DOCUMENT_CODES",
    "LintReport",
    "Problem",
    "check_bpmn",
    "lint_bpmn",
    "form_name_error",
    "lint_forms",
]

_NS = {"bpmn": BPMN_MODEL_NS}
_B = f"{{{BPMN_MODEL_NS}}}"

# Problems with these codes are about the whole file; every other problem names an element.
DOCUMENT_CODES = frozenset({"xml", "too_large", "no_process", "form_schema", "spiff"})


@dataclass(frozen=True)
class Problem:
    element_id: str | None
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"[{self.element_id}] {self.message}" if self.element_id else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"element_id": self.element_id, "message": self.message, "code": self.code}


@dataclass
class LintReport:
    """The outcome of `check_bpmn`: problems, plus what the checks learned on the way."""

    problems: list[Problem] = field(default_factory=list)
    key: str | None = None  # id of the process that would run
    process_ids: list[str] = field(default_factory=list)  # every bpmn:process in the file
    specs: ProcessSpecs | None = None
    xml_error: BpmnXmlError | None = None  # not even well-formed BPMN: nothing can be stored
    shared_calls: list[str] = field(default_factory=list)  # library processes it calls

    @property
    def deployable(self) -> bool:
        return not self.problems


def lint_bpmn(
    bpmn_xml: str | bytes,
    form_names: Iterable[str] | Mapping[str, Any],
    source: str = "<bpmn>",
    library: Mapping[str, str | bytes] | None = None,
) -> list[Problem]:
    """Every problem that keeps the diagram from running in this product; empty when deployable.

    `form_names` are the forms that exist; given a mapping of name → JSON Schema, the
    schemas are checked too.
    """
    return check_bpmn(bpmn_xml, form_names, source, library).problems


def check_bpmn(
    bpmn_xml: str | bytes,
    forms: Iterable[str] | Mapping[str, Any],
    source: str = "<bpmn>",
    library: Mapping[str, str | bytes] | None = None,
) -> LintReport:
    """Run every check; never raises for bad input (a problem says what is wrong).

    `library` maps the ids of the shared subprocesses (`common_*`) that call activities
    may name to their (already deployed, already checked) diagrams.
    """
    report = LintReport()
    try:
        tree = parse_bpmn_xml(bpmn_xml, source)
    except BpmnXmlError as exc:
        report.xml_error = exc
        code = "too_large" if "larger than" in exc.message else "xml"
        where = f"（第 {exc.line} 行 / line {exc.line}）" if exc.line else ""
        report.problems.append(
            Problem(
                None, f"文件不是可用的 BPMN XML{where} / not usable BPMN XML: {exc.message}", code
            )
        )
        return report
    form_names = set(forms)
    schemas = forms if isinstance(forms, Mapping) else None
    report.process_ids = [p.get("id") or "" for p in tree.iterfind(f".//{_B}process")]
    executable = executable_processes(tree)
    if not executable:
        report.problems.append(_no_process_problem(tree))
        return report
    key_process = executable[0]
    report.key = key_process.get("id")
    by_id = {p.get("id"): p for p in tree.iterfind(f".//{_B}process") if p.get("id")}
    run = _called_closure(key_process, by_id)
    shared = _shared_trees(library or {}, by_id)
    report.shared_calls = _shared_closure(run, shared)
    if report.key not in ITEM_KINDS and not is_shared_process(report.key):
        report.problems.append(
            Problem(
                report.key,
                "流程 id 应为事项类别之一，该类事项才会按此流程办理；共用子流程的 id 以 common_ "
                "开头 / the process id must be one of the item kinds "
                f"({', '.join(ITEM_KINDS)}) for items of that kind to follow it, or start with "
                "`common_` for a shared subprocess that kinds call",
                "process_key",
            )
        )
    scan = _scan(tree, key_process, run, executable, by_id, set(shared))
    report.problems.extend(scan)
    flagged = {p.element_id for p in scan}
    specs, spec_problem = _build(tree, report.key, source, [shared[k] for k in report.shared_calls])
    if spec_problem is not None and spec_problem.element_id not in flagged:
        report.problems.append(spec_problem)
    if specs is not None:
        report.specs = specs
        report.problems.extend(_reachability(run, specs))
        report.problems.extend(_spec_problems(specs, form_names))
    if schemas is not None:
        report.problems.extend(_form_problems(specs, schemas))
    report.problems = _unique(report.problems)
    return report


def _unique(problems: list[Problem]) -> list[Problem]:
    """One problem per element and kind (the scan and the spec build may both see it)."""
    seen: set[tuple[str | None, str, str]] = set()
    unique = []
    for problem in problems:
        kind = problem.code
        if problem.message.startswith("不支持数据存储"):
            kind = "unsupported_dataStore"  # SpiffWorkflow's data store error, named by us too
        # Several conditions or scripts of one element may each be refused.
        detail = problem.message if kind == "code" else ""
        if (problem.element_id, kind, detail) not in seen:
            seen.add((problem.element_id, kind, detail))
            unique.append(problem)
    return unique


# --- 1. processes --------------------------------------------------------------------------


def _no_process_problem(tree: etree._ElementTree) -> Problem:
    processes = list(tree.iterfind(f".//{_B}process"))
    if not processes:
        return Problem(
            None,
            "文件中没有流程（只有协作图、编排或其他定义）/ the file contains no process "
            "(only collaborations, choreographies or other definitions)",
            "no_process",
        )
    first = processes[0]
    others = ", ".join(p.get("id") or "?" for p in processes[1:])
    also = f"；其他流程 / other processes: {others}" if others else ""
    return Problem(
        first.get("id") or None,
        '流程未标记为可执行 / the process is not executable (isExecutable="false"); mark the '
        f"process to run as executable{also}",
        "not_executable" if first.get("id") else "no_process",
    )


def _called_closure(
    key_process: etree._Element, by_id: dict[str, etree._Element]
) -> list[etree._Element]:
    """The process that runs and every process of the file it calls, transitively."""
    run = [key_process]
    pending = [key_process]
    while pending:
        process = pending.pop()
        for activity in process.iterfind(f".//{_B}callActivity"):
            called = by_id.get((activity.get("calledElement") or "").strip())
            if called is not None and called not in run:
                run.append(called)
                pending.append(called)
    return run


def _shared_trees(
    library: Mapping[str, str | bytes], by_id: dict[str, etree._Element]
) -> dict[str, etree._ElementTree]:
    """Parsed library diagrams, except those the file itself defines (its own copy wins)."""
    return {
        key: parse_bpmn_xml(xml, f"library-{key}")
        for key, xml in library.items()
        if key not in by_id
    }


def _shared_closure(run: list[etree._Element], shared: dict[str, etree._ElementTree]) -> list[str]:
    """Ids of the library processes the running processes call, transitively, in call order."""
    calls: list[str] = []
    pending = list(run)
    while pending:
        process = pending.pop(0)
        for activity in process.iterfind(f".//{_B}callActivity"):
            target = (activity.get("calledElement") or "").strip()
            if target in shared and target not in calls:
                calls.append(target)
                pending.extend(shared[target].iterfind(f".//{_B}process[@id='{target}']"))
    return calls


# --- 2. elements this product cannot execute -----------------------------------------------

_UNSUPPORTED_TAGS = {
    "serviceTask": "服务任务无法执行：本系统不调用外部服务 / service tasks cannot run here: this "
    "product calls no external services; use a user task (or a script task)",
    "businessRuleTask": "业务规则任务无法执行：本系统未附带 DMN 决策表 / business rule tasks "
    "cannot run here: no DMN decision tables are shipped; use a gateway with conditions",
    "manualTask": "手工任务无法执行 / manual tasks are not supported; use a user task in the lane "
    "of the role that does the work",
    "task": "任务未指定类型，运行时会被直接跳过 / this task has no type and would be skipped; make "
    "it a user task (someone does it) or a script task",
    "complexGateway": "不支持复杂网关 / complex gateways are not supported; use exclusive, "
    "inclusive or parallel gateways",
    "adHocSubProcess": "不支持自由子流程 / ad-hoc subprocesses are not supported here",
    "dataStoreReference": "不支持数据存储 / data stores are not supported: items keep their data "
    "in the process itself",
    "dataStore": "不支持数据存储 / data stores are not supported: items keep their data in the "
    "process itself",
}
_MESSAGE_THROWERS = ("intermediateThrowEvent", "endEvent")
_MESSAGE_CATCHERS = ("startEvent", "intermediateCatchEvent", "boundaryEvent")


_SHAPES = FLOW_NODE_TAGS | {
    "process",
    "sequenceFlow",
    "lane",
    "participant",
    "messageFlow",
    "dataStore",
    "dataStoreReference",
    "dataObject",
    "dataObjectReference",
    "textAnnotation",
    "association",
}


def _element_id(element: etree._Element | None) -> str | None:
    """The id of the diagram element `element` belongs to (an event for its definition, …).

    Falls back to the nearest id of any kind when no enclosing diagram element has one.
    """
    fallback = None
    while element is not None:
        if isinstance(element.tag, str) and element.get("id"):
            if _local(element) in _SHAPES:
                return element.get("id")
            fallback = fallback or element.get("id")
        element = element.getparent()
    return fallback


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(_B):
        return ""
    return tag[len(_B) :]


def _message_key(definition: etree._Element, root: etree._Element) -> str | None:
    ref = (definition.get("messageRef") or "").strip()
    if not ref:
        return None
    # A message is identified by its name when it has one (SpiffWorkflow matches names).
    for message in root.iterfind(f"{_B}message"):
        if message.get("id") == ref:
            return "name:" + message.get("name") if message.get("name") else "id:" + ref
    return "id:" + ref


def _scan(
    tree: etree._ElementTree,
    key_process: etree._Element,
    run: list[etree._Element],
    executable: list[etree._Element],
    by_id: dict[str, etree._Element],
    shared_ids: set[str],
) -> list[Problem]:
    root = tree.getroot()
    problems: list[Problem] = []
    key = key_process.get("id")
    called = {p.get("id") for p in run}
    for process in executable[1:]:
        if process.get("id") not in called:
            problems.append(
                Problem(
                    process.get("id") or None,
                    f"此流程不会运行：只运行第一个可执行流程 `{key}` 及其调用的流程 / this "
                    f"process never runs: only the first executable process (`{key}`) and the "
                    "processes it calls run",
                    "unused_process",
                )
            )
    elements = [e for process in run for e in process.iter() if isinstance(e.tag, str)]
    # SpiffWorkflow refuses every data store of the file, wherever it is declared.
    elements.extend(e for e in root if _local(e) == "dataStore")
    message_throws: dict[str | None, list[str]] = {}
    message_catches: dict[str | None, list[str]] = {}
    signal_throws: set[str | None] = set()
    signal_catches: dict[str | None, list[str]] = {}

    top_starts = [e for e in key_process if _local(e) == "startEvent"]
    if len(top_starts) > 1:
        for start in top_starts[1:]:
            problems.append(
                Problem(
                    start.get("id"),
                    "流程只能有一个开始事件 / the process may have only one start event: items "
                    "start when they are registered",
                    "start_event",
                )
            )
    for start in top_starts:
        if any(_local(child).endswith("EventDefinition") for child in start):
            problems.append(
                Problem(
                    start.get("id"),
                    "开始事件不能带事件定义（消息、定时、信号等）/ the process's start event must "
                    "be a plain start event: items start when they are registered",
                    "start_event",
                )
            )

    for element in elements:
        tag = _local(element)
        element_id = _element_id(element)
        if tag in _UNSUPPORTED_TAGS:
            problems.append(Problem(element_id, _UNSUPPORTED_TAGS[tag], f"unsupported_{tag}"))
        elif tag == "callActivity":
            target = (element.get("calledElement") or "").strip()
            if not target:
                problems.append(
                    Problem(
                        element_id,
                        "调用活动没有指定被调用的流程 / the call activity names no process to "
                        "call (calledElement)",
                        "call_activity",
                    )
                )
            elif target not in by_id and target not in shared_ids:
                problems.append(
                    Problem(
                        element_id,
                        f"调用的流程 `{target}` 不在本文件中，也不是已部署的共用子流程 / calls "
                        f"process `{target}`, which is neither in this file nor a deployed "
                        "shared subprocess",
                        "call_activity",
                    )
                )
        elif tag == "timeCycle":
            problems.append(
                Problem(
                    element_id,
                    "不支持循环定时器 / cycle timers are not supported here; use a date or a "
                    "duration",
                    "cycle_timer",
                )
            )
        elif tag == "messageEventDefinition":
            event = element.getparent()
            name = _message_key(element, root)
            if _local(event) in _MESSAGE_THROWERS:
                message_throws.setdefault(name, []).append(_element_id(event))
            elif _local(event) in _MESSAGE_CATCHERS:
                message_catches.setdefault(name, []).append(_element_id(event))
        elif tag == "sendTask":
            name = _message_key(element, root)
            message_throws.setdefault(name, []).append(element_id)
        elif tag == "receiveTask":
            name = _message_key(element, root)
            message_catches.setdefault(name, []).append(element_id)
        elif tag == "signalEventDefinition":
            event = element.getparent()
            name = (element.get("signalRef") or "").strip() or None
            if _local(event) in _MESSAGE_THROWERS:
                signal_throws.add(name)
            elif _local(event) in _MESSAGE_CATCHERS:
                signal_catches.setdefault(name, []).append(_element_id(event))

    top_start_ids = {s.get("id") for s in top_starts}
    for name, ids in message_catches.items():
        for element_id in ids:
            if element_id in top_start_ids:
                continue  # reported above as a start event problem
            if name is None or name not in message_throws:
                problems.append(
                    Problem(
                        element_id,
                        "等待的消息在流程中没有发送方，会一直等待 / waits for a message that "
                        "nothing in this process sends: it would wait forever (this product "
                        "exchanges no messages with other participants)",
                        "message",
                    )
                )
    for name, ids in message_throws.items():
        if name is None or name not in message_catches:
            for element_id in ids:
                problems.append(
                    Problem(
                        element_id,
                        "发送的消息在流程中没有接收方 / sends a message that nothing in this "
                        "process receives (this product exchanges no messages with other "
                        "participants)",
                        "message",
                    )
                )
    for name, ids in signal_catches.items():
        for element_id in ids:
            if element_id in top_start_ids:
                continue
            if name is None or name not in signal_throws:
                problems.append(
                    Problem(
                        element_id,
                        "等待的信号在流程中没有发出方，会一直等待 / waits for a signal that "
                        "nothing in this process throws: it would wait forever",
                        "signal",
                    )
                )
    return problems


# --- 3. SpiffWorkflow's spec build, with element ids --------------------------------------

# SpiffWorkflow's most common messages, in plain words (matched on the message's start).
_SPIFF_MESSAGES = (
    (
        "Non-default exclusive outgoing sequence flow without condition",
        "网关的出口既没有条件也不是默认出口 / an outgoing flow of this gateway has no condition "
        "and is not the default flow",
    ),
    (
        "Multiple outgoing flows are not supported for tasks of type",
        "此类元素不能有多个出口，请用网关分支 / this element has several outgoing flows; split "
        "with a gateway",
    ),
    (
        "A multiinstance task must specify a cardinality or a loop input",
        "多实例任务需要指定数量或输入集合 / a multi-instance task needs a cardinality or a loop "
        "input collection",
    ),
    (
        "Exactly one start event is required in a SubWorkflow",
        "子流程必须恰好有一个开始事件 / a subprocess needs exactly one plain start event",
    ),
    (
        "Time Specification Error",
        "定时器没有可用的时间设置 / the timer has no usable date, duration or cycle",
    ),
    ("No start event found", "流程没有开始事件 / the process has no start event"),
    (
        "There is no support implemented for this task type",
        "不支持此类元素 / this kind of element is not supported",
    ),
    (
        "Data Store",
        "不支持数据存储 / data stores are not supported: items keep their data in the process "
        "itself",
    ),
    (
        "Cannot resolve data",
        "数据关联引用了不存在的数据对象 / a data association refers to a data object that does "
        "not exist",
    ),
)


def _plain_spiff_message(raw: str) -> tuple[str, str]:
    # lxml elements print with their memory address: keep the tag only (stable messages).
    raw = re.sub(r"<Element (\S+) at 0x[0-9a-fA-F]+>", r"\1", raw)
    raw = re.sub(r"\{[^}]*\}", "", raw)
    text = raw.strip().splitlines()[0].strip() if raw.strip() else "unknown error"
    text = re.sub(r"(\.\s*)+$", "", text)
    if text.startswith("Element '"):
        return "不符合 BPMN 2.0 规范 / does not follow the BPMN 2.0 schema: " + text, "bpmn_schema"
    for prefix, plain in _SPIFF_MESSAGES:
        if text.startswith(prefix):
            return f"{plain} ({text})", "spec"
    return f"流程无法构建 / the process cannot be built: {text}", "spec"


def _element_at_line(tree: etree._ElementTree, line: int, message: str) -> etree._Element | None:
    """The element an XML Schema error at `line` is about (its tag is in the message)."""
    named = re.match(r"Element '([^']+)'", message)
    wanted = named.group(1) if named else None
    elements = [e for e in tree.iter() if isinstance(e.tag, str)]
    on_line = [e for e in elements if e.sourceline == line]
    for element in on_line:
        if wanted is None or element.tag == wanted:
            return element
    if on_line:
        return on_line[0]
    before = [e for e in elements if (e.sourceline or 0) <= line]
    return before[-1] if before else None


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"


def _build(
    tree: etree._ElementTree, key: str, source: str, shared: list[etree._ElementTree]
) -> tuple[ProcessSpecs | None, Problem | None]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(tree, source)
        for n, shared_tree in enumerate(shared):
            parser.add_bpmn_xml(shared_tree, f"{source}-library-{n}")
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except SpiffWorkflowException as exc:
        message, code = _plain_spiff_message(str(exc))
        element_id = getattr(exc, "id", None) or None
        if element_id is None and getattr(exc, "task_spec", None) is not None:
            element_id = getattr(exc.task_spec, "bpmn_id", None)
        store = re.match(r"Data Store with name (.+?) has no implementation", str(exc), re.S)
        if element_id is None and store:
            named = tree.find(f".//{_B}dataStore[@name={_xpath_literal(store.group(1))}]")
            element_id = _element_id(named)
        called = re.match(r"The process '(.+?)' was not found", str(exc), re.S)
        if element_id is None and called:
            literal = _xpath_literal(called.group(1))
            element_id = _element_id(tree.find(f".//{_B}callActivity[@calledElement={literal}]"))
        line = getattr(exc, "line_number", None)
        if element_id is None and isinstance(line, int) and line > 0:
            element_id = _element_id(_element_at_line(tree, line, str(exc)))
        if element_id is None:
            code = "spiff"
        return None, Problem(element_id, message, code)
    except Exception as exc:  # noqa: BLE001 - a library bug must not become a server error
        return None, Problem(
            key,
            f"流程无法构建 / the process cannot be built ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            "spec",
        )
    return ProcessSpecs(key, spec, subprocess_specs), None


def _reachability(run: list[etree._Element], specs: ProcessSpecs) -> list[Problem]:
    """Flow nodes no sequence flow leads to never run: name them."""
    known: set[str] = set()
    for process_spec in [specs.spec, *specs.subprocess_specs.values()]:
        known.update(process_spec.task_specs)
        known.add(process_spec.name)
    problems = []
    for process in run:
        for element in process.iter():
            if not isinstance(element.tag, str) or _local(element) not in FLOW_NODE_TAGS:
                continue
            element_id = element.get("id")
            if not element_id or element_id in known:
                continue
            if element.get("isForCompensation") == "true" or _inside_unreached(element, known):
                continue
            problems.append(
                Problem(
                    element_id,
                    "此元素永远不会运行：没有顺序流通向它 / this element never runs: no "
                    "sequence flow leads to it from the start event",
                    "unreachable",
                )
            )
    return problems


def _inside_unreached(element: etree._Element, known: set[str]) -> bool:
    """Elements inside an unreached subprocess: only the subprocess itself is reported."""
    parent = element.getparent()
    while parent is not None and _local(parent) != "process":
        if _local(parent) in FLOW_NODE_TAGS and parent.get("id") not in known:
            return True
        parent = parent.getparent()
    return False


# --- 4. the product's own rules ------------------------------------------------------------


def _spec_problems(specs: ProcessSpecs, forms: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    roles = ", ".join(ROLE_LABELS)
    user_tasks = user_task_specs(specs)
    if not user_tasks:
        problems.append(
            Problem(
                specs.key,
                "流程中没有用户任务，事项登记后会立即办结 / the process has no user task: items "
                "would be filed the moment they are registered",
                "no_user_task",
            )
        )
    for task_spec in user_tasks:
        info = describe_user_task(task_spec)
        if info.role is None:
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"用户任务不在对应角色的泳道中 / user task is not in a lane named after a "
                    f"role (lane: {task_spec.lane!r}; roles: {roles})",
                    "lane",
                )
            )
        problems.extend(_property_problems(info))
        if not info.form:
            problems.append(
                Problem(info.bpmn_id, "用户任务没有表单 / user task has no form", "form")
            )
        elif info.form not in forms:
            problems.append(
                Problem(info.bpmn_id, f"表单不存在 / form {info.form!r} does not exist", "form")
            )
    for process_spec in [specs.spec, *specs.subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            problems.extend(_code_problems(task_spec))
    return problems


DEADLINE_PROPERTIES = ("due_working_days", "remind_working_days", "supervise_after_working_days")
MAX_WORKING_DAYS = 3650


def _property_problems(info) -> list[Problem]:
    problems = []
    for name in DEADLINE_PROPERTIES:
        raw = info.properties.get(name)
        if raw is None:
            continue
        text = str(raw).strip()
        if not text.isdigit() or not text.isascii() or int(text) > MAX_WORKING_DAYS:
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"期限属性应为 0 到 {MAX_WORKING_DAYS} 的整数 / property {name} must be a "
                    f"whole number of working days from 0 to {MAX_WORKING_DAYS} (got {raw!r})",
                    "property",
                )
            )
    return problems


def _code_problems(task_spec) -> list[Problem]:
    problems = []
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, CycleTimerEventDefinition):
        problems.append(
            Problem(
                task_spec.bpmn_id,
                "不支持循环定时器 / cycle timers are not supported here",
                "cycle_timer",
            )
        )
    elif isinstance(definition, TimerEventDefinition) and (
        error := check_code(definition.expression, "eval")
    ):
        problems.append(
            Problem(
                task_spec.bpmn_id,
                f"定时表达式不被允许 / timer expression refused: {error}",
                "code",
            )
        )
    for condition, _target in getattr(task_spec, "cond_task_specs", []):
        # SpiffWorkflow wraps each flow's condition text in an operator object.
        expression = condition.args[0] if hasattr(condition, "args") else condition
        if expression and (error := check_code(expression, "eval")):
            problems.append(
                Problem(
                    task_spec.bpmn_id, f"条件表达式不被允许 / condition refused: {error}", "code"
                )
            )
    script = task_spec.script if isinstance(task_spec, ScriptTask) else None
    if script and (error := check_code(script, "exec")):
        problems.append(
            Problem(task_spec.bpmn_id, f"脚本不被允许 / script refused: {error}", "code")
        )
    for attribute in ("prescript", "postscript"):
        script = getattr(task_spec, attribute, None)
        if script and (error := check_code(script, "exec")):
            problems.append(
                Problem(
                    task_spec.bpmn_id,
                    f"{attribute} 不被允许 / {attribute} refused: {error}",
                    "code",
                )
            )
    return problems


# --- form schemas --------------------------------------------------------------------------

MAX_FORM_NAME = 200
_FORM_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")


def form_name_error(name: Any) -> str | None:
    if isinstance(name, str) and len(name) <= MAX_FORM_NAME and _FORM_NAME.match(name):
        return None
    return (
        "表单文件名只能包含字母、数字、点、下划线和连字符 / a form name may contain letters, "
        f"digits, dots, underscores and hyphens only (at most {MAX_FORM_NAME} characters)"
    )


def lint_forms(forms: Mapping[str, Any]) -> dict[str, str]:
    """Form name → why it is unusable (its name or its schema), for every unusable form."""
    problems: dict[str, str] = {}
    for name, schema in forms.items():
        if error := form_name_error(name):
            problems[str(name)[:MAX_FORM_NAME]] = error
        elif error := _schema_error(schema):
            problems[name] = error
    return problems


def _schema_error(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "表单应为 JSON 对象 / a form schema must be a JSON object"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return (
            "不是有效的 JSON Schema (Draft 2020-12) / not a valid JSON Schema (Draft 2020-12)"
            f"{' at ' + where if where else ''}: {exc.message[:300]}"
        )
    except RecursionError:
        return "表单嵌套过深 / the form schema is nested too deeply"
    if schema.get("type", "object") != "object":
        return '表单的 type 应为 "object" / a form schema must have type "object"'
    if not isinstance(schema.get("properties"), dict):
        return "表单缺少 properties / a form schema must list its fields under `properties`"
    if reference := _bad_reference(schema):
        return (
            "表单只能引用自身中存在的定义 / a form schema may only refer to definitions inside "
            f"itself ($ref {reference!r} does not resolve there)"
        )
    return None


def _bad_reference(schema: dict[str, Any]) -> str | None:
    """The first `$ref` that leaves the schema or points nowhere in it (else validating
    form data would fail with a server error instead of a message)."""
    anchors = set()
    references = []
    pending: list[Any] = [schema]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            for keyword in ("$anchor", "$dynamicAnchor"):
                if isinstance(current.get(keyword), str):
                    anchors.add(current[keyword])
            for keyword in ("$ref", "$dynamicRef"):
                if isinstance(current.get(keyword), str):
                    references.append(current[keyword])
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    for reference in references:
        if not reference.startswith("#"):
            return reference
        fragment = unquote(reference[1:])
        if fragment and not fragment.startswith("/"):
            if fragment not in anchors:
                return reference
        elif not _pointer_resolves(schema, fragment):
            return reference
    return None


def _pointer_resolves(document: Any, pointer: str) -> bool:
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return False
    return True


def _form_problems(specs: ProcessSpecs | None, schemas: Mapping[str, Any]) -> list[Problem]:
    broken = lint_forms(schemas)
    if not broken:
        return []
    problems = []
    used: set[str] = set()
    for task_spec in user_task_specs(specs) if specs is not None else []:
        info = describe_user_task(task_spec)
        if info.form in broken:
            used.add(info.form)
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"表单 {info.form} 无效 / form {info.form} is unusable: {broken[info.form]}",
                    "form_schema_used",
                )
            )
    for name, error in broken.items():
        if name not in used:
            problems.append(
                Problem(None, f"表单 {name} 无效 / form {name} is unusable: {error}", "form_schema")
            )
    return problems
