"""Keep the task and item projections in step with a workflow, in the same transaction."""

from __future__ import annotations

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from engine import clock
from engine.models import Item, ProcessInstance, Task, Timer
from engine.roles import DEPARTMENT_SCOPED_ROLES
from engine.services.accounts import department_by_name
from engine.services.numbering import next_number
from engine.services.scheduling import schedule_task
from engine.workflow import runtime
from engine.workflow.specs import describe_user_task


def save_state(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Put the workflow's state on its instance row (flushed with one version-checked UPDATE)."""
    instance.state = runtime.dump(workflow)
    instance.completed = workflow.completed
    instance.updated_at = clock.now()


def sync(session: Session, item: Item, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Open tasks for newly ready user tasks, cancel vanished ones, update the item row.

    Call after `save_state`; the instance row itself is not touched here.
    """
    now = clock.now()
    ready = {str(t.id): t for t in runtime.ready_user_tasks(workflow)}
    open_rows = session.scalars(
        select(Task)
        .where(Task.instance_id == instance.id, Task.status == "open")
        .options(lazyload("*"))
    ).all()
    for row in open_rows:
        if row.task_guid not in ready:
            row.status = "cancelled"
            row.completed_at = now
            row.next_escalation_at = None
    known = {row.task_guid for row in open_rows}
    for guid, spiff_task in ready.items():
        if guid in known:
            continue
        info = describe_user_task(spiff_task.task_spec)
        department_id = None
        if info.role in DEPARTMENT_SCOPED_ROLES:
            department_id = item.department_id
            named = spiff_task.data.get(info.properties.get("department_variable", "department"))
            if isinstance(named, str) and (
                found := department_by_name(session, item.court_id, named)
            ):
                department_id = found.id
        task = Task(
            court_id=item.court_id,
            item_id=item.id,
            instance_id=instance.id,
            task_guid=guid,
            bpmn_id=info.bpmn_id,
            title=info.title,
            form=info.form,
            # Lint refuses lanes that name no role; any such older task falls to admins.
            role=info.role or "admin",
            department_id=department_id,
            created_at=now,
        )
        schedule_task(session, task, info.properties)  # before add: one INSERT, no UPDATE
        session.add(task)
    _sync_timers(session, instance, workflow)
    item.current_step = ",".join(describe_user_task(t.task_spec).bpmn_id for t in ready.values())
    if item.status != "filed" and (workflow.completed or _closed(workflow)):
        item.status = "filed"
        item.filed_at = now
        item.current_step = None
        item.next_escalation_at = None
        if item.archive_number is None:  # a re-handled item keeps its archive number
            year = clock.local_now().year
            item.archive_number = next_number(session, item.court_id, "archive", year)


def _closed(workflow: BpmnWorkflow) -> bool:
    """Whether a step marked `closes_item` has run: the item is filed even while a
    follow-up (B/C replies) still waits on its date."""
    return any(
        describe_user_task(t.task_spec).properties.get("closes_item") == "true"
        for t in runtime.completed_user_tasks(workflow)
    )


def _sync_timers(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Mirror the workflow's waiting timer events into the `timers` table the sweep reads."""
    if not runtime.has_timer_events(workflow):
        return  # most diagrams have none: skip the query on every completion
    waiting = runtime.waiting_timers(workflow)
    pending = {
        row.task_guid: row
        for row in session.scalars(
            select(Timer).where(Timer.instance_id == instance.id, Timer.fired_at.is_(None))
        )
    }
    for guid, row in pending.items():
        if guid not in waiting:
            session.delete(row)  # the timer's activity ended (or it fired) before it was due
    for guid, due_at in waiting.items():
        if guid not in pending:
            session.add(Timer(instance_id=instance.id, task_guid=guid, due_at=due_at))
