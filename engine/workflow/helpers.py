"""Date helpers that BPMN expressions may call, e.g. a timer `working_days(2)`.

They read the working-day calendar the calling service put in place for this run, so
timer events follow the same calendar and clock as step deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from engine import clock
from engine.deadlines import END_OF_DAY
from engine.workcalendar import WorkCalendar

_calendar: ContextVar[WorkCalendar | None] = ContextVar("liaison_calendar", default=None)


@contextmanager
def using_calendar(calendar: WorkCalendar) -> Iterator[None]:
    token = _calendar.set(calendar)
    try:
        yield
    finally:
        _calendar.reset(token)


def _current() -> WorkCalendar:
    calendar = _calendar.get()
    if calendar is None:
        raise RuntimeError("no working-day calendar in place for this workflow run")
    return calendar


def _end_of(day) -> str:
    return datetime.combine(day, END_OF_DAY, clock.business_timezone()).isoformat()


def working_days(n: int) -> str:
    """End of the n-th working day from today, as an ISO instant (for timeDate timers)."""
    return _end_of(_current().add_working_days(clock.local_now().date(), int(n)))


def months(n: int) -> str:
    """End of the Civil-Code month limit of n months from today, as an ISO instant."""
    return _end_of(_current().add_months(clock.local_now().date(), int(n)).day)


EXPRESSION_HELPERS = {"working_days": working_days, "months": months}
