"""Build SpiffWorkflow specs from stored BPMN and describe their user tasks.

Specs are parsed from the hardened XML tree, never from a file path, and cached per
process-model id: a version never changes once saved, so the cache cannot go stale
across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as BpmnUserTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.bpmn_xml import BpmnXmlError, parse_bpmn_xml
from engine.roles import role_for_lane


@dataclass(frozen=True)
class ProcessSpecs:
    key: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]


class SpecError(ValueError):
    """The diagram cannot be turned into an executable spec; names the element."""

    def __init__(self, message: str, element_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id


SHARED_PREFIX = "common_"  # process ids of shared subprocesses that item kinds call


def is_shared_process(key: str | None) -> bool:
    return bool(key) and key.startswith(SHARED_PREFIX)


def build_specs(
    bpmn_xml: str | bytes, source: str = "<bpmn>", library: Sequence[str | bytes] = ()
) -> ProcessSpecs:
    """Parse (hardened) and build the executable spec of the diagram's executable process.

    `library` holds the shared subprocess diagrams its call activities may name; only the
    first file's own executable process is the one that runs.
    """
    try:
        tree = parse_bpmn_xml(bpmn_xml, source)
        shared = [parse_bpmn_xml(xml, f"{source}-library-{n}") for n, xml in enumerate(library)]
    except BpmnXmlError as exc:
        raise SpecError(exc.message) from exc
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(tree, source)
        process_ids = parser.get_process_ids()
        for n, shared_tree in enumerate(shared):
            parser.add_bpmn_xml(shared_tree, f"{source}-library-{n}")
        if not process_ids:
            raise SpecError('the diagram has no executable process (isExecutable="true")')
        key = process_ids[0]
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as exc:
        raise SpecError(str(exc).splitlines()[0], getattr(exc, "id", None)) from exc
    return ProcessSpecs(key, spec, subprocess_specs)


_cache: dict[tuple[str, int], ProcessSpecs] = {}
_cache_lock = threading.Lock()


def specs_for_model(
    database: str, model_id: int, load_xml: Callable[[], tuple[str, list[str]]]
) -> ProcessSpecs:
    """Cached `build_specs` for an (immutable) process-model version of `database`.

    `load_xml` (the diagram and the shared subprocesses it calls) is only called on a
    cache miss, so the (deferred) XML column is not read on every task completion.
    Keying by database too keeps processes that talk to more than one database (tests,
    tools) from mixing up equal ids.
    """
    key = (database, model_id)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        xml, library = load_xml()
        cached = build_specs(xml, f"model-{model_id}", library)
        with _cache_lock:
            _cache[key] = cached
    return cached


def forget_cached_specs() -> None:
    """Drop every cached spec: for tests and tools that empty a database and reuse ids."""
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class UserTaskInfo:
    """What the product reads from a user task spec."""

    bpmn_id: str
    title: str
    role: str | None
    form: str | None
    properties: dict[str, str]


def describe_user_task(task_spec: BpmnUserTask) -> UserTaskInfo:
    extensions = getattr(task_spec, "extensions", {}) or {}
    return UserTaskInfo(
        bpmn_id=task_spec.bpmn_id,
        title=task_spec.bpmn_name or task_spec.bpmn_id,
        role=role_for_lane(task_spec.lane),
        form=extensions.get("formJsonSchemaFilename"),
        properties=dict(extensions.get("properties", {})),
    )


def user_task_specs(specs: ProcessSpecs) -> list[BpmnUserTask]:
    """Every user task spec of the process and its subprocesses."""
    all_specs = [specs.spec, *specs.subprocess_specs.values()]
    return [
        task_spec
        for process_spec in all_specs
        for task_spec in process_spec.task_specs.values()
        if isinstance(task_spec, BpmnUserTask)
    ]
