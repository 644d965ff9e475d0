"""Fire due BPMN timer events, each exactly once, from the `timers` projection."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine import clock
from engine.db import unit_of_work
from engine.models import Item, ProcessInstance, Timer
from engine.services import audit, projection
from engine.services.process_models import specs_of
from engine.services.scheduling import calendar
from engine.workflow import runtime

BATCH = 100
RETRY_AFTER = timedelta(hours=1)
log = logging.getLogger("liaison.timers")


def fire_due_timers(factory: sessionmaker[Session]) -> int:
    """Fire every timer whose instant has passed; returns how many fired."""
    fired = 0
    while True:
        with unit_of_work(factory) as session:
            due = session.scalars(
                select(Timer)
                .where(Timer.fired_at.is_(None), Timer.due_at <= clock.now())
                .order_by(Timer.due_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for timer in due:
                try:
                    with session.begin_nested():
                        _fire(session, timer)
                    fired += 1
                except StaleDataError:
                    continue  # the item moved concurrently; the timer stays due for next sweep
                except Exception:  # e.g. a designer's expression fails: retry, don't block
                    log.exception("timer %s failed; retrying in an hour", timer.id)
                    timer.due_at = clock.now() + RETRY_AFTER
        if len(due) < BATCH:
            return fired


def _fire(session: Session, timer: Timer) -> None:
    timer.fired_at = clock.now()
    instance = session.get(ProcessInstance, timer.instance_id)
    item = session.get(Item, instance.item_id)
    workflow = runtime.load(specs_of(instance.process_model), instance.state)
    runtime.fire_timers(workflow, calendar(session))
    projection.save_state(instance, workflow)
    session.flush()  # version check: a concurrent completion makes this a clean retry later
    projection.sync(session, item, instance, workflow)
    audit.record(session, item, None, "timer_fired", comment="定时事件触发 / timer fired")
