"""REST API v1 for the deputy registry: search, one deputy, import (registrar/admin)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from engine.errors import BadRequest
from engine.models import Deputy, User
from engine.services import deputies
from web.api import ID, MAX_PER_PAGE, api, bool_arg, int_arg
from web.api.serializers import item_summary_json, page_json
from web.db import actor, work
from web.uploads import upload_limit


def deputy_json(deputy: Deputy) -> dict[str, Any]:
    return {
        "id": deputy.id,
        "name": deputy.name,
        "level": deputy.level,
        "delegation": deputy.delegation,
        "work_unit": deputy.work_unit,
        "phone": deputy.phone,
        "address": deputy.address,
        "email": deputy.email,
        "term": deputy.term,
        "active": deputy.active,
    }


def _staff_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "department": user.department.name if user.department else None,
    }


@api.get("/deputies")
def list_deputies():
    page, per_page = int_arg("page", 1), int_arg("per_page", 20, MAX_PER_PAGE)
    with work() as session:
        user = actor(session)
        query = deputies.DeputyQuery(
            q=request.args.get("q") or None,
            paired_user_id=user.id if request.args.get("paired") == "me" else None,
            include_inactive=bool_arg("include_inactive") is True,
            page=page,
            per_page=per_page,
        )
        rows, total = deputies.search(session, user, query)
        return jsonify(page_json([deputy_json(d) for d in rows], total, page, per_page))


@api.get(f"/deputies/<{ID}:deputy_id>")
def get_deputy(deputy_id: int):
    with work() as session:
        detail = deputies.detail(session, actor(session), deputy_id)
        return jsonify(
            {
                **deputy_json(detail.deputy),
                "items": [item_summary_json(i) for i in detail.items],
                "paired": [_staff_json(u) for u in detail.paired],
            }
        )


@api.post("/deputies/import")
@upload_limit(deputies.MAX_IMPORT_BYTES)
def import_deputies():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("send the spreadsheet as multipart/form-data field `file`")
    data = upload.read(deputies.MAX_IMPORT_BYTES + 1)
    with work() as session:
        summary = deputies.import_file(session, actor(session), upload.filename, data)
    return jsonify(
        {
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "total": summary.total,
        }
    )
