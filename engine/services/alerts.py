"""Escalation alerts: who gets them, the in-app list, and their e-mails in the outbox."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock, mailer
from engine.errors import NotFound
from engine.models import Alert, Escalation, Item, OutboxMail, Task, User

LEVEL_NAMES = {1: "催办 / reminder", 2: "超期 / overdue", 3: "督办 / supervision"}


def recipients(session: Session, item: Item, task: Task | None, level: int) -> list[User]:
    """Level 1: the holder or every candidate; 2: department heads; 3: leaders in charge."""
    active = (User.court_id == item.court_id) & User.active.is_(True)
    if level == 1:
        if task is not None and task.assignee_id is not None:
            return [task.assignee]
        if task is not None:
            condition = User.role == task.role
            if task.department_id is not None:
                condition &= User.department_id == task.department_id
        else:  # an item: whoever holds its open steps, or could take the unclaimed ones
            found = {
                user.id: user
                for step in session.scalars(
                    select(Task).where(Task.item_id == item.id, Task.status == "open")
                )
                for user in recipients(session, item, step, 1)
            }
            return [found[user_id] for user_id in sorted(found)]
        return list(session.scalars(select(User).where(active, condition).order_by(User.id)))
    if level == 2:
        department_id = (task.department_id if task else None) or item.department_id
        heads = (
            list(
                session.scalars(
                    select(User)
                    .where(active, User.role == "dept_head", User.department_id == department_id)
                    .order_by(User.id)
                )
            )
            if department_id
            else []
        )
        if heads:
            return heads
    return list(
        session.scalars(select(User).where(active, User.role == "leader").order_by(User.id))
    )


def notify(
    session: Session,
    escalation: Escalation,
    item: Item,
    task: Task | None,
    message: str,
    *,
    mail_enabled: bool,
) -> list[Alert]:
    """One alert per recipient for this escalation; mail goes to the outbox unless on digest."""
    alerts = []
    for user in recipients(session, item, task, escalation.level):
        alert = Alert(
            court_id=item.court_id,
            user_id=user.id,
            escalation_id=escalation.id,
            item_id=item.id,
            task_id=task.id if task else None,
            level=escalation.level,
            message=message,
            created_at=clock.now(),
        )
        session.add(alert)
        session.flush()
        alerts.append(alert)
        if mail_enabled and user.email and not user.daily_digest:
            mailer.queue(
                session,
                f"alert:{alert.id}",
                user.email,
                f"[联络通] {LEVEL_NAMES[escalation.level]} {item.number}",
                f"{message}\n\n{item.number} {item.title}",
            )
    return alerts


def for_user(session: Session, user: User, *, unread_only: bool, page: int, per_page: int):
    condition = Alert.user_id == user.id
    if unread_only:
        condition &= Alert.read_at.is_(None)
    total = session.scalar(select(func.count()).select_from(Alert).where(condition)) or 0
    rows = session.scalars(
        select(Alert)
        .where(condition)
        .order_by(Alert.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def unread_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.user_id == user.id, Alert.read_at.is_(None))
        )
        or 0
    )


def mark_read(session: Session, user: User, alert_id: int | None = None) -> int:
    """Mark one alert (or all of the user's) read; another user's alert is NotFound."""
    condition = (Alert.user_id == user.id) & Alert.read_at.is_(None)
    if alert_id is not None:
        if (
            session.scalar(select(Alert.id).where(Alert.id == alert_id, Alert.user_id == user.id))
            is None
        ):
            raise NotFound(f"alert {alert_id} not found")
        condition &= Alert.id == alert_id
    return session.execute(update(Alert).where(condition).values(read_at=clock.now())).rowcount


DIGEST_HOUR = 8


def queue_digests(session: Session) -> int:
    """Once a day from 08:00, one mail per digest user listing their unread alerts."""
    local = clock.local_now()
    if local.hour < DIGEST_HOUR:
        return 0
    queued = 0
    users = session.scalars(
        select(User).where(
            User.daily_digest.is_(True), User.email.is_not(None), User.active.is_(True)
        )
    )
    for user in users:
        key = f"digest:{user.id}:{local.date().isoformat()}"
        if session.scalar(select(OutboxMail.id).where(OutboxMail.key == key)) is not None:
            continue
        unread = session.scalars(
            select(Alert)
            .where(Alert.user_id == user.id, Alert.read_at.is_(None))
            .order_by(Alert.id)
        ).all()
        if not unread:
            continue
        body = "\n".join(f"- {alert.message}" for alert in unread)
        try:
            with session.begin_nested():
                subject = f"[联络通] 每日提醒 / daily digest {local.date()} ({len(unread)})"
                mailer.queue(session, key, user.email, subject, body)
                session.flush()
            queued += 1
        except IntegrityError:
            continue  # another scheduler queued it first
    return queued
