"""The OpenAPI 3.1 description of REST API v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from engine.models import CASE_STAGES, ITEM_KINDS


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
                    "round": {"type": "integer", "description": "handling round (2+ after 不满意)"},
                    "meeting_waived": {
                        "type": "boolean",
                        "description": "a leader waived this round's meeting (免于见面)",
                    },
                    "case_number": {
                        "type": ["string", "null"],
                        "description": "案号 (concern cases)",
                    },
                    "case_stage": {"type": ["string", "null"], "enum": [None, *CASE_STAGES]},
                    "source_org": {
                        "type": ["string", "null"],
                        "description": "forwarding body (petitions) or upper court (supervision)",
                    },
                    "source_reference": {"type": ["string", "null"]},
                    "co_departments": {"type": "array", "items": {"type": "string"}},
                    "co_opinions": {
                        "type": "array",
                        "description": "co-handling units' opinions (open / completed / cancelled)",
                        "items": {"type": "object"},
                    },
                    "reply_class": {"type": ["string", "null"], "enum": [None, "A", "B", "C", "D"]},
                    "replied_at": _TIME_OR_NULL,
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
            "deputies": {
                "type": "array",
                "description": "at least one, except for petitions and supervision letters",
                "items": {"type": ["string", "integer"]},
            },
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
    document: dict[str, Any] = {
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
            "/items/{item_id}/corrections": {
                "post": {
                    "summary": "Append a correction note (更正说明); filed items are never edited",
                    "parameters": [_ITEM_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["comment"],
                                    "properties": {
                                        "comment": {"type": "string", "maxLength": 2000}
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Item"), "the item with the note in its events"),
                        **_errors(400, 401, 403, 404, 422),
                    },
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
    document["paths"].update(_designer_paths())
    document["components"]["schemas"].update(_designer_schemas())
    document["paths"].update(_deputy_paths())
    document["components"]["schemas"].update(_deputy_schemas())
    document["paths"].update(_attachment_paths())
    document["components"]["schemas"].update(_attachment_schemas())
    document["paths"].update(_office_rule_paths())
    document["components"]["schemas"].update(_office_rule_schemas())
    document["paths"].update(_feedback_paths())
    document["components"]["schemas"].update(_feedback_schemas())
    document["paths"].update(_stats_paths())
    document["components"]["schemas"].update(_stats_schemas())
    return document


# --- workflow designers (/designer) ---------------------------------------------------------

_VERSION_ID = {"name": "version_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
_DESIGNER = "Roles designer and admin only (others 403); another court's versions are 404."


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _designer_schemas() -> dict[str, Any]:
    problem = {
        "type": "object",
        "required": ["element_id", "message"],
        "properties": {
            "element_id": {
                "type": ["string", "null"],
                "description": "BPMN id of the element; null only for problems about the file",
            },
            "message": {"type": "string", "description": "plain Chinese / English sentence"},
            "code": {"type": "string", "description": "stable kind, e.g. lane, form, message"},
        },
    }
    version = {
        "type": "object",
        "required": ["id", "key", "version", "status"],
        "properties": {
            "id": {"type": "integer"},
            "key": {"type": "string"},
            "version": {"type": "integer"},
            "status": {"type": "string", "enum": ["draft", "deployed", "retired"]},
            "note": _STRING_OR_NULL,
            "author": _STRING_OR_NULL,
            "created_at": {"type": "string", "format": "date-time"},
            "deployed_at": _TIME_OR_NULL,
        },
    }
    checked = {
        "type": "object",
        "required": ["problems", "deployable"],
        "properties": {
            "problems": {"type": "array", "items": _ref("DesignerProblem")},
            "deployable": {"type": "boolean"},
        },
    }
    element = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": _STRING_OR_NULL,
            "type": {"type": "string", "examples": ["bpmn:UserTask"]},
            "changes": {"type": "array", "items": {"type": "string"}},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "before": {}, "after": {}},
                },
            },
        },
    }
    names = {"type": "array", "items": {"type": "string"}}
    step = {
        "type": "object",
        "properties": {
            "task": _STRING_OR_NULL,
            "title": _STRING_OR_NULL,
            "role": _STRING_OR_NULL,
            "form": _STRING_OR_NULL,
            "ok": {"type": "boolean"},
            "error": _STRING_OR_NULL,
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return {
        "DesignerProblem": problem,
        "DesignerVersion": version,
        "DesignerCheckedVersion": {"allOf": [_ref("DesignerVersion"), checked]},
        "DesignerVersionDetail": {
            "allOf": [
                _ref("DesignerCheckedVersion"),
                {
                    "type": "object",
                    "properties": {
                        "bpmn_xml": {"type": "string"},
                        "forms": {"type": "object", "additionalProperties": {"type": "object"}},
                    },
                },
            ]
        },
        "DesignerReport": checked,
        "DesignerProcess": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "deployed_version": {"type": ["integer", "null"]},
                "latest_version": {"type": "integer"},
            },
        },
        "DesignerDiff": {
            "type": "object",
            "properties": {
                "version": _ref("DesignerVersion"),
                "against": _ref("DesignerVersion"),
                "added": {"type": "array", "items": element},
                "removed": {"type": "array", "items": element},
                "changed": {"type": "array", "items": element},
                "forms": {
                    "type": "object",
                    "properties": {"added": names, "removed": names, "changed": names},
                },
            },
        },
        "DesignerDryRun": {
            "type": "object",
            "properties": {
                "path": {"type": "array", "items": step},
                "waiting": {"type": "array", "items": step},
                "timers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "task": _STRING_OR_NULL,
                            "due_at": {"type": "string", "format": "date-time"},
                        },
                    },
                },
                "visited": names,
                "ended": {"type": "boolean"},
                "error": {"type": ["object", "null"]},
            },
        },
        "DesignerMigrationCheck": {
            "type": "object",
            "properties": {
                "item_id": {"type": "integer"},
                "number": {"type": "string"},
                "title": {"type": "string"},
                "from_version": {"type": "integer"},
                "current_steps": names,
                "can_migrate": {"type": "boolean"},
                "reason": _STRING_OR_NULL,
            },
        },
    }


def _designer_paths() -> dict[str, Any]:
    upload = {
        "type": "object",
        "required": ["bpmn_xml"],
        "properties": {
            "bpmn_xml": {"type": "string", "description": "BPMN 2.0 XML, at most 2 MiB"},
            "forms": {
                "type": "object",
                "description": "file name → JSON Schema (default: the previous version's)",
                "additionalProperties": {"type": "object"},
            },
            "note": {"type": "string", "maxLength": 2000},
        },
    }
    steps = {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["task"],
                    "properties": {"task": {"type": "string"}, "data": {"type": "object"}},
                },
            }
        },
    }
    migrate = {
        "type": "object",
        "required": ["to", "item_ids"],
        "properties": {
            "to": {"type": "integer"},
            "item_ids": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": {"type": "integer"},
            },
        },
    }
    results = {
        "type": "object",
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "item_id": {"type": "integer"},
                        "migrated": {"type": "boolean"},
                        "reason": _STRING_OR_NULL,
                    },
                },
            }
        },
    }
    version_id = [_VERSION_ID]
    return {
        "/designer/processes": {
            "get": {
                "summary": "Process keys with their deployed and latest version. " + _DESIGNER,
                "responses": {
                    "200": _json(_page("DesignerProcess"), "processes"),
                    **_errors(401, 403),
                },
            }
        },
        "/designer/processes/{key}/versions": {
            "get": {
                "summary": "Versions of a process, newest first",
                "parameters": [_KEY, *_PAGING],
                "responses": {
                    "200": _json(_page("DesignerVersion"), "versions"),
                    **_errors(401, 403, 404),
                },
            },
            "post": {
                "summary": "Save a draft version (validated; stored if well-formed BPMN whose "
                "process id is {key})",
                "parameters": [_KEY],
                "requestBody": _body(upload),
                "responses": {
                    "201": _json(_ref("DesignerCheckedVersion"), "the draft and its problems"),
                    **_errors(400, 401, 403, 404, 413, 422),
                },
            },
        },
        "/designer/versions/{version_id}": {
            "get": {
                "summary": "A version with its BPMN, forms and problems",
                "parameters": version_id,
                "responses": {
                    "200": _json(_ref("DesignerVersionDetail"), "the version"),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/designer/versions/{version_id}/bpmn": {
            "get": {
                "summary": "Download the version's BPMN file",
                "parameters": version_id,
                "responses": {
                    "200": {
                        "description": "BPMN XML (attachment)",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 403, 404),
                },
            }
        },
        "/designer/validate": {
            "post": {
                "summary": "Validate BPMN (and forms) without saving",
                "requestBody": _body(upload),
                "responses": {
                    "200": _json(_ref("DesignerReport"), "problems"),
                    **_errors(400, 401, 403, 413, 422),
                },
            }
        },
        "/designer/versions/{version_id}/deploy": {
            "post": {
                "summary": "Make the version current for new items; 422 names each element",
                "parameters": version_id,
                "responses": {
                    "200": _json(_ref("DesignerVersion"), "the deployed version"),
                    **_errors(401, 403, 404, 422),
                },
            }
        },
        "/designer/versions/{version_id}/diff": {
            "get": {
                "summary": "Elements and forms changed from version `against` to this one",
                "parameters": [
                    _VERSION_ID,
                    {
                        "name": "against",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("DesignerDiff"), "the difference"),
                    **_errors(401, 403, 404, 422),
                },
            }
        },
        "/designer/versions/{version_id}/dry-run": {
            "post": {
                "summary": "Walk a sample item through the version in memory",
                "parameters": version_id,
                "requestBody": _body(steps),
                "responses": {
                    "200": _json(_ref("DesignerDryRun"), "the path taken"),
                    **_errors(400, 401, 403, 404, 422),
                },
            }
        },
        "/designer/migrations": {
            "get": {
                "summary": "Running items on other versions of the target's process, each with "
                "whether it can move to version `to` and why not",
                "parameters": [
                    {"name": "to", "in": "query", "required": True, "schema": {"type": "integer"}},
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(_page("DesignerMigrationCheck"), "items"),
                    **_errors(401, 403, 404, 422),
                },
            },
            "post": {
                "summary": "Migrate the chosen items, each in its own transaction",
                "requestBody": _body(migrate),
                "responses": {
                    "200": _json(results, "one result per item"),
                    **_errors(400, 401, 403, 404, 422),
                },
            },
        },
    }


# --- the deputy registry (/deputies) --------------------------------------------------------


def _deputy_schemas() -> dict[str, Any]:
    deputy = {
        "type": "object",
        "required": ["id", "name", "active"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string", "maxLength": 100},
            "level": {"type": ["string", "null"], "enum": ["全国", "省", "市", "县", None]},
            "delegation": {**_STRING_OR_NULL, "description": "代表团"},
            "work_unit": _STRING_OR_NULL,
            "phone": _STRING_OR_NULL,
            "address": _STRING_OR_NULL,
            "email": _STRING_OR_NULL,
            "term": {**_STRING_OR_NULL, "description": "届次, e.g. 第十四届"},
            "active": {"type": "boolean"},
        },
    }
    staff = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
            "role": {"type": "string"},
            "department": _STRING_OR_NULL,
        },
    }
    detail = {
        "allOf": [
            _ref("Deputy"),
            {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "description": "the deputy's items that the caller may see, newest first",
                        "items": _ref("ItemSummary"),
                    },
                    "paired": {
                        "type": "array",
                        "description": "staff paired with the deputy (结对联络)",
                        "items": staff,
                    },
                },
            },
        ]
    }
    summary = {
        "type": "object",
        "required": ["created", "updated", "unchanged", "total"],
        "properties": {
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "total": {"type": "integer"},
        },
    }
    return {"Deputy": deputy, "DeputyDetail": detail, "DeputyImportSummary": summary}


def _deputy_paths() -> dict[str, Any]:
    return {
        "/deputies": {
            "get": {
                "summary": "The court's deputy registry (代表登记簿), by name. Every role but "
                "designer (403).",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "description": "part of the name, delegation or work unit",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "paired",
                        "in": "query",
                        "description": "`me`: only deputies paired with the caller",
                        "schema": {"type": "string", "enum": ["me"]},
                    },
                    {
                        "name": "include_inactive",
                        "in": "query",
                        "schema": {"type": "boolean"},
                    },
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(_page("Deputy"), "a page of deputies"),
                    **_errors(401, 403, 422),
                },
            }
        },
        "/deputies/{deputy_id}": {
            "get": {
                "summary": "One deputy with the items the caller may see and the paired staff",
                "parameters": [
                    {
                        "name": "deputy_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": _json(_ref("DeputyDetail"), "the deputy"),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/deputies/import": {
            "post": {
                "summary": "Import deputies from .xlsx or .csv (registrar and admin). All or "
                "nothing: a bad row rejects the file with 422 and `fields` mapping `row N` "
                "(as the spreadsheet numbers it) to `column: reason`. Rows match registry "
                "entries by name and delegation, which are updated rather than duplicated. "
                "At most 5 MiB and 20,000 rows (413).",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "header row: 姓名/name, 层级/level, "
                                        "代表团/delegation, 工作单位/work_unit, 电话/phone, "
                                        "地址/address, 邮箱/email, 届次/term",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("DeputyImportSummary"), "what the import did"),
                    **_errors(400, 401, 403, 409, 413, 422),
                },
            }
        },
    }


# --- attachments and the reply letter -------------------------------------------------------

_ATTACHMENT_ID = {
    "name": "attachment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _multipart_file(description: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    properties = {"file": {"type": "string", "format": "binary", "description": description}}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {**properties, **(extra or {})},
                }
            }
        },
    }


def _attachment_schemas() -> dict[str, Any]:
    attachment = {
        "type": "object",
        "required": ["id", "item_id", "kind", "filename", "content_type", "size", "sha256"],
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "task_id": {"type": ["integer", "null"], "description": "the step it belongs to"},
            "task": {**_STRING_OR_NULL, "description": "the step's title"},
            "kind": {
                "type": "string",
                "enum": ["file", "reply_letter"],
                "description": "`reply_letter`: a generated 答复函",
            },
            "filename": {"type": "string", "description": "original name, sanitised"},
            "content_type": {"type": "string", "description": "sniffed from the content"},
            "size": {"type": "integer"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "uploaded_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    return {"Attachment": attachment}


def _attachment_paths() -> dict[str, Any]:
    binary = {"description": "the file", "content": {"application/octet-stream": {}}}
    return {
        "/items/{item_id}/attachments": {
            "get": {
                "summary": "The item's attachments, oldest first (404 for an item the caller "
                "may not see)",
                "parameters": [_ITEM_ID],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Attachment")}},
                        },
                        "the attachments",
                    ),
                    **_errors(401, 404),
                },
            },
            "post": {
                "summary": "Upload a file to the item, or to one of its steps (`task_id`). "
                "Anyone who may see the item. Allowed: .pdf .docx .xlsx .doc .xls .jpg .png "
                ".txt (UTF-8), judged by content, not by Content-Type; a name whose extension "
                "disagrees with the content is 422. At most 20 MiB (413). A filed item accepts "
                "no uploads (409).",
                "parameters": [_ITEM_ID],
                "requestBody": _multipart_file(
                    "the file; its name is kept (sanitised) for downloads",
                    {"task_id": {"type": "integer", "description": "a step of this item"}},
                ),
                "responses": {
                    "201": _json(_ref("Attachment"), "the stored attachment"),
                    **_errors(400, 401, 404, 409, 413, 422),
                },
            },
        },
        "/items/{item_id}/attachments/{attachment_id}": {
            "get": {
                "summary": "Download the file (Content-Disposition: attachment with the "
                "original name, RFC 5987 for non-ASCII). Its SHA-256 is checked first: a "
                "stored file that no longer matches is refused with 409.",
                "parameters": [_ITEM_ID, _ATTACHMENT_ID],
                "responses": {"200": binary, **_errors(401, 404, 409)},
            }
        },
        "/items/{item_id}/reply-letter": {
            "post": {
                "summary": "Regenerate the reply letters (答复函, one per deputy) from the "
                "current template (registrar and admin; open items whose letter used another "
                "template, else 409). The reply's own date and text are used; older letters "
                "are kept.",
                "parameters": [_ITEM_ID],
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "letters": {"type": "array", "items": _ref("Attachment")}
                            },
                        },
                        "the new letters",
                    ),
                    **_errors(401, 403, 404, 409),
                },
            }
        },
        "/reply-template": {
            "get": {
                "summary": "Download the court's current reply-letter template (admin)",
                "responses": {
                    "200": {"description": "the template", "content": {_DOCX: {}}},
                    **_errors(401, 403),
                },
            },
            "put": {
                "summary": "Replace the reply-letter template (admin). It must be a .docx "
                "holding {{reply}}; other placeholders: {{court}} {{number}} {{title}} "
                "{{deputies}} {{reply_class}} {{date}} (unknown ones are 422). At most 5 MiB.",
                "requestBody": _multipart_file("the .docx template"),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "sha256": {"type": "string"},
                                "size": {"type": "integer"},
                            },
                        },
                        "the installed template",
                    ),
                    **_errors(400, 401, 403, 413, 422),
                },
            },
        },
    }


# --- meetings with the deputy (见面) and deadline extensions (延期) --------------------------

_EXTENSION_ID = {
    "name": "extension_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
}
_DATE = {"type": "string", "format": "date", "examples": ["2026-05-20"]}


def _office_rule_schemas() -> dict[str, Any]:
    meeting = {
        "type": "object",
        "required": ["id", "item_id", "met_on", "method", "notes", "round"],
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "deputy_id": {
                "type": ["integer", "null"],
                "description": "the deputy met; null: all the item's deputies",
            },
            "deputy": _STRING_OR_NULL,
            "met_on": _DATE,
            "method": {"type": "string", "enum": ["in_person", "phone", "video", "forum"]},
            "notes": {"type": "string"},
            "round": {"type": "integer", "description": "handling round (2+ after 不满意)"},
            "recorded_by": _STRING_OR_NULL,
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    meetings = {
        "type": "object",
        "required": ["items", "round", "meeting_status", "meeting_waived"],
        "properties": {
            "items": {"type": "array", "items": _ref("Meeting")},
            "round": {"type": "integer", "description": "the item's current round"},
            "meeting_status": {
                "type": "string",
                "enum": ["met", "waived", "needed", "not_required"],
                "description": "for the current round; `needed` blocks the reply (422 `meeting`)",
            },
            "meeting_waived": {"type": "boolean"},
        },
    }
    extension = {
        "type": "object",
        "required": ["id", "item_id", "status", "reason", "requested_due_on", "requested_by"],
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "item_number": {"type": "string"},
            "item_title": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "approved", "refused"]},
            "reason": {"type": "string"},
            "requested_due_on": _DATE,
            "previous_due_at": {
                **_TIME_OR_NULL,
                "description": "the deadline before an approval moved it",
            },
            "requested_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "decided_by": _STRING_OR_NULL,
            "decided_at": _TIME_OR_NULL,
            "decision_comment": _STRING_OR_NULL,
        },
    }
    return {"Meeting": meeting, "Meetings": meetings, "Extension": extension}


def _office_rule_paths() -> dict[str, Any]:
    new_meeting = {
        "type": "object",
        "required": ["met_on", "method", "notes"],
        "properties": {
            "met_on": {**_DATE, "description": "not in the future"},
            "method": {"type": "string", "enum": ["in_person", "phone", "video", "forum"]},
            "notes": {"type": "string", "minLength": 2, "maxLength": 5000},
            "deputy_id": {
                "type": ["integer", "null"],
                "description": "one of the item's deputies; omit for all of them",
            },
        },
    }
    new_extension = {
        "type": "object",
        "required": ["reason", "requested_due_on"],
        "properties": {
            "reason": {"type": "string", "minLength": 2, "maxLength": 2000},
            "requested_due_on": {**_DATE, "description": "after the current deadline"},
        },
    }
    decision = {
        "type": "object",
        "required": ["approve"],
        "properties": {
            "approve": {"type": "boolean"},
            "comment": {"type": "string", "description": "required when refusing"},
        },
    }
    return {
        "/items/{item_id}/meetings": {
            "get": {
                "summary": "Meetings and talks with the item's deputies (见面/沟通), every round, "
                "with whether the current round still needs one",
                "parameters": [_ITEM_ID],
                "responses": {
                    "200": _json(_ref("Meetings"), "the meetings"),
                    **_errors(401, 404),
                },
            },
            "post": {
                "summary": "Record a meeting for the item's current round. Kinds that require "
                "one (suggestions by default) cannot be replied to before it (422 field "
                "`meeting`). Registrars, the handling side and leaders; filed items 409.",
                "parameters": [_ITEM_ID],
                "requestBody": _body(new_meeting),
                "responses": {
                    "201": _json(_ref("Meeting"), "the recorded meeting"),
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/items/{item_id}/meeting-waiver": {
            "post": {
                "summary": "The leader's waiver (免于见面): the current round may be answered "
                "without a meeting. Leader and president only (403).",
                "parameters": [_ITEM_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "properties": {"reason": {"type": "string", "minLength": 2}},
                    }
                ),
                "responses": {
                    "200": _json(_ref("Meetings"), "the item's meetings afterwards"),
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/items/{item_id}/extensions": {
            "get": {
                "summary": "The item's extension requests (延期), oldest first",
                "parameters": [_ITEM_ID],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("Extension")}},
                        },
                        "the requests",
                    ),
                    **_errors(401, 404),
                },
            },
            "post": {
                "summary": "Ask for a later deadline (drafters and head of the lead "
                "department, registrars; others 403). One pending request per item and no "
                "request on a filed or answered item (409). A suggestion's deadline may not "
                "pass 6 Civil-Code months after assignment (422 names the latest day).",
                "parameters": [_ITEM_ID],
                "requestBody": _body(new_extension),
                "responses": {
                    "201": _json(_ref("Extension"), "the pending request"),
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/extensions": {
            "get": {
                "summary": "Extension requests on items the caller may see, oldest first "
                "(leaders: `status=pending` is their approval queue)",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["pending", "approved", "refused"]},
                    },
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(_page("Extension"), "a page of requests"),
                    **_errors(401, 422),
                },
            }
        },
        "/extensions/{extension_id}/decide": {
            "post": {
                "summary": "Approve or refuse (leader and president; others 403). Approval "
                "moves the item deadline to the requested day, restarts escalation and tells "
                "the deputies (e-mail where the registry has an address; the audit trail "
                "lists the others). A refusal needs a comment (422); decided requests 409.",
                "parameters": [_EXTENSION_ID],
                "requestBody": _body(decision),
                "responses": {
                    "200": _json(_ref("Extension"), "the decided request"),
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            }
        },
    }


# --- deputy feedback (代表评价) ---------------------------------------------------------------

_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "the signed token of a deputy's feedback link (valid 60 days)",
    "schema": {"type": "string"},
}
_RATING = {"type": "string", "enum": ["satisfied", "basically_satisfied", "unsatisfied"]}
_LINK_REFUSED = {
    "404": {"$ref": "#/components/responses/E404"},
    "410": _json(_ref("Error"), "the link has expired (code `link_expired`)"),
}


def _feedback_schemas() -> dict[str, Any]:
    rating = {
        "type": "object",
        "required": ["id", "item_id", "deputy_id", "round", "rating", "source"],
        "properties": {
            "id": {"type": "integer"},
            "item_id": {"type": "integer"},
            "deputy_id": {"type": "integer"},
            "deputy": {"type": "string"},
            "round": {"type": "integer", "minimum": 1, "description": "the answer rated"},
            "rating": {**_RATING, "description": "满意 / 基本满意 / 不满意"},
            "comment": _STRING_OR_NULL,
            "source": {"type": "string", "enum": ["link", "paper"]},
            "recorded_by": {**_STRING_OR_NULL, "description": "who entered a paper rating"},
            "created_at": {"type": "string", "format": "date-time"},
            "item_status": {"type": "string", "enum": ["open", "filed"]},
            "item_round": {
                "type": "integer",
                "description": "the item's round afterwards (one more when 不满意 reopened it)",
            },
        },
    }
    link = {
        "type": "object",
        "properties": {
            "deputy_id": {"type": "integer"},
            "deputy": {"type": "string"},
            "email": _STRING_OR_NULL,
            "round": {"type": "integer"},
            "url": {"type": "string", "description": "absolute, from LIAISON_BASE_URL"},
            "expires_at": {"type": "string", "format": "date-time"},
            "rated": {**_RATING, "type": ["string", "null"], "enum": [*_RATING["enum"], None]},
        },
    }
    item_feedback = {
        "type": "object",
        "required": ["item_id", "round", "answered", "links", "rounds"],
        "properties": {
            "item_id": {"type": "integer"},
            "round": {"type": "integer", "description": "current handling round"},
            "answered": {"type": "boolean", "description": "the current round is answered"},
            "links": {
                "type": ["array", "null"],
                "description": "a fresh link per deputy for the current round; null unless the "
                "caller is a registrar, leader, president or admin",
                "items": _ref("FeedbackLink"),
            },
            "rounds": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "round": {"type": "integer"},
                        "ratings": {"type": "array", "items": _ref("Rating")},
                    },
                },
            },
        },
    }
    page = {
        "type": "object",
        "properties": {
            "number": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"type": "string", "enum": list(ITEM_KINDS)},
            "kind_label": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "filed"]},
            "stage": {
                "type": "string",
                "enum": ["handling", "answered", "rehandling", "filed"],
            },
            "round": {"type": "integer", "description": "the answer round this link rates"},
            "current_round": {"type": "integer"},
            "deputy": {"type": "string"},
            "reply": _STRING_OR_NULL,
            "reply_class": {"type": ["string", "null"], "enum": ["A", "B", "C", "D", None]},
            "reply_class_label": _STRING_OR_NULL,
            "replied_at": _TIME_OR_NULL,
            "rated": {"type": "boolean"},
            "rating": {"type": ["string", "null"], "enum": [*_RATING["enum"], None]},
            "comment": _STRING_OR_NULL,
            "rated_at": _TIME_OR_NULL,
            "can_rate": {"type": "boolean"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "Rating": rating,
        "FeedbackLink": link,
        "ItemFeedback": item_feedback,
        "FeedbackPage": page,
    }


def _feedback_paths() -> dict[str, Any]:
    rate_body = {
        "type": "object",
        "required": ["rating"],
        "properties": {
            "rating": _RATING,
            "comment": {
                "type": "string",
                "maxLength": 2000,
                "description": "required (at least 2 characters) for `unsatisfied`",
            },
        },
    }
    return {
        "/items/{item_id}/feedback": {
            "get": {
                "summary": "Deputy feedback of an item: each deputy's link for the current round "
                "(registrars, leaders, the president and admins) and every rating by round "
                "(everyone who may see the item)",
                "parameters": [_ITEM_ID],
                "responses": {
                    "200": _json(_ref("ItemFeedback"), "links and ratings"),
                    **_errors(401, 404),
                },
            }
        },
        "/items/{item_id}/ratings": {
            "post": {
                "summary": "Record a rating received on paper (registrar and admin). `round` "
                "defaults to the latest answered round. 不满意 on the current round reopens "
                "the item for re-handling (shorter limit); an earlier round is only recorded. "
                "One rating per deputy and round (409).",
                "parameters": [_ITEM_ID],
                "requestBody": _body(
                    {
                        **rate_body,
                        "required": ["deputy_id", "rating"],
                        "properties": {
                            "deputy_id": {"type": "integer", "description": "one of the item's"},
                            **rate_body["properties"],
                            "round": {"type": "integer", "minimum": 1},
                        },
                    }
                ),
                "responses": {
                    "201": _json(_ref("Rating"), "the recorded rating"),
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            }
        },
        "/feedback/{token}": {
            "get": {
                "summary": "Public (no credentials): what a deputy's feedback link shows — the "
                "item, the answer of the link's round and the deputy's rating of it",
                "security": [],
                "parameters": [_TOKEN],
                "responses": {
                    "200": _json(_ref("FeedbackPage"), "the page"),
                    **_LINK_REFUSED,
                },
            },
            "post": {
                "summary": "Public (no credentials): the deputy rates the answer once. 不满意 "
                "on the current answer reopens the item for re-handling; the next answer "
                "comes with a new link. 409 when already rated or not yet answered.",
                "security": [],
                "parameters": [_TOKEN],
                "requestBody": _body(rate_body),
                "responses": {
                    "201": _json(_ref("FeedbackPage"), "the page afterwards"),
                    **_errors(400, 409, 422),
                    **_LINK_REFUSED,
                },
            },
        },
    }


# --- statistics (统计) ----------------------------------------------------------------------

_RATE = {"type": ["number", "null"], "description": "percent, one decimal; null when x/0"}


def _stats_schemas() -> dict[str, Any]:
    counts = {
        "received": "items received in the period",
        "finished": "of them filed (归档)",
        "finished_on_time": "filed and answered (replied_at, else filed_at) by due_at",
        "replied": "answered (replied_at set)",
        "meeting_required": "replied items of kinds that require meeting the deputy",
        "met": "of those, items with a recorded meeting (见面)",
        "rated": "deputies' verdicts, one per item and deputy (their latest round)",
        "satisfied": "满意",
        "basically_satisfied": "基本满意",
        "unsatisfied": "不满意",
        "overdue": "still open and past due_at",
    }
    rates = {
        "finish_rate": "办结率: finished / received",
        "on_time_rate": "按期办结率: finished_on_time / finished",
        "reply_rate": "答复率: replied / received",
        "satisfaction_rate": "满意率: (satisfied + basically_satisfied) / rated",
        "meeting_rate": "见面率: met / meeting_required",
    }
    figures = {
        "type": "object",
        "required": [*counts, "rates"],
        "properties": {
            **{name: {"type": "integer", "description": text} for name, text in counts.items()},
            "rates": {
                "type": "object",
                "required": list(rates),
                "properties": {
                    name: {**_RATE, "description": text} for name, text in rates.items()
                },
            },
        },
    }
    report = {
        "type": "object",
        "required": ["from", "to", "scope", "total", "by_kind", "by_department"],
        "properties": {
            "from": {"type": "string", "format": "date", "description": "first day"},
            "to": {"type": "string", "format": "date", "description": "day after the last"},
            "department": {**_STRING_OR_NULL, "description": "the department asked for"},
            "scope": {
                "type": "string",
                "enum": ["court", "department"],
                "description": "`department`: only the items the caller's department may see",
            },
            "as_of": {"type": "string", "format": "date-time"},
            "total": _ref("StatsFigures"),
            "by_kind": {
                "type": "array",
                "items": {
                    "allOf": [
                        {"type": "object", "properties": {"kind": {"type": "string"}}},
                        _ref("StatsFigures"),
                    ]
                },
            },
            "by_department": {
                "type": "array",
                "items": {
                    "allOf": [
                        {
                            "type": "object",
                            "properties": {
                                "department": {
                                    **_STRING_OR_NULL,
                                    "description": "lead department; null: not yet assigned",
                                }
                            },
                        },
                        _ref("StatsFigures"),
                    ]
                },
            },
        },
    }
    return {"StatsFigures": figures, "StatsReport": report}


def _stats_paths() -> dict[str, Any]:
    day = {"type": "string", "format": "date", "examples": ["2026-01-01"]}
    return {
        "/stats": {
            "get": {
                "summary": "Counts and rates (统计) of the items received in [from, to) that "
                "the caller may see, as of now, in total, per kind and per lead department. "
                "Registrars, leaders, the president and administrators see the whole court; "
                "drafters and department heads their department's items (another department "
                "is 403); designers 403. Bad dates and unknown departments are 422.",
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "description": "first day (business time); default 1 January of the "
                        "year of `to`",
                        "schema": day,
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "description": "the day after the last (exclusive); default tomorrow, "
                        "so the default period is the current year to date",
                        "schema": day,
                    },
                    {
                        "name": "department",
                        "in": "query",
                        "description": "only items this department leads",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("StatsReport"), "the figures"),
                    **_errors(401, 403, 422),
                },
            }
        }
    }
