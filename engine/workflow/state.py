"""Serialize a workflow's state without its spec, and restore it onto a cached spec.

The spec of a process-model version is immutable and shared by every instance of that
version, so storing it once per version (as BPMN XML) and reattaching it on load keeps
instance rows small and loads fast. SpiffWorkflow's own converter always embeds the
spec; this converter writes and reads everything else exactly as the library does.
"""

from __future__ import annotations

from copy import copy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

SPEC_KEY = "__spec__"
SUBPROCESS_SPECS_KEY = "__subprocess_specs__"


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the spec out of `to_dict`; `from_dict` takes spec objects placed in the dict."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        workflow = self.target_class(
            dct.pop(SPEC_KEY), dct.pop(SUBPROCESS_SPECS_KEY), deserializing=True
        )
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = copy(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_serializer = _make_serializer()


def dump_state(workflow: BpmnWorkflow) -> dict[str, Any]:
    """JSON-ready state of `workflow`, without its spec."""
    dct = _serializer.to_dict(workflow)
    dct[_serializer.VERSION_KEY] = _serializer.VERSION
    return dct


def load_state(
    state: dict[str, Any],
    spec: BpmnProcessSpec,
    subprocess_specs: dict[str, BpmnProcessSpec],
) -> BpmnWorkflow:
    """Restore a workflow from `dump_state` output onto the given (shared) spec."""
    dct = dict(state)
    dct["subprocesses"] = dict(dct.get("subprocesses", {}))  # from_dict pops from it
    _serializer.migrate(dct)
    dct[SPEC_KEY] = spec
    dct[SUBPROCESS_SPECS_KEY] = subprocess_specs
    return _serializer.from_dict(dct)
