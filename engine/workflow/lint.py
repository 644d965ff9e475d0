"""Is a diagram deployable here? Element-precise problems, in plain Chinese and English.

Runs the hardened parse, SpiffWorkflow's spec build, and the product's own rules:
every user task sits in a lane that names a role and has a form that exists, and every
condition and script compiles under the restricted script engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask

from engine.roles import ROLE_LABELS
from engine.scripting import check_code
from engine.workflow.specs import SpecError, build_specs, describe_user_task, user_task_specs


@dataclass(frozen=True)
class Problem:
    element_id: str | None
    message: str

    def __str__(self) -> str:
        return f"[{self.element_id}] {self.message}" if self.element_id else self.message


def lint_bpmn(
    bpmn_xml: str | bytes, form_names: Iterable[str], source: str = "<bpmn>"
) -> list[Problem]:
    """Every problem that keeps the diagram from running in this product; empty when deployable."""
    try:
        specs = build_specs(bpmn_xml, source)
    except SpecError as exc:
        return [Problem(exc.element_id, exc.message)]
    forms = set(form_names)
    problems: list[Problem] = []
    roles = ", ".join(ROLE_LABELS)
    for task_spec in user_task_specs(specs):
        info = describe_user_task(task_spec)
        if info.role is None:
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"用户任务不在对应角色的泳道中 / user task is not in a lane named after a "
                    f"role (lane: {task_spec.lane!r}; roles: {roles})",
                )
            )
        problems.extend(_property_problems(info))
        if not info.form:
            problems.append(Problem(info.bpmn_id, "用户任务没有表单 / user task has no form"))
        elif info.form not in forms:
            problems.append(
                Problem(info.bpmn_id, f"表单不存在 / form {info.form!r} does not exist")
            )
    for process_spec in [specs.spec, *specs.subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            problems.extend(_code_problems(task_spec))
    return problems


DEADLINE_PROPERTIES = ("due_working_days", "remind_working_days", "supervise_after_working_days")


def _property_problems(info) -> list[Problem]:
    problems = []
    for name in DEADLINE_PROPERTIES:
        raw = info.properties.get(name)
        if raw is not None and not str(raw).strip().isdigit():
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"期限属性应为非负整数 / property {name} must be a whole number of "
                    f"working days (got {raw!r})",
                )
            )
    return problems


def _code_problems(task_spec) -> list[Problem]:
    problems = []
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, CycleTimerEventDefinition):
        problems.append(
            Problem(task_spec.bpmn_id, "不支持循环定时器 / cycle timers are not supported here")
        )
    elif isinstance(definition, TimerEventDefinition) and (
        error := check_code(definition.expression, "eval")
    ):
        problems.append(
            Problem(task_spec.bpmn_id, f"定时表达式不被允许 / timer expression refused: {error}")
        )
    for condition, _target in getattr(task_spec, "cond_task_specs", []):
        # SpiffWorkflow wraps each flow's condition text in an operator object.
        expression = condition.args[0] if hasattr(condition, "args") else condition
        if expression and (error := check_code(expression, "eval")):
            problems.append(
                Problem(task_spec.bpmn_id, f"条件表达式不被允许 / condition refused: {error}")
            )
    script = task_spec.script if isinstance(task_spec, ScriptTask) else None
    if script and (error := check_code(script, "exec")):
        problems.append(Problem(task_spec.bpmn_id, f"脚本不被允许 / script refused: {error}"))
    for attribute in ("prescript", "postscript"):
        script = getattr(task_spec, attribute, None)
        if script and (error := check_code(script, "exec")):
            problems.append(Problem(task_spec.bpmn_id, f"{attribute} refused: {error}"))
    return problems
