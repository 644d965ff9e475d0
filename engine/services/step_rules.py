"""The office's rules around a step, driven by the step's BPMN properties.

A designer switches a rule on for a user task with a `spiffworkflow:property`, so the
same rule serves every kind and every diagram version that asks for it:

* `send_back_working_days` = N: the step may be sent back (退回, `action: send_back`)
  only within N working days of the item's (re)routing;
* `waits_for` = a task id: the step cannot be submitted while tasks with that id are
  open on the item (the lead's draft waits for co-handling opinions or their limit);
* `answers_deputies` = true: the step is the reply. It needs a meeting (见面) where the
  kind requires one, records the class and date, stops the item clock and sends the
  deputies their feedback links.

Routing facts (department, co-departments, 案号, the forwarding body) are copied from any
step's form data onto the item, so lists and search read columns, not workflow state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, InvalidData
from engine.models import Department, Item, Task, User
from engine.services import audit, feedback, meetings
from engine.services.accounts import department_by_name
from engine.services.scheduling import calendar, schedule_item

ITEM_FACTS = ("case_number", "case_stage", "source_org", "source_reference")


def check_before(
    session: Session, item: Item, task: Task, properties: dict[str, str], data: dict[str, Any]
) -> None:
    """Refuse a completion the office's rules do not allow (nothing has changed yet)."""
    if data.get("action") == "send_back":
        _check_send_back(session, item, properties)
    elif waits_for := properties.get("waits_for"):
        _check_waiting(session, item, task, waits_for.strip())
    if _flag(properties, "answers_deputies"):
        meetings.require_meeting(session, item)


def apply_after(
    session: Session,
    actor: User,
    item: Item,
    task: Task,
    properties: dict[str, str],
    data: dict[str, Any],
) -> None:
    """Copy the step's facts onto the item and record what the rules need to remember."""
    now = clock.now()
    _apply_routing(session, item, data, now)
    if data.get("action") == "send_back":
        audit.record(
            session,
            item,
            actor,
            "sent_back",
            task_bpmn_id=task.bpmn_id,
            task_title=task.title,
            comment=data.get("send_back_reason"),
            data={"suggested_department": data.get("suggested_department")},
        )
    if _flag(properties, "answers_deputies"):
        item.replied_at = now
        item.reply_class = data.get("reply_class")
        item.next_escalation_at = None  # answered: the item deadline is met
        feedback.on_replied(session, item, actor)


def _flag(properties: dict[str, str], name: str) -> bool:
    return str(properties.get(name, "")).strip().lower() == "true"


def _apply_routing(session: Session, item: Item, data: dict[str, Any], now: datetime) -> None:
    for name in ITEM_FACTS:
        if isinstance(data.get(name), str):
            setattr(item, name, data[name].strip() or None)
    if isinstance(data.get("department"), str):
        item.department = department_by_name(session, item.court_id, data["department"])
        item.routed_at = now
        if item.assigned_at is None:
            schedule_item(session, item, now)
    if isinstance(data.get("co_departments"), list):
        names = [n for n in data["co_departments"] if n != data.get("department")]
        item.co_departments = list(
            session.scalars(
                select(Department).where(
                    Department.court_id == item.court_id, Department.name.in_(names)
                )
            )
        )


def _check_send_back(session: Session, item: Item, properties: dict[str, str]) -> None:
    limit = properties.get("send_back_working_days")
    if limit is None or not str(limit).strip().isdigit():
        raise InvalidData(
            "此步骤不能退回 / this step cannot be sent back",
            {"action": "此步骤不能退回 / this step cannot be sent back"},
        )
    routed_at = item.routed_at or item.assigned_at or item.created_at
    start = routed_at.astimezone(clock.business_timezone()).date()
    last_day = calendar(session).add_working_days(start, int(limit))
    if clock.local_now().date() > last_day:
        message = (
            f"退回期限已过（交办后 {limit} 个工作日内，截至 {last_day.isoformat()}）/ the "
            f"send-back limit has passed ({limit} working days after routing, until "
            f"{last_day.isoformat()})"
        )
        raise InvalidData(message, {"action": message})


def _check_waiting(session: Session, item: Item, task: Task, waits_for: str) -> None:
    pending = session.execute(
        select(Department.name, Task.due_at)
        .join(Department, Department.id == Task.department_id, isouter=True)
        .where(Task.item_id == item.id, Task.status == "open", Task.bpmn_id == waits_for)
        .order_by(Task.id)
    ).all()
    if not pending:
        return
    names = "、".join(name or "—" for name, _ in pending)
    due = max((d for _, d in pending if d is not None), default=None)
    until = f"，最迟 {due.astimezone(clock.business_timezone()):%Y-%m-%d}" if due else ""
    raise Conflict(
        f"协办意见未齐：{names}{until}。请待协办意见到齐或期限届满后提交 / co-handling "
        f"opinions are still open ({names}); submit once they are in or their limit has passed"
    )
