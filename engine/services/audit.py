"""The append-only audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine import clock
from engine.models import AuditEvent, Item, User


def record(
    session: Session,
    item: Item,
    actor: User | None,
    action: str,
    *,
    task_bpmn_id: str | None = None,
    task_title: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    task_id: int | None = None,
) -> AuditEvent:
    event = AuditEvent(
        court_id=item.court_id,
        item_id=item.id,
        at=clock.now(),
        actor_id=actor.id if actor else None,
        action=action,
        task_bpmn_id=task_bpmn_id,
        task_title=task_title,
        comment=comment,
        data=data,
        task_id=task_id,
    )
    session.add(event)
    return event
