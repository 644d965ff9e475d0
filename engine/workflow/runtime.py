"""Run workflows: start, complete a user task, fire timers, advance to the next wait state.

Every workflow gets the restricted script engine, also after each load, because the
deserialized object would otherwise fall back to SpiffWorkflow's plain `eval`.
SpiffWorkflow's timer events read `datetime.now()`; they are pointed at `engine.clock`
here so timers follow the same clock (and `LIAISON_NOW`) as everything else.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.scripting import RestrictedScriptEngine
from engine.workcalendar import WorkCalendar
from engine.workflow.helpers import EXPRESSION_HELPERS, using_calendar
from engine.workflow.specs import ProcessSpecs
from engine.workflow.state import dump_state, load_state

_script_engine = RestrictedScriptEngine(helpers=EXPRESSION_HELPERS)


class _ClockDateTime(datetime):
    """`datetime` whose `now()` is the application clock."""

    @classmethod
    def now(cls, tz=None):  # noqa: ANN206 - mirrors datetime.now
        value = clock.now()
        return value.astimezone(tz) if tz else value.astimezone().replace(tzinfo=None)


spiff_timer.datetime = _ClockDateTime
# A timer date written without a zone means business time, not the server's zone.
spiff_timer.LOCALTZ = clock.business_timezone()


class WorkflowRunError(RuntimeError):
    """A script, condition or timer in the diagram failed while the engine ran it."""


def _advance(workflow: BpmnWorkflow) -> None:
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise WorkflowRunError(str(exc).splitlines()[0]) from exc


def start(specs: ProcessSpecs, data: dict[str, Any], calendar: WorkCalendar) -> BpmnWorkflow:
    workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=_script_engine)
    workflow.data.update(data)
    workflow.task_tree.data.update(data)
    with using_calendar(calendar):
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


def completed_user_tasks(workflow: BpmnWorkflow) -> list[SpiffTask]:
    return workflow.get_tasks(state=TaskState.COMPLETED, manual=True)


def find_ready_task(workflow: BpmnWorkflow, task_guid: str) -> SpiffTask | None:
    task = workflow.get_task_from_id(UUID(task_guid))
    if task is None or task.state != TaskState.READY:
        return None
    return task


def complete(
    workflow: BpmnWorkflow, task: SpiffTask, data: dict[str, Any], calendar: WorkCalendar
) -> None:
    """Merge the form data into the task, run it, and advance to the next wait state."""
    task.data.update(data)
    with using_calendar(calendar):
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise WorkflowRunError(str(exc).splitlines()[0]) from exc
        _advance(workflow)


def fire_timers(workflow: BpmnWorkflow, calendar: WorkCalendar) -> None:
    """Let due timer events fire and run on to the next wait state."""
    with using_calendar(calendar):
        workflow.refresh_timers()
        _advance(workflow)


_has_timer_events: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def has_timer_events(workflow: BpmnWorkflow) -> bool:
    """Whether the workflow's diagram has any timer event (cached per shared spec)."""
    spec = workflow.spec
    if spec not in _has_timer_events:
        specs = [spec, *workflow.subprocess_specs.values()]
        _has_timer_events[spec] = any(
            isinstance(
                getattr(task_spec, "event_definition", None), spiff_timer.TimerEventDefinition
            )
            for process_spec in specs
            for task_spec in process_spec.task_specs.values()
        )
    return _has_timer_events[spec]


def waiting_timers(workflow: BpmnWorkflow) -> dict[str, datetime]:
    """Task guid → due instant of every timer event the workflow waits on."""
    timers = {}
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        value = task._get_internal_data("event_value")
        if isinstance(definition, spiff_timer.TimerEventDefinition) and isinstance(value, str):
            try:
                timers[str(task.id)] = spiff_timer.TimerEventDefinition.get_datetime(value)
            except ValueError:
                continue  # cycle timers keep a non-instant value; they are refused by lint
    return timers
