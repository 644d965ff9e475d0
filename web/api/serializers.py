"""JSON shapes of the REST API v1 (DESIGN.md, part A)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.models import Alert, AuditEvent, Item, Task
from engine.services.items import ItemDetail


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "item_id": task.item_id,
        "item_number": task.item.number,
        "name": task.bpmn_id,
        "title": task.title,
        "role": task.role,
        "department": task.department.name if task.department else None,
        "assignee": task.assignee.username if task.assignee else None,
        "status": task.status,
        "created_at": iso(task.created_at),
        "due_at": iso(task.due_at),
        "remind_at": iso(task.remind_at),
        "due_estimated": task.due_fallback,
        "escalation_level": task.escalation_level,
    }


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "actor": event.actor.username if event.actor else None,
        "action": event.action,
        "task": event.task_bpmn_id,
        "comment": event.comment,
    }


def item_summary_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "number": item.number,
        "kind": item.kind,
        "title": item.title,
        "status": item.status,
        "current_step": item.current_step,
        "department": item.department.name if item.department else None,
        "received_at": iso(item.received_at),
        "due_at": iso(item.due_at),
        "due_estimated": item.due_fallback,
        "supervised": item.supervised,
        "archive_number": item.archive_number,
    }


def item_json(detail: ItemDetail) -> dict[str, Any]:
    item = detail.item
    return {
        **item_summary_json(item),
        "content": item.content,
        "deputies": [{"id": d.id, "name": d.name} for d in item.deputies],
        "filed_at": iso(item.filed_at),
        "round": item.round,
        "meeting_waived": item.meeting_waived,
        "case_number": item.case_number,
        "case_stage": item.case_stage,
        "source_org": item.source_org,
        "source_reference": item.source_reference,
        "co_departments": [d.name for d in item.co_departments],
        "co_opinions": [
            {
                "department": co.department,
                "status": co.status,
                "due_at": iso(co.due_at),
                "opinion": co.opinion,
                "by": co.by,
                "at": iso(co.at),
            }
            for co in detail.co_opinions
        ],
        "reply_class": item.reply_class,
        "replied_at": iso(item.replied_at),
        "process": {"key": detail.process.key, "version": detail.process.version},
        "open_tasks": [task_json(t) for t in detail.open_tasks],
        "events": [event_json(e) for e in detail.events],
    }


def page_json(rows: list[dict[str, Any]], total: int, page: int, per_page: int) -> dict[str, Any]:
    return {"items": rows, "total": total, "page": page, "per_page": per_page}


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "item_id": alert.item_id,
        "task_id": alert.task_id,
        "level": alert.level,
        "message": alert.message,
        "created_at": iso(alert.created_at),
        "read": alert.read_at is not None,
    }
