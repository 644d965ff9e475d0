"""REST API v1: JSON in, JSON out, every error as `{"error": {code, message, fields?}}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from engine import clock
from engine.errors import BadRequest, DomainError, InvalidData
from engine.services import accounts, alerts, items, tasks
from web.api.openapi import openapi_document
from web.api.serializers import (
    alert_json,
    item_json,
    item_summary_json,
    page_json,
    task_json,
)
from web.auth import bearer_token
from web.db import actor, work
from web.extensions import csrf

api = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(api)
MAX_PER_PAGE = 100
MAX_PAGE_DIGITS = 9  # keeps OFFSET inside a 64-bit integer on every database
# Record ids are 32-bit integers on PostgreSQL; a larger id is a 404, not a database error.
ID = "int(max=2147483647)"
NUL_MESSAGE = "不能包含 NUL 字符 / must not contain NUL characters"


def error_response(code: str, message: str, status: int, fields: dict | None = None):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return jsonify({"error": body}), status


@api.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return error_response(exc.code, exc.message, exc.status, exc.fields)


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
    }
    return error_response(codes.get(exc.code, "error"), exc.description, exc.code)


@api.app_errorhandler(404)
@api.app_errorhandler(405)
def _routing_error(exc: HTTPException):
    """Unknown paths and methods under /api/v1 answer JSON too (the UI keeps HTML)."""
    if request.path.startswith(api.url_prefix + "/"):
        return _http_error(exc)
    return exc


# Endpoints that need no credentials: the OpenAPI document, and the deputies' feedback
# links (web/api/feedback.py), whose signed token is their credential.
PUBLIC_ENDPOINTS = {"api.openapi"}


@api.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    token = bearer_token()
    if token is not None and current_user.is_authenticated and not current_user.via_token:
        # Flask-Login prefers the session cookie and never looks at the token then: a
        # token sent alongside a session must still be valid and name the same user.
        with work() as session:
            holder = accounts.user_for_token(session, token)
            if holder is None or holder.id != current_user.id:
                return error_response("unauthorized", "invalid API token", 401)
    elif current_user.is_authenticated and not current_user.via_token:
        csrf.protect()  # cookie-authenticated writes need the CSRF token like forms do
    if not current_user.is_authenticated:
        return error_response("unauthorized", "missing or invalid API token", 401)
    return None


def json_body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the parser allows
        data = None
    if data is None:
        raise BadRequest("request body must be valid JSON (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    for name, value in data.items():
        if _contains_nul(name) or _contains_nul(value):
            raise InvalidData(f"{name} contains a NUL character", {name: NUL_MESSAGE})
    return data


def _contains_nul(value: Any) -> bool:
    """PostgreSQL text cannot hold U+0000, so such strings are refused at the door."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def int_arg(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdecimal() or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        raise InvalidData(f"{name} must be a positive integer", {name: "positive integer"})
    return min(int(raw), maximum) if maximum else int(raw)


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() not in ("true", "false", "1", "0"):
        raise InvalidData(f"{name} must be true or false", {name: "true or false"})
    return raw.lower() in ("true", "1")


def parse_instant(name: str, raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str):  # 20260105 is a number, not an ISO-8601 string
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=clock.business_timezone())
        return value.astimezone(UTC)  # years 1 and 9999 can overflow here
    except (ValueError, OverflowError):
        raise InvalidData(f"{name} must be an ISO-8601 date or time", {name: "ISO-8601"}) from None


@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@api.post("/items")
def register_item():
    body = json_body()
    new = items.NewItem(
        kind=body.get("kind"),
        title=body.get("title"),
        content=body.get("content"),
        deputies=body.get("deputies"),
        received_at=parse_instant("received_at", body.get("received_at")),
    )
    with work() as session:
        item = items.register(session, actor(session), new)
        result = item_json(items.detail(session, actor(session), item.id))
    return jsonify(result), 201


