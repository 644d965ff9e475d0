"""The OpenAPI 3.1 description of REST API v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from engine.models import ITEM_KINDS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


def _page(item_schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": _ref(item_schema)},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    }


_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
]
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_STRING_OR_NULL = {"type": ["string", "null"]}
_MARKED = {"type": "object", "properties": {"marked": {"type": "integer"}}}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def _task_action(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_TASK_ID],
        "responses": {"200": _json(_ref("Task"), "the task"), **_errors(401, 403, 404, 409, 422)},
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return {"post": operation}


def openapi_document() -> dict[str, Any]:
    task = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "item_number": {"type": "string"},
            "name": {"type": "string", "description": "BPMN id of the user task"},
            "title": {"type": "string"},
            "role": {"type": "string"},
            "department": _STRING_OR_NULL,
            "assignee": _STRING_OR_NULL,
            "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "created_at": {"type": "string", "format": "date-time"},
            "due_at": _TIME_OR_NULL,
            "remind_at": _TIME_OR_NULL,
            "due_estimated": {
                "type": "boolean",
                "description": "computed from the Mon–Fri fallback",
            },
            "escalation_level": {"type": "integer", "minimum": 0, "maximum": 3},
        },
    }
    alert = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "task_id": {"type": ["integer", "null"]},
            "level": {
                "type": "integer",
                "enum": [1, 2, 3],
                "description": "1 reminder, 2 department head, 3 leader",
            },
            "message": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "read": {"type": "boolean"},
        },
    }
    item_summary = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string", "examples": ["2026-建-0001"]},
            "kind": {"type": "string", "enum": list(ITEM_KINDS)},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "filed"]},
            "current_step": _STRING_OR_NULL,
            "department": _STRING_OR_NULL,
            "received_at": {"type": "string", "format": "date-time"},
            "due_at": _TIME_OR_NULL,
            "due_estimated": {"type": "boolean"},
            "supervised": {"type": "boolean"},
            "archive_number": _STRING_OR_NULL,
        },
    }
    event = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": _STRING_OR_NULL,
            "action": {"type": "string"},
            "task": _STRING_OR_NULL,
            "comment": _STRING_OR_NULL,
        },
    }
    item = {
        "allOf": [
            _ref("ItemSummary"),
            {
                "type": "object",
                "properties": {
                    "content": {"type": "string"},
                    "deputies": {"type": "array", "items": {"type": "object"}},
                    "filed_at": _TIME_OR_NULL,
                    "process": {
                        "type": "object",
                        "properties": {"key": {"type": "string"}, "version": {"type": "integer"}},
                    },
                    "open_tasks": {"type": "array", "items": _ref("Task")},
                    "events": {"type": "array", "items": _ref("Event")},
                },
            },
        ]
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
    new_item = {
        "type": "object",
        "required": ["kind", "title", "content", "deputies"],
        "properties": {
            "kind": {"type": "string", "enum": list(ITEM_KINDS)},
            "title": {"type": "string", "maxLength": 300},
            "content": {"type": "string"},
            "deputies": {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}},
            "received_at": {"type": "string", "format": "date-time"},
        },
    }
    meanings = {
        400: "malformed request",
        401: "missing or invalid credentials",
        403: "not allowed",
        404: "not found (also for records the caller may not see)",
        409: "conflict: task no longer open, claimed by someone else, or stale version",
        413: "request too large",
        422: "invalid data; `fields` names each bad field",
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Liaison Desk (联络通) API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/items": {
                "post": {
                    "summary": "Register an item and start its workflow",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewItem")}},
                    },
                    "responses": {
                        "201": _json(_ref("Item"), "the new item"),
                        **_errors(400, 401, 403, 422),
                    },
                },
                "get": {
                    "summary": "Items the caller may see",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(ITEM_KINDS)},
                        },
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {"name": "overdue", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {"name": "due_soon", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "supervised", "in": "query", "schema": {"type": "boolean"}},
                        {
                            "name": "sort",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["newest", "due"]},
                        },
                        *_PAGING,
                    ],
                    "responses": {
                        "200": _json(_page("ItemSummary"), "a page of items"),
                        **_errors(401, 422),
                    },
                },
            },
            "/items/{item_id}": {
                "get": {
                    "summary": "One item with open tasks and audit trail",
                    "parameters": [_ITEM_ID],
                    "responses": {"200": _json(_ref("Item"), "the item"), **_errors(401, 404)},
                }
            },
            "/tasks": {
                "get": {
                    "summary": "Open user tasks",
                    "parameters": [
                        {
                            "name": "scope",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["mine", "candidate", "all"]},
                        },
                        *_PAGING,
                    ],
                    "responses": {
                        "200": _json(_page("Task"), "a page of tasks"),
                        **_errors(401, 422),
                    },
                }
            },
            "/tasks/{task_id}": {
                "get": {
                    "summary": "A task with its form (JSON Schema)",
                    "parameters": [_TASK_ID],
                    "responses": {
                        "200": _json(_ref("Task"), "the task and `form`"),
                        **_errors(401, 404),
                    },
                }
            },
            "/alerts": {
                "get": {
                    "summary": "The caller's escalation alerts, newest first",
                    "parameters": [
                        {"name": "unread", "in": "query", "schema": {"type": "boolean"}},
                        *_PAGING,
                    ],
                    "responses": {
                        "200": _json(_page("Alert"), "a page of alerts"),
                        **_errors(401, 422),
                    },
                }
            },
            "/alerts/{alert_id}/read": {
                "post": {
                    "summary": "Mark one alert read",
                    "parameters": [
                        {
                            "name": "alert_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {
                        "200": _json(_MARKED, "how many were marked"),
                        **_errors(401, 404),
                    },
                }
            },
            "/alerts/read": {
                "post": {
                    "summary": "Mark all of the caller's alerts read",
                    "responses": {"200": _json(_MARKED, "how many were marked"), **_errors(401)},
                }
            },
            "/tasks/{task_id}/claim": _task_action("Take the task"),
            "/tasks/{task_id}/release": _task_action("Give the task back"),
            "/tasks/{task_id}/assign": _task_action(
                "Hand the task to a colleague",
                {
                    "type": "object",
                    "required": ["username"],
                    "properties": {"username": {"type": "string"}},
                },
            ),
            "/tasks/{task_id}/complete": {
                "post": {
                    "summary": "Complete the task with form data; runs to the next wait state",
                    "parameters": [_TASK_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {"data": {"type": "object"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(_ref("Item"), "the item afterwards"),
                        **_errors(400, 401, 403, 404, 409, 422),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Task": task,
                "Alert": alert,
                "ItemSummary": item_summary,
                "Item": item,
                "Event": event,
                "NewItem": new_item,
                "Error": error,
            },
            "responses": {
                f"E{status}": _json(_ref("Error"), text) for status, text in meanings.items()
            },
        },
    }
