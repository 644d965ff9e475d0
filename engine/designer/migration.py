"""Move running items onto another version of their process (SpiffWorkflow diff + migrate).

Every check is a *trial*: the item's workflow is loaded, diffed against the target spec
(`SpiffWorkflow.bpmn.util.diff.diff_workflow`), migrated in memory
(`migrate_workflow`), run to its next wait state, serialized and loaded back onto the
target spec. An item can move only when all of that works and it then waits at user
tasks of the target version (or at its events): a step it is at or has passed that no
longer exists, a current step that is no longer a user task, a subprocess removed, or a
diagram that fails or finishes the item at once all refuse it, with the reason.

Migrating one item is one unit of work: the trial again, then state, projections
(open tasks updated in place: title, role, form, time limit), the instance's version
and an audit event `migrated`, saved under the instance's version check. Refused items
are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as BpmnUserTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import clock
from engine.designer import require_designer
from engine.designer.versions import get_version
from engine.errors import Conflict, InvalidData
from engine.models import Item, ProcessInstance, ProcessModel, Task, Timer, User
from engine.roles import DEPARTMENT_SCOPED_ROLES
from engine.services import audit, process_models, projection
from engine.services.process_models import specs_of
from engine.services.scheduling import calendar, schedule_task
from engine.services.tasks import can_claim
from engine.workcalendar import WorkCalendar
from engine.workflow import runtime
from engine.workflow.helpers import using_calendar
from engine.workflow.lint import check_bpmn
from engine.workflow.specs import ProcessSpecs, SpecError, describe_user_task

# Converts task specs to dicts so SpecDiff can compare them attribute by attribute.
_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED
MAX_ITEMS = 500


@dataclass(frozen=True)
class MigrationCheck:
    """Whether one running item can move to the target version, and why not."""

    item: Item
    from_version: int
    current_steps: list[str]
    can_migrate: bool
    reason: str | None


@dataclass(frozen=True)
class MigrationResult:
    item_id: int
    migrated: bool
    reason: str | None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def migration_target(session: Session, actor: User, version_id: int) -> ProcessModel:
    """The version items would move to: it must pass validation."""
    require_designer(actor)
    target = get_version(session, actor, version_id)
    report = check_bpmn(
        target.bpmn_xml, target.forms, library=process_models.library_of(session, target)
    )
    if report.problems:
        raise InvalidData(
            f"v{target.version} 有问题，不能作为迁移目标 / v{target.version} has problems and "
            "cannot be migrated to; fix and validate it first",
            {"to": f"v{target.version} is not deployable"},
        )
    return target


def _running(target: ProcessModel):
    """Items still running on another version of the target's process."""
    return (
        select(Item, ProcessInstance, ProcessModel)
        .join(ProcessInstance, ProcessInstance.item_id == Item.id)
        .join(ProcessModel, ProcessModel.id == ProcessInstance.process_model_id)
        .where(
            Item.court_id == target.court_id,
            ProcessModel.court_id == target.court_id,
            ProcessModel.key == target.key,
            ProcessModel.id != target.id,
            ProcessInstance.completed.is_(False),
        )
    )


def preview(
    session: Session, actor: User, to_version_id: int, *, page: int = 1, per_page: int = 20
) -> tuple[list[MigrationCheck], int, ProcessModel]:
    """Items on other versions of the target's process, each with can_migrate and why not.

    Nothing is written: each check migrates a copy of the item's workflow in memory.
    """
    require_designer(actor)
    target = migration_target(session, actor, to_version_id)
    query = _running(target)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Item.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    cal = calendar(session)
    checks = []
    for item, instance, model in rows:
        try:
            _trial(instance, model, target, cal)
            can, reason = True, None
        except _Refused as refused:
            can, reason = False, refused.reason
        steps = item.current_step.split(",") if item.current_step else []
        checks.append(MigrationCheck(item, model.version, steps, can, reason))
    return checks, total, target