@api.get("/items")
def list_items():
    query = items.ItemQuery(
        kind=request.args.get("kind") or None,
        status=request.args.get("status") or None,
        overdue=bool_arg("overdue"),
        q=request.args.get("q") or None,
        due_soon=bool_arg("due_soon"),
        supervised=bool_arg("supervised"),
        sort=request.args.get("sort", "newest"),
        page=int_arg("page", 1),
        per_page=int_arg("per_page", 20, MAX_PER_PAGE),
    )
    with work() as session:
        rows, total = items.search(session, actor(session), query)
        return jsonify(
            page_json([item_summary_json(i) for i in rows], total, query.page, query.per_page)
        )


@api.get(f"/items/<{ID}:item_id>")
def get_item(item_id: int):
    with work() as session:
        return jsonify(item_json(items.detail(session, actor(session), item_id)))


@api.post(f"/items/<{ID}:item_id>/corrections")
def add_correction(item_id: int):
    """A correction note (更正说明): appended to the trail; filed items are never edited."""
    body = json_body()
    with work() as session:
        items.add_correction(session, actor(session), item_id, body.get("comment"))
        return jsonify(item_json(items.detail(session, actor(session), item_id))), 201


@api.get("/tasks")
def list_tasks():
    query = tasks.TaskQuery(
        scope=request.args.get("scope", "mine"),
        sort=request.args.get("sort", "created"),
        page=int_arg("page", 1),
        per_page=int_arg("per_page", 20, MAX_PER_PAGE),
    )
    with work() as session:
        rows, total = tasks.inbox(session, actor(session), query)
        return jsonify(page_json([task_json(t) for t in rows], total, query.page, query.per_page))


@api.get(f"/tasks/<{ID}:task_id>")
def get_task(task_id: int):
    with work() as session:
        task = tasks.get(session, actor(session), task_id)
        return jsonify({**task_json(task), "form": tasks.form_schema(session, task)})


@api.post(f"/tasks/<{ID}:task_id>/claim")
def claim_task(task_id: int):
    with work() as session:
        return jsonify(task_json(tasks.claim(session, actor(session), task_id)))


@api.post(f"/tasks/<{ID}:task_id>/release")
def release_task(task_id: int):
    with work() as session:
        return jsonify(task_json(tasks.release(session, actor(session), task_id)))


@api.post(f"/tasks/<{ID}:task_id>/assign")
def assign_task(task_id: int):
    username = json_body().get("username")
    if not isinstance(username, str) or not username:
        raise InvalidData("username is required", {"username": "required"})
    with work() as session:
        return jsonify(task_json(tasks.assign(session, actor(session), task_id, username)))


@api.post(f"/tasks/<{ID}:task_id>/complete")
def complete_task(task_id: int):
    body = json_body()
    if "data" not in body:
        raise InvalidData("data is required", {"data": "required"})
    with work() as session:
        user = actor(session)
        item = tasks.complete(session, user, task_id, body["data"])
        return jsonify(item_json(items.detail(session, user, item.id)))


@api.get("/alerts")
def list_alerts():
    page, per_page = int_arg("page", 1), int_arg("per_page", 20, MAX_PER_PAGE)
    with work() as session:
        rows, total = alerts.for_user(
            session,
            actor(session),
            unread_only=bool_arg("unread") is True,
            page=page,
            per_page=per_page,
        )
        return jsonify(page_json([alert_json(a) for a in rows], total, page, per_page))


@api.post(f"/alerts/<{ID}:alert_id>/read")
def read_alert(alert_id: int):
    with work() as session:
        return jsonify({"marked": alerts.mark_read(session, actor(session), alert_id)})


@api.post("/alerts/read")
def read_all_alerts():
    with work() as session:
        return jsonify({"marked": alerts.mark_read(session, actor(session))})


from web.api import attachments as _attachments  # noqa: E402, F401 - files and reply letters
from web.api import deputies as _deputies  # noqa: E402, F401 - registers /deputies routes
from web.api import designer as _designer  # noqa: E402, F401 - registers /designer routes
from web.api import feedback as _feedback  # noqa: E402, F401 - deputy feedback and ratings
from web.api import office_rules as _office_rules  # noqa: E402, F401 - meetings and extensions
from web.api import stats as _stats  # noqa: E402, F401 - registers /stats
