"""The inbox and the task lifecycle: claim, release, assign, complete.

Completing a task is one unit of work: validate the form, run the engine to the next
wait state, then persist state, projections and the audit event together. The
instance row carries a version number, so two clerks completing at once cannot both
win: the second gets a Conflict, never a lost update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import clock
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.forms import resolve_schema, validate
from engine.models import Item, ProcessInstance, Task, User
from engine.services import audit, projection, reply_letters, step_rules
from engine.services.accounts import department_names
from engine.services.process_models import specs_of
from engine.services.scheduling import calendar
from engine.services.visibility import candidate_tasks, visible_tasks
from engine.workflow import runtime
from engine.workflow.specs import describe_user_task

SCOPES = ("mine", "candidate", "all")
COMMENT_FIELDS = ("comment", "opinion")


SORTS = ("created", "due")


@dataclass(frozen=True)
class TaskQuery:
    scope: str = "mine"
    page: int = 1
    per_page: int = 20
    sort: str = "created"


def inbox(session: Session, actor: User, query: TaskQuery) -> tuple[list[Task], int]:
    """Open tasks by scope: assigned to me, offered to my role/department, or all I may see."""
    if query.scope not in SCOPES:
        raise InvalidData(f"scope must be one of {', '.join(SCOPES)}", {"scope": "unknown"})
    if query.sort not in SORTS:
        raise InvalidData(f"sort must be one of {', '.join(SORTS)}", {"sort": "unknown"})
    if query.scope == "mine":
        condition = (Task.assignee_id == actor.id) & (Task.status == "open")
    elif query.scope == "candidate":
        condition = candidate_tasks(actor) & Task.assignee_id.is_(None)
    else:
        condition = visible_tasks(actor, open_items_only=True) & (Task.status == "open")
    total = session.scalar(select(func.count()).select_from(Task).where(condition)) or 0
    rows = session.scalars(
        select(Task)
        .where(condition)
        .order_by(*_ordering(query.sort))
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    ).all()
    return list(rows), total


def _ordering(sort: str) -> list:
    if sort == "due":  # undated tasks last
        return [Task.due_at.is_(None), Task.due_at, Task.id]
    return [Task.created_at, Task.id]


def done(session: Session, actor: User, limit: int = 50) -> list[Task]:
    """Tasks the actor completed (已办), newest first."""
    return list(
        session.scalars(
            select(Task)
            .where(Task.completed_by_id == actor.id, Task.status == "completed")
            .order_by(Task.completed_at.desc())
            .limit(limit)
        )
    )


def get(session: Session, actor: User, task_id: int) -> Task:
    task = session.scalar(select(Task).where(Task.id == task_id, visible_tasks(actor)))
    if task is None:
        raise NotFound(f"任务不存在 / task {task_id} not found")
    return task


def form_schema(
    session: Session, task: Task, instance: ProcessInstance | None = None
) -> dict[str, Any]:
    """The task's JSON Schema with option lists (departments) filled in."""
    instance = instance or session.get(ProcessInstance, task.instance_id)
    schema = instance.process_model.forms.get(task.form or "", {"type": "object"})
    return resolve_schema(schema, {"departments": department_names(session, task.court_id)})


def _require_open(task: Task) -> None:
    if task.status != "open":
        raise Conflict(f"任务已办结 / task {task.id} is no longer open ({task.status})")


def can_claim(actor: User, task: Task) -> bool:
    """Whether the task is offered to the actor's role (and department, where scoped)."""
    return (
        task.role == actor.role
        and task.court_id == actor.court_id
        and (task.department_id is None or task.department_id == actor.department_id)
    )


def claim(session: Session, actor: User, task_id: int) -> Task:
    task = get(session, actor, task_id)
    _require_open(task)
    if not can_claim(actor, task):
        raise Forbidden("此任务属于其他角色或部门 / this task is for another role or department")
    if task.assignee_id == actor.id:
        return task
    claimed = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status == "open", Task.assignee_id.is_(None))
        .values(assignee_id=actor.id)
    ).rowcount
    if not claimed:
        raise Conflict(f"任务已被他人签收 / task {task.id} is already claimed by someone else")
    session.refresh(task)
    audit.record(
        session, task.item, actor, "claimed", task_bpmn_id=task.bpmn_id, task_title=task.title
    )
    return task


