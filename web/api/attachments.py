"""REST API v1 for attachments, the reply letter and its template."""

from __future__ import annotations

import io
from typing import Any

from flask import jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from engine.errors import BadRequest, Forbidden, TooLarge
from engine.models import Attachment
from engine.services import attachments, reply_letters
from web.api import ID, api, error_response
from web.api.serializers import iso
from web.db import actor, work
from web.ui.attachments import attachment_response
from web.uploads import is_upload_endpoint, upload_limit


@api.errorhandler(413)
def _too_large(exc: HTTPException):
    """A body past the request limit; on the upload endpoints the culprit is `file`."""
    fields = {"file": "too large"} if is_upload_endpoint() else None
    return error_response("too_large", exc.description, 413, fields)


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "item_id": attachment.item_id,
        "task_id": attachment.task_id,
        "task": attachment.task.title if attachment.task else None,
        "kind": attachment.kind,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "uploaded_by": attachment.uploaded_by.display_name,
        "created_at": iso(attachment.created_at),
    }


def _file_upload(limit: int) -> tuple[str, Any]:
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        raise TooLarge(
            f"请求超过 {limit // (1024 * 1024)} MiB / the request is too large",
            {"file": "too large"},
        ) from None
    if upload is None or not upload.filename:
        raise BadRequest("send the file as multipart/form-data field `file`", {"file": "required"})
    return upload.filename, upload


@api.get(f"/items/<{ID}:item_id>/attachments")
def list_item_attachments(item_id: int):
    with work() as session:
        rows = attachments.for_item(session, actor(session), item_id)
        return jsonify({"items": [attachment_json(a) for a in rows]})


@api.post(f"/items/<{ID}:item_id>/attachments")
@upload_limit(attachments.MAX_BYTES)
def upload_item_attachment(item_id: int):
    filename, upload = _file_upload(attachments.MAX_BYTES)
    raw_task = request.form.get("task_id") or None
    task_id = None
    if raw_task is not None:
        if not raw_task.isdecimal() or len(raw_task) > 9:
            raise BadRequest("task_id must be a task id", {"task_id": "not a task id"})
        task_id = int(raw_task)
    with work() as session:
        added = attachments.add(
            session, actor(session), item_id, filename, upload.stream, task_id=task_id
        )
        return jsonify(attachment_json(added)), 201


@api.get(f"/items/<{ID}:item_id>/attachments/<{ID}:attachment_id>")
def download_item_attachment(item_id: int, attachment_id: int):
    with work() as session:
        attachment = attachments.get(session, actor(session), item_id, attachment_id)
        return attachment_response(attachment)


@api.post(f"/items/<{ID}:item_id>/reply-letter")
def regenerate_reply_letter(item_id: int):
    with work() as session:
        letters = reply_letters.regenerate(session, actor(session), item_id)
        return jsonify({"letters": [attachment_json(letter) for letter in letters]}), 201


@api.get("/reply-template")
def get_reply_template():
    with work() as session:
        user = actor(session)
        if user.role != "admin":
            raise Forbidden("administrators only")
        template, _shipped = reply_letters.current_template(user.court_id)
    return send_file(
        io.BytesIO(template),
        mimetype=attachments.TYPES["docx"],
        as_attachment=True,
        download_name="reply_letter.docx",
        max_age=0,
    )


@api.put("/reply-template")
@upload_limit(reply_letters.MAX_TEMPLATE_BYTES)
def replace_reply_template():
    _filename, upload = _file_upload(reply_letters.MAX_TEMPLATE_BYTES)
    data = upload.read(reply_letters.MAX_TEMPLATE_BYTES + 1)
    with work() as session:
        sha = reply_letters.replace_template(session, actor(session), data)
    return jsonify({"sha256": sha, "size": len(data)})
