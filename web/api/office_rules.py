"""REST API v1 for the office's rules around the reply: meetings (见面) and extensions (延期)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from engine.models import Extension, Meeting
from engine.services import extensions, items, meetings
from web.api import ID, MAX_PER_PAGE, api, int_arg, json_body
from web.api.serializers import iso, page_json
from web.db import actor, work


def meeting_json(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "item_id": meeting.item_id,
        "deputy_id": meeting.deputy_id,
        "deputy": meeting.deputy.name if meeting.deputy else None,
        "met_on": meeting.met_on.isoformat(),
        "method": meeting.method,
        "notes": meeting.notes,
        "round": meeting.round,
        "recorded_by": meeting.recorded_by.username if meeting.recorded_by else None,
        "created_at": iso(meeting.created_at),
    }


def extension_json(extension: Extension) -> dict[str, Any]:
    return {
        "id": extension.id,
        "item_id": extension.item_id,
        "item_number": extension.item.number,
        "item_title": extension.item.title,
        "status": extension.status,
        "reason": extension.reason,
        "requested_due_on": extension.requested_due_on.isoformat(),
        "previous_due_at": iso(extension.previous_due_at),
        "requested_by": extension.requested_by.username,
        "created_at": iso(extension.created_at),
        "decided_by": extension.decided_by.username if extension.decided_by else None,
        "decided_at": iso(extension.decided_at),
        "decision_comment": extension.decision_comment,
    }


def _meetings_json(session, item) -> dict[str, Any]:
    return {
        "items": [meeting_json(m) for m in meetings.for_item(session, item)],
        "round": item.round,
        "meeting_status": meetings.status(session, item),
        "meeting_waived": item.meeting_waived,
    }


@api.get(f"/items/<{ID}:item_id>/meetings")
def list_meetings(item_id: int):
    with work() as session:
        item = items.get(session, actor(session), item_id)
        return jsonify(_meetings_json(session, item))


@api.post(f"/items/<{ID}:item_id>/meetings")
def record_meeting(item_id: int):
    body = json_body()
    with work() as session:
        meeting = meetings.record(
            session,
            actor(session),
            item_id,
            body.get("met_on"),
            body.get("method"),
            body.get("notes"),
            body.get("deputy_id"),
        )
        result = meeting_json(meeting)
    return jsonify(result), 201


@api.post(f"/items/<{ID}:item_id>/meeting-waiver")
def waive_meeting(item_id: int):
    body = json_body()
    with work() as session:
        item = meetings.waive(session, actor(session), item_id, body.get("reason"))
        return jsonify(_meetings_json(session, item))


@api.get(f"/items/<{ID}:item_id>/extensions")
def list_item_extensions(item_id: int):
    with work() as session:
        item = items.get(session, actor(session), item_id)
        return jsonify({"items": [extension_json(e) for e in extensions.for_item(session, item)]})


@api.post(f"/items/<{ID}:item_id>/extensions")
def request_extension(item_id: int):
    body = json_body()
    with work() as session:
        extension = extensions.request(
            session, actor(session), item_id, body.get("reason"), body.get("requested_due_on")
        )
        result = extension_json(extension)
    return jsonify(result), 201


@api.get("/extensions")
def list_extensions():
    page, per_page = int_arg("page", 1), int_arg("per_page", 20, MAX_PER_PAGE)
    with work() as session:
        rows, total = extensions.search(
            session,
            actor(session),
            status=request.args.get("status") or None,
            page=page,
            per_page=per_page,
        )
        return jsonify(page_json([extension_json(e) for e in rows], total, page, per_page))


@api.post(f"/extensions/<{ID}:extension_id>/decide")
def decide_extension(extension_id: int):
    body = json_body()
    with work() as session:
        extension = extensions.decide(
            session, actor(session), extension_id, body.get("approve"), body.get("comment")
        )
        result = extension_json(extension)
    return jsonify(result)
