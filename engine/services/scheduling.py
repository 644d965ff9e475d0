"""Put deadlines on tasks and items, and read them back as escalation schedules.

The computed instants are stored on the rows (remind/due/supervise), so the sweep never
needs the calendar, the spec or the workflow state to decide what is due.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, deadlines
from engine.deadlines import Schedule
from engine.models import CalendarDay, CalendarYear, Item, KindSetting, Task
from engine.workcalendar import WorkCalendar

_cache_lock = threading.Lock()
_cached: tuple[tuple, WorkCalendar] | None = None


def calendar(session: Session) -> WorkCalendar:
    """The working-day calendar, reloaded only when an administrator has changed it.

    The stamp (known years, their latest change, and the number of exception days) is
    one cheap query, so every process sees an edit on its next use without re-reading
    the holiday table each time.
    """
    global _cached
    if (per_session := session.info.get("work_calendar")) is not None:
        return per_session  # one check per unit of work is enough
    stamp = tuple(
        session.execute(
            select(
                func.count(),
                func.max(CalendarYear.updated_at),
                select(func.count()).select_from(CalendarDay).scalar_subquery(),
            )
        ).one()
    )
    with _cache_lock:
        cached = _cached[1] if _cached is not None and _cached[0] == stamp else None
    if cached is None:
        cached = WorkCalendar.load(session)
        with _cache_lock:
            _cached = (stamp, cached)
    session.info["work_calendar"] = cached
    return cached


def _apply(row: Task | Item, schedule: Schedule | None) -> None:
    if schedule is None:
        row.remind_at = row.due_at = row.supervise_at = row.next_escalation_at = None
        row.due_fallback = False
        return
    row.remind_at = schedule.remind_at
    row.due_at = schedule.due_at
    row.supervise_at = schedule.supervise_at
    row.due_fallback = schedule.fallback
    row.next_escalation_at = schedule.next_after(row.escalation_level or 0)


def schedule_task(session: Session, task: Task, properties: dict[str, str]) -> None:
    _apply(task, deadlines.step_schedule(calendar(session), task.created_at, properties))


def schedule_item(session: Session, item: Item, assigned_at: datetime) -> None:
    """Start the item's clock at assignment (交办): the register step naming a department."""
    setting = session.get(KindSetting, (item.court_id, item.kind))
    item.assigned_at = assigned_at
    _apply(item, deadlines.item_schedule(calendar(session), assigned_at, item.kind, setting))


def reschedule_item(session: Session, item: Item, due_day: date) -> None:
    """Move the item deadline to `due_day` (extension, re-handling): escalation starts over."""
    setting = session.get(KindSetting, (item.court_id, item.kind))
    item.escalation_level = 0
    _apply(item, deadlines.item_schedule_until(calendar(session), clock.now(), due_day, setting))


def stored_schedule(row: Task | Item) -> Schedule | None:
    if row.due_at is None or row.supervise_at is None:
        return None
    return Schedule(row.remind_at, row.due_at, row.supervise_at, row.due_fallback)