def migrate_item(
    session: Session, actor: User, to_version_id: int, item_id: int
) -> MigrationResult:
    """Move one item onto the target version, or leave it untouched and say why not."""
    require_designer(actor)
    target = migration_target(session, actor, to_version_id)
    row = session.execute(
        select(Item, ProcessInstance)
        .join(ProcessInstance, ProcessInstance.item_id == Item.id)
        .where(Item.id == item_id, Item.court_id == actor.court_id)
    ).first()
    if row is None:
        return MigrationResult(item_id, False, f"事项不存在 / item {item_id} not found")
    item, instance = row
    source = instance.process_model
    if source.id == target.id:
        return MigrationResult(
            item_id,
            False,
            f"事项已在 v{target.version} 上 / the item is on v{target.version} already",
        )
    if source.key != target.key:
        return MigrationResult(
            item_id,
            False,
            f"事项走的是流程 `{source.key}`，不是 `{target.key}` / the item follows process "
            f"`{source.key}`, not `{target.key}`",
        )
    if instance.completed:
        return MigrationResult(item_id, False, "事项已办结 / the item is finished")
    try:
        workflow, new_specs = _trial(instance, source, target, calendar(session))
    except _Refused as refused:
        return MigrationResult(item_id, False, refused.reason)

    _update_open_tasks(session, item, instance, workflow)
    instance.state = runtime.dump(workflow)
    instance.completed = workflow.completed  # always False: finishing items are refused
    instance.updated_at = clock.now()
    instance.process_model_id = target.id
    instance.process_model = target
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "事项已被他人更新，请重试 / the item changed while it was being migrated; retry"
        ) from exc
    projection.sync(session, item, instance, workflow)
    _align_timers(session, instance, workflow)
    audit.record(
        session,
        item,
        actor,
        "migrated",
        comment=f"v{source.version} → v{target.version}",
        data={
            "from_version": source.version,
            "to_version": target.version,
            "from_model_id": source.id,
            "to_model_id": target.id,
        },
    )
    session.flush()
    return MigrationResult(item_id, True, None)


# --- the trial ---------------------------------------------------------------------------


def _step(task) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    return f"`{bpmn_id}`（{name}）" if name else f"`{bpmn_id}`"


def _specs(model: ProcessModel) -> ProcessSpecs:
    try:
        return specs_of(model)
    except SpecError as exc:
        raise _Refused(
            f"v{model.version} 无法构建 / v{model.version} cannot be built: {exc.message}"
        ) from exc


def _trial(
    instance: ProcessInstance, source: ProcessModel, target: ProcessModel, cal: WorkCalendar
) -> tuple[BpmnWorkflow, ProcessSpecs]:
    """The item's workflow migrated onto `target` in memory, or _Refused with the reason."""
    old_specs, new_specs = _specs(source), _specs(target)
    version = f"v{target.version}"
    try:
        workflow = runtime.load(old_specs, instance.state)
    except Exception as exc:  # noqa: BLE001 - a broken state must be refused, not crash
        raise _Refused(f"事项状态无法读取 / the item's state cannot be read: {exc}") from exc

    # SpiffWorkflow's diff_workflow, keeping each SpecDiff to read what changed per spec.
    parts = []  # (workflow or subworkflow, its WorkflowDiff, its SpecDiff, the new spec)
    spec_diff = SpecDiff(_REGISTRY, workflow.spec, new_specs.spec)
    parts.append((workflow, WorkflowDiff(workflow, spec_diff), spec_diff, new_specs.spec))
    for subprocess in workflow.subprocesses.values():
        new_spec = new_specs.subprocess_specs.get(subprocess.spec.name)
        if new_spec is None:
            name = subprocess.spec.name
            raise _Refused(
                f"子流程 `{name}` 在 {version} 中已删除 / subprocess `{name}` was removed in "
                f"{version}"
            )
        spec_diff = SpecDiff(_REGISTRY, subprocess.spec, new_spec)
        parts.append((subprocess, WorkflowDiff(subprocess, spec_diff), spec_diff, new_spec))
    for _owner, diff, spec_diff, _new_spec in parts:
        for task in diff.removed:
            _refuse_removed(task, version)
        for task in diff.changed:
            if task.state & _CURRENT and "typename" in spec_diff.changed.get(task.task_spec, []):
                raise _Refused(
                    f"当前步骤 {_step(task)} 在 {version} 中类型已改变，无法迁移 / current step "
                    f"{_step(task)} changed its type in {version}; it cannot be migrated"
                )

    timers = _waiting_timer_values(workflow)
    try:
        # Resetting a waiting timer re-evaluates its expression: it needs the calendar.
        with using_calendar(cal):
            for owner, diff, _spec_diff, new_spec in parts:
                migrate_workflow(diff, owner, new_spec)
            workflow.subprocess_specs = new_specs.subprocess_specs
            _restore_timers(workflow, timers)
            workflow.do_engine_steps()
    except _Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever fails, the item stays where it is
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Refused(
            f"{version} 在此事项上运行出错 / {version} fails on this item: {first}"
        ) from exc
    _check_continuable(workflow, new_specs, version)
    try:
        runtime.load(new_specs, runtime.dump(workflow))
    except Exception as exc:  # noqa: BLE001
        raise _Refused(
            f"迁移后的状态无法在 {version} 上读取 / the migrated state does not load on "
            f"{version}: {type(exc).__name__}"
        ) from exc
    return workflow, new_specs


