"""Dry run: walk a sample item through a version, in memory, before anyone deploys it.

The workflow runs under the restricted script engine and the court's working-day
calendar exactly as a real item would, but nothing is written: no item, instance, task,
timer or audit row. Form data is validated against the version's own forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.designer import require_designer
from engine.designer.versions import get_version
from engine.errors import InvalidData
from engine.forms import resolve_schema, validate
from engine.models import User
from engine.services import process_models
from engine.services.accounts import department_names
from engine.services.items import start_values
from engine.services.process_models import specs_of
from engine.services.scheduling import calendar
from engine.workflow import runtime
from engine.workflow.lint import check_bpmn
from engine.workflow.specs import SpecError, describe_user_task

MAX_STEPS = 100


@dataclass(frozen=True)
class Step:
    task: str
    data: dict[str, Any]


@dataclass
class DryRun:
    path: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    ended: bool = False
    error: dict[str, Any] | None = None


def parse_steps(raw: Any) -> list[Step]:
    """`[{"task": bpmn_id, "data": {...}}, …]` → steps, or InvalidData naming the entry."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidData("steps must be a list", {"steps": "must be a list"})
    if len(raw) > MAX_STEPS:
        raise InvalidData(f"at most {MAX_STEPS} steps", {"steps": f"at most {MAX_STEPS} steps"})
    steps = []
    for index, entry in enumerate(raw):
        where = f"steps[{index}]"
        if not isinstance(entry, dict):
            raise InvalidData(f"{where} must be an object", {where: "must be an object"})
        task, data = entry.get("task"), entry.get("data", {})
        if not isinstance(task, str) or not task or len(task) > 200:
            raise InvalidData(
                f"{where}.task is required", {f"{where}.task": "BPMN id of a user task"}
            )
        if not isinstance(data, dict):
            raise InvalidData(
                f"{where}.data must be an object", {f"{where}.data": "must be an object"}
            )
        steps.append(Step(task, data))
    return steps


def dry_run(session: Session, actor: User, version_id: int, steps: list[Step]) -> DryRun:
    """Start a sample item on the version and complete `steps` in order; stops at the
    first step that is not waiting, whose data is invalid, or whose run fails."""
    require_designer(actor)
    model = get_version(session, actor, version_id)
    try:
        specs = specs_of(model)
    except SpecError:
        library = process_models.library_of(session, model)
        problems = check_bpmn(model.bpmn_xml, model.forms, library=library).problems
        fields: dict[str, str] = {}
        for problem in problems:
            name = problem.element_id or "bpmn"
            fields[name] = (
                f"{fields[name]}; {problem.message}" if name in fields else problem.message
            )
        raise InvalidData(
            f"v{model.version} 无法构建，不能试运行 / v{model.version} cannot be built, so it "
            "cannot be dry-run: " + "; ".join(str(p) for p in problems[:5]),
            fields,
        ) from None
    cal = calendar(session)
    options = {"departments": department_names(session, actor.court_id)}
    result = DryRun()
    try:
        sample = start_values(0, "试运行-0001", model.key, "试运行 / dry run")
        workflow = runtime.start(specs, sample, cal)
    except Exception as exc:  # noqa: BLE001 - a designer's diagram must not become a 500
        result.error = {"task": None, "message": f"开始即出错 / the process fails at once: {exc}"}
        result.path.append(
            {"task": "start", "title": None, "role": None, "ok": False, "error": str(exc)}
        )
        return result

    for step in steps:
        ready = [t for t in runtime.ready_user_tasks(workflow) if t.task_spec.bpmn_id == step.task]
        if not ready:
            waiting = ", ".join(t.task_spec.bpmn_id for t in runtime.ready_user_tasks(workflow))
            message = (
                f"步骤 `{step.task}` 当前不在等待办理 / step `{step.task}` is not waiting "
                f"(waiting: {waiting or '—'})"
            )
            _fail(result, step.task, None, None, message)
            break
        spiff_task = ready[0]
        info = describe_user_task(spiff_task.task_spec)
        entry = {"task": info.bpmn_id, "title": info.title, "role": info.role, "form": info.form}
        schema = (model.forms or {}).get(info.form or "")
        if not isinstance(schema, dict):
            _fail(
                result,
                info.bpmn_id,
                info.title,
                info.role,
                f"表单不存在 / form {info.form!r} does not exist",
            )
            break
        try:
            data = validate(resolve_schema(schema, options), step.data)
        except InvalidData as exc:
            _fail(result, info.bpmn_id, info.title, info.role, exc.message, exc.fields)
            break
        except Exception as exc:  # noqa: BLE001 - e.g. a draft form whose $ref resolves nowhere
            message = f"表单无法使用 / the form cannot be used: {type(exc).__name__}"
            _fail(result, info.bpmn_id, info.title, info.role, message)
            break
        try:
            runtime.complete(workflow, spiff_task, data, cal)
        except Exception as exc:  # noqa: BLE001 - a designer's diagram must not become a 500
            _fail(result, info.bpmn_id, info.title, info.role, f"运行出错 / the run failed: {exc}")
            break
        result.path.append({**entry, "ok": True, "error": None})

    result.ended = bool(workflow.completed)
    result.waiting = [
        {
            "task": info.bpmn_id,
            "title": info.title,
            "role": info.role,
            "form": info.form,
        }
        for info in (describe_user_task(t.task_spec) for t in runtime.ready_user_tasks(workflow))
    ]
    result.timers = [
        {"task": _bpmn_id_of(workflow, guid), "due_at": due_at.isoformat()}
        for guid, due_at in runtime.waiting_timers(workflow).items()
    ]
    result.visited = [
        t.task_spec.bpmn_id
        for t in sorted(
            workflow.get_tasks(state=TaskState.COMPLETED), key=lambda t: t.last_state_change
        )
        if getattr(t.task_spec, "bpmn_id", None)
    ]
    return result


def _fail(result: DryRun, task: str, title, role, message: str, fields=None) -> None:
    entry = {"task": task, "title": title, "role": role, "ok": False, "error": message}
    if fields:
        entry["fields"] = fields
    result.path.append(entry)
    result.error = {"task": task, "message": message, **({"fields": fields} if fields else {})}


def _bpmn_id_of(workflow, guid: str) -> str | None:
    task = workflow.get_task_from_id(UUID(guid))
    return getattr(task.task_spec, "bpmn_id", None) if task else None
