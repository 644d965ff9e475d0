"""Step and item deadlines, and the instants at which each escalation level falls due.

A deadline "on day D" lasts until the end of D in the business time zone; reminders
and supervision fire at the start of the office day (09:00). Every figure comes from
the one working-day calendar, and remembers whether a fallback (unknown) year was
involved so the UI can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from engine import clock
from engine.models import KindSetting
from engine.workcalendar import WorkCalendar

END_OF_DAY = time(23, 59, 59)
OFFICE_START = time(9, 0)
DEFAULT_KIND_LIMITS = {  # kind: (months, working days)
    "suggestion": (3, None),
    "letter": (None, 5),
    "petition": (None, 5),
    "concern_case": (3, None),
    "supervision": (None, 10),
}
DEFAULT_SUPERVISE_AFTER = 2
DEFAULT_DUE_SOON = 3


def _at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, clock.business_timezone())


def _local_date(instant: datetime) -> date:
    return instant.astimezone(clock.business_timezone()).date()


@dataclass(frozen=True)
class Schedule:
    """When a task or item reminds (level 1), is overdue (2) and goes to a leader (3)."""

    remind_at: datetime | None
    due_at: datetime
    supervise_at: datetime
    fallback: bool

    def threshold(self, level: int) -> datetime | None:
        return {1: self.remind_at, 2: self.due_at, 3: self.supervise_at}.get(level)

    def next_after(self, level: int) -> datetime | None:
        """The instant of the next level above `level` (None when none is left)."""
        for next_level in range(level + 1, 4):
            if (instant := self.threshold(next_level)) is not None:
                return instant
        return None


def _schedule(
    calendar: WorkCalendar,
    start: date,
    due_day: date,
    remind_days: int | None,
    supervise_after: int,
) -> Schedule:
    remind_at = None
    if remind_days is not None:
        remind_at = _at(calendar.subtract_working_days(due_day, remind_days), OFFICE_START)
    supervise_day = calendar.add_working_days(due_day, supervise_after)
    due_at = _at(due_day, END_OF_DAY)
    return Schedule(
        remind_at=remind_at,
        due_at=due_at,
        # Never before the step is overdue (0 working days means "as soon as overdue").
        supervise_at=max(_at(supervise_day, OFFICE_START), due_at),
        fallback=calendar.fallback_used(start, supervise_day),
    )


def step_schedule(
    calendar: WorkCalendar, created_at: datetime, properties: dict[str, str]
) -> Schedule | None:
    """From the user task's `due_working_days` / `remind_working_days` BPMN properties."""
    due_days = _int_property(properties, "due_working_days")
    if due_days is None:
        return None
    start = _local_date(created_at)
    due_day = calendar.add_working_days(start, due_days)
    remind = _int_property(properties, "remind_working_days")
    supervise_after = _int_property(properties, "supervise_after_working_days")
    return _schedule(
        calendar,
        start,
        due_day,
        remind,
        DEFAULT_SUPERVISE_AFTER if supervise_after is None else supervise_after,
    )


def item_schedule(
    calendar: WorkCalendar, assigned_at: datetime, kind: str, setting: KindSetting | None
) -> Schedule | None:
    """The item deadline counted from assignment (交办), per kind or its administrator setting."""
    months, working_days = DEFAULT_KIND_LIMITS.get(kind, (None, None))
    if setting is not None:
        months, working_days = setting.limit_months, setting.limit_working_days
    start = _local_date(assigned_at)
    if months:
        due_day = calendar.add_months(start, months).day
    elif working_days:
        due_day = calendar.add_working_days(start, working_days)
    else:
        return None
    return item_schedule_until(calendar, assigned_at, due_day, setting)


def item_schedule_until(
    calendar: WorkCalendar, start_at: datetime, due_day: date, setting: KindSetting | None
) -> Schedule:
    """An item deadline on a given day (an approved extension, a re-handling limit), with the
    kind's reminder and supervision spacing."""
    due_soon, supervise_after = DEFAULT_DUE_SOON, DEFAULT_SUPERVISE_AFTER
    if setting is not None:
        due_soon = setting.due_soon_working_days
        supervise_after = setting.supervise_after_working_days
    return _schedule(calendar, _local_date(start_at), due_day, due_soon, supervise_after)


def _int_property(properties: dict[str, str], name: str) -> int | None:
    raw = properties.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        return None
    return value if value >= 0 else None