def release(session: Session, actor: User, task_id: int) -> Task:
    task = get(session, actor, task_id)
    _require_open(task)
    if task.assignee_id != actor.id and actor.role != "admin":
        raise Conflict(f"此任务不是您签收的 / task {task.id} is not claimed by you")
    task.assignee = None
    audit.record(
        session, task.item, actor, "released", task_bpmn_id=task.bpmn_id, task_title=task.title
    )
    return task


ASSIGNING_ROLES = frozenset({"registrar", "dept_head", "leader", "president", "admin"})


def assign(session: Session, actor: User, task_id: int, username: str) -> Task:
    """Hand a task to a named colleague who could claim it (or by its holder)."""
    task = get(session, actor, task_id)
    _require_open(task)
    if task.assignee_id != actor.id and actor.role not in ASSIGNING_ROLES:
        raise Forbidden(
            "只有经办人或负责人可以指派 / only the task's holder or a supervisor may assign it"
        )
    target = session.scalar(
        select(User).where(User.username == username, User.court_id == actor.court_id)
    )
    if target is None or not target.active:
        raise InvalidData(f"no user named {username!r}", {"username": "unknown user"})
    if not can_claim(target, task):
        raise InvalidData(
            f"{username!r} cannot take this task (wrong role or department)",
            {"username": "wrong role or department"},
        )
    task.assignee = target
    audit.record(
        session,
        task.item,
        actor,
        "assigned",
        task_bpmn_id=task.bpmn_id,
        task_title=task.title,
        comment=target.display_name,
    )
    return task


def complete(session: Session, actor: User, task_id: int, data: Any) -> Item:
    """Validate `data` against the task's form and move the item to its next wait state."""
    task = get(session, actor, task_id)
    _require_open(task)
    if task.assignee_id not in (None, actor.id):
        raise Conflict(f"任务已被他人签收 / task {task.id} is claimed by someone else")
    if not can_claim(actor, task):
        raise Forbidden("此任务属于其他角色或部门 / this task is for another role or department")
    instance = session.get(ProcessInstance, task.instance_id)
    cleaned = validate(form_schema(session, task, instance), data)
    workflow = runtime.load(specs_of(instance.process_model), instance.state)
    spiff_task = runtime.find_ready_task(workflow, task.task_guid)
    if spiff_task is None:
        raise Conflict(f"任务已办结 / task {task.id} is no longer open")
    item = task.item
    properties = describe_user_task(spiff_task.task_spec).properties
    step_rules.check_before(session, item, task, properties, cleaned)
    step_rules.apply_after(session, actor, item, task, properties, cleaned)
    runtime.complete(workflow, spiff_task, cleaned, calendar(session))
    finished = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status == "open")
        .values(
            status="completed",
            completed_by_id=actor.id,
            completed_at=clock.now(),
            assignee_id=actor.id,
            next_escalation_at=None,
        )
    ).rowcount
    if not finished:
        raise Conflict(f"任务已由他人办结 / task {task.id} was completed by someone else")
    projection.save_state(instance, workflow)
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "事项已被他人更新，请刷新后重试 / the item changed while you were working on it; "
            "reload and retry"
        ) from exc
    projection.sync(session, item, instance, workflow)
    comment = next((cleaned[f] for f in COMMENT_FIELDS if cleaned.get(f)), None)
    audit.record(
        session,
        item,
        actor,
        "completed",
        task_bpmn_id=task.bpmn_id,
        task_title=task.title,
        comment=comment,
        data=cleaned,
        task_id=task.id,
    )
    reply_letters.on_completed(session, item, task, cleaned, actor)
    if item.status == "filed":
        audit.record(session, item, actor, "filed", comment=item.archive_number)
    session.flush()
    return item
