"""Run workflows: start, complete a user task, advance to the next wait state.

Every workflow gets the restricted script engine, also after each load, because the
deserialized object would otherwise fall back to SpiffWorkflow's plain `eval`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from engine.scripting import RestrictedScriptEngine
from engine.workflow.specs import ProcessSpecs
from engine.workflow.state import dump_state, load_state

_script_engine = RestrictedScriptEngine()


class WorkflowRunError(RuntimeError):
    """A script, condition or timer in the diagram failed while the engine ran it."""


def _advance(workflow: BpmnWorkflow) -> None:
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise WorkflowRunError(str(exc).splitlines()[0]) from exc


def start(specs: ProcessSpecs, data: dict[str, Any]) -> BpmnWorkflow:
    workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=_script_engine)
    workflow.data.update(data)
    workflow.task_tree.data.update(data)
    _advance(workflow)
    return workflow


def load(specs: ProcessSpecs, state: dict[str, Any]) -> BpmnWorkflow:
    workflow = load_state(state, specs.spec, specs.subprocess_specs)
    workflow.script_engine = _script_engine
    return workflow


def dump(workflow: BpmnWorkflow) -> dict[str, Any]:
    return dump_state(workflow)


def ready_user_tasks(workflow: BpmnWorkflow) -> list[SpiffTask]:
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def find_ready_task(workflow: BpmnWorkflow, task_guid: str) -> SpiffTask | None:
    task = workflow.get_task_from_id(UUID(task_guid))
    if task is None or task.state != TaskState.READY:
        return None
    return task


def complete(workflow: BpmnWorkflow, task: SpiffTask, data: dict[str, Any]) -> None:
    """Merge the form data into the task, run it, and advance to the next wait state."""
    task.data.update(data)
    try:
        task.run()
    except SpiffWorkflowException as exc:
        raise WorkflowRunError(str(exc).splitlines()[0]) from exc
    _advance(workflow)