def _refuse_removed(task, version: str) -> None:
    if task.state & _CURRENT:
        raise _Refused(
            f"当前步骤 {_step(task)} 在 {version} 中已删除 / current step {_step(task)} was "
            f"removed in {version}"
        )
    if task.state & TaskState.FINISHED_MASK and getattr(task.task_spec, "bpmn_id", None):
        raise _Refused(
            f"已办步骤 {_step(task)} 在 {version} 中已删除，办理记录无法保留 / completed step "
            f"{_step(task)} was removed in {version}; the item's history could not be kept"
        )


def _waiting_timer_values(workflow: BpmnWorkflow) -> dict[Any, tuple[str, Any]]:
    """Task id → (timer expression, instant) of every waiting timer, before the migration."""
    values = {}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        value = task._get_internal_data("event_value")
        if isinstance(definition, TimerEventDefinition) and value is not None:
            values[task.id] = (definition.expression, value)
    return values


def _restore_timers(workflow: BpmnWorkflow, values: dict[Any, tuple[str, Any]]) -> None:
    """A reset timer whose expression did not change keeps its original instant."""
    for task_id, (expression, value) in values.items():
        task = workflow.get_task_from_id(task_id)
        definition = getattr(task.task_spec, "event_definition", None) if task else None
        if isinstance(definition, TimerEventDefinition) and definition.expression == expression:
            task._set_internal_data(event_value=value)


def _check_continuable(workflow: BpmnWorkflow, specs: ProcessSpecs, version: str) -> None:
    """Every open step is a user task of the target, and the item still waits somewhere."""
    known = {
        id(s) for p in [specs.spec, *specs.subprocess_specs.values()] for s in p.task_specs.values()
    }
    for task in workflow.get_tasks(state=TaskState.ANY_MASK):
        if id(task.task_spec) not in known:
            raise _Refused(
                f"步骤 {_step(task)} 在 {version} 中不存在 / step {_step(task)} does not exist in "
                f"{version}"
            )
    ready = workflow.get_tasks(state=TaskState.READY)
    for task in ready:
        if not isinstance(task.task_spec, BpmnUserTask):
            raise _Refused(
                f"当前步骤 {_step(task)} 在 {version} 中不是用户任务 / current step {_step(task)} "
                f"is not a user task in {version}"
            )
    if workflow.completed:
        raise _Refused(
            f"按 {version} 此事项会立即办结，不予迁移 / under {version} the item would finish at "
            "once; it is not migrated"
        )
    if not ready and not workflow.get_tasks(state=TaskState.WAITING):
        raise _Refused(
            f"按 {version} 此事项没有可办理的步骤 / under {version} the item would have no open "
            "step"
        )


# --- projections -------------------------------------------------------------------------


def _align_timers(session: Session, instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Pending timer rows take the instants the migrated workflow waits for (a timer whose
    expression changed was restarted by the migration)."""
    waiting = runtime.waiting_timers(workflow)
    for row in session.scalars(
        select(Timer).where(Timer.instance_id == instance.id, Timer.fired_at.is_(None))
    ):
        if row.task_guid in waiting and row.due_at != waiting[row.task_guid]:
            row.due_at = waiting[row.task_guid]


def _update_open_tasks(
    session: Session, item: Item, instance: ProcessInstance, workflow: BpmnWorkflow
) -> None:
    """Open task rows of steps that stay open take the target version's title, role, form
    and time limit; projection.sync then cancels and opens the rest."""
    ready = {str(t.id): t for t in runtime.ready_user_tasks(workflow)}
    rows = session.scalars(
        select(Task).where(Task.instance_id == instance.id, Task.status == "open")
    ).all()
    for row in rows:
        spiff_task = ready.get(row.task_guid)
        if spiff_task is None:
            continue
        info = describe_user_task(spiff_task.task_spec)
        role = info.role or "admin"
        if role != row.role:
            scoped = role in DEPARTMENT_SCOPED_ROLES
            row.department_id = (row.department_id or item.department_id) if scoped else None
        row.bpmn_id = info.bpmn_id
        row.title = info.title
        row.form = info.form
        row.role = role
        if row.assignee is not None and not can_claim(row.assignee, row):
            row.assignee = None
        schedule_task(session, row, info.properties)
