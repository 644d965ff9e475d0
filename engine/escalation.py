"""The escalation sweep: reminders, overdue alerts and supervision, exactly once each.

The sweep reads only rows whose `next_escalation_at` has passed, through an index, so
its cost follows the number of due rows rather than open ones. Rows are claimed with
`SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serializes writers anyway), and
every level reached is an `escalations` row with a unique key, so any number of
schedulers on one database record and alert each level once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.db import unit_of_work
from engine.models import Escalation, Item, Task
from engine.services import alerts, audit
from engine.services.scheduling import stored_schedule

BATCH = 200
RETRY_AFTER = timedelta(hours=1)
log = logging.getLogger("liaison.escalation")


@dataclass
class EscalationReport:
    levels: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    alerts: int = 0

    def add(self, level: int, alert_count: int) -> None:
        self.levels[level] += 1
        self.alerts += alert_count


def sweep_escalations(
    factory: sessionmaker[Session], *, mail_enabled: bool, report: EscalationReport | None = None
) -> EscalationReport:
    report = report or EscalationReport()
    now = clock.now()
    for target in (Task, Item):
        while True:
            with unit_of_work(factory) as session:
                ids = _claim_due(session, target, now)
                for row in session.scalars(select(target).where(target.id.in_(ids))):
                    _escalate_isolated(session, row, now, report, mail_enabled)
            if len(ids) < BATCH:
                break
    return report


def _claim_due(session: Session, target, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(target.id)
            .where(target.next_escalation_at <= now)
            .order_by(target.next_escalation_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )


def _escalate_isolated(session: Session, row: Task | Item, now, report, mail_enabled) -> None:
    """One row in its own savepoint: a failure is logged and retried later, never blocking
    the rest of the batch (or every later sweep)."""
    try:
        with session.begin_nested():
            _escalate(session, row, now, report, mail_enabled)
    except Exception:
        log.exception("escalating %s %s failed; retrying in an hour", type(row).__name__, row.id)
        row.next_escalation_at = now + RETRY_AFTER


def _escalate(session: Session, row: Task | Item, now, report, mail_enabled: bool) -> None:
    """Record every level of `row` (a task or an item) that has fallen due, in order."""
    task = row if isinstance(row, Task) else None
    item = task.item if task else row
    schedule = stored_schedule(row)
    if row.status != "open" or schedule is None:
        row.next_escalation_at = None
        return
    for level in range(row.escalation_level + 1, 4):
        threshold = schedule.threshold(level)
        if threshold is None:
            continue
        if threshold > now:
            break  # levels are reached in order: never record one above a level not yet due
        kind = "task" if task else "item"
        message = _message(level, item, task.title if task else None, schedule.due_at)
        _record(
            session, item, task, level, f"{kind}:{row.id}:{level}", message, report, mail_enabled
        )
        row.escalation_level = level
    row.next_escalation_at = schedule.next_after(row.escalation_level)


def _record(session, item, task, level, key, message, report, mail_enabled) -> None:
    """Insert the escalation once; a duplicate key means another scheduler already did."""
    try:
        with session.begin_nested():
            escalation = Escalation(
                court_id=item.court_id,
                key=key,
                item_id=item.id,
                task_id=task.id if task else None,
                level=level,
                created_at=clock.now(),
            )
            session.add(escalation)
            session.flush()
    except IntegrityError:
        return
    sent = alerts.notify(session, escalation, item, task, message, mail_enabled=mail_enabled)
    if level == 3:
        item.supervised = True
    audit.record(
        session,
        item,
        None,
        f"escalated_{level}",
        task_bpmn_id=task.bpmn_id if task else None,
        task_title=task.title if task else None,
        comment=message,
        data={"level": level, "alerts": len(sent)},
    )
    report.add(level, len(sent))


def _message(level: int, item: Item, step: str | None, due_at: datetime) -> str:
    due = due_at.astimezone(clock.business_timezone()).strftime("%Y-%m-%d")
    what = f"{item.number}「{item.title}」" + (
        f" · {step}" if step else " (办理期限 / item deadline)"
    )
    texts = {
        1: f"{what} 将于 {due} 到期，请抓紧办理 / due on {due}",
        2: f"{what} 已超期（期限 {due}） / overdue since {due}",
        3: f"{what} 超期未办，已列入督办 / overdue since {due}, now under supervision",
    }
    return texts[level]
