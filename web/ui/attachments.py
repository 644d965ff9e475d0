"""Attachment pages: upload to an item or a step, download, the reply letter and its template."""

from __future__ import annotations

import io

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import object_session
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import Conflict, DomainError, Forbidden, InvalidData, NotFound, TooLarge
from engine.models import Attachment, Item
from engine.services import attachments, reply_letters, tasks
from web.db import actor, work
from web.ui import render_item_page, render_task_page, ui
from web.uploads import upload_limit


@ui.app_template_global()
def item_attachments(item: Item) -> list[Attachment]:
    """The attachments of an item a page already loaded through the reader's visibility."""
    session = object_session(item)
    return attachments.list_of(session, item) if session is not None else []


@ui.app_template_global()
def reply_letter_regenerable(item: Item) -> bool:
    session = object_session(item)
    if session is None or not current_user.is_authenticated:
        return False
    return reply_letters.can_regenerate(session, current_user, item)


@ui.app_template_filter("filesize")
def filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def attachment_response(attachment: Attachment) -> Response:
    """The verified file as a download under its original name (RFC 5987 for non-ASCII)."""
    handle = attachments.open_verified(attachment)
    response = send_file(
        handle,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.content_length = attachment.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Checksum-SHA256"] = attachment.sha256
    return response


def _task_arg() -> int | None:
    raw = request.form.get("task_id") or None
    if raw is None:
        return None
    if not raw.isdecimal() or len(raw) > 9:
        raise InvalidData("task_id must be a task id", {"task_id": "not a task id"})
    return int(raw)


@ui.post("/items/<int:item_id>/attachments")
@upload_limit(attachments.MAX_BYTES)
@login_required
def upload_attachment(item_id: int):
    task_id = None
    try:
        task_id = _task_arg()
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise InvalidData(_("请选择文件"), {"file": _("请选择文件")})
        with work() as session:
            added = attachments.add(
                session, actor(session), item_id, upload.filename, upload.stream, task_id=task_id
            )
            flash(_("已上传附件 %(name)s", name=added.filename), "success")
    except RequestEntityTooLarge:
        error = TooLarge(
            _("文件超过 %(mib)s MiB", mib=attachments.MAX_BYTES // (1024 * 1024)),
            {"file": "too large"},
        )
        return _upload_refused(item_id, task_id, error)
    except NotFound:
        raise
    except DomainError as exc:
        return _upload_refused(item_id, task_id, exc)
    return redirect(_back(item_id, task_id), 303)


def _back(item_id: int, task_id: int | None) -> str:
    if task_id is not None:
        return url_for("ui.task_page", task_id=task_id)
    return url_for("ui.item_page", item_id=item_id)


def _upload_refused(item_id: int, task_id: int | None, exc: DomainError):
    """Show the page the upload came from again, with the reason under the file field."""
    message = exc.message
    with work() as session:
        user = actor(session)
        if task_id is not None:
            try:
                task = tasks.get(session, user, task_id)
            except NotFound:
                task = None
            if task is not None and task.status == "open" and task.item_id == item_id:
                return render_task_page(session, user, task, upload_error=message), exc.status
        return render_item_page(session, user, item_id, upload_error=message), exc.status


@ui.get("/items/<int:item_id>/attachments/<int:attachment_id>")
@login_required
def download_attachment(item_id: int, attachment_id: int):
    with work() as session:
        attachment = attachments.get(session, actor(session), item_id, attachment_id)
        try:
            return attachment_response(attachment)
        except Conflict as exc:  # a stored file that fails its checksum is never served
            flash(exc.message, "danger")
            return render_item_page(session, actor(session), item_id), 409


@ui.post("/items/<int:item_id>/reply-letter")
@login_required
def regenerate_reply_letter(item_id: int):
    try:
        with work() as session:
            letters = reply_letters.regenerate(session, actor(session), item_id)
            names = "、".join(letter.filename for letter in letters)
            flash(_("已重新生成答复函 %(name)s", name=names), "success")
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        flash(exc.message, "danger")
    return redirect(url_for("ui.item_page", item_id=item_id), 303)


# --- the reply-letter template (administrators) ---------------------------------------------


def _require_admin(session) -> None:
    if actor(session).role != "admin":
        raise Forbidden(_("只有管理员可以管理答复函模板"))


@ui.route("/admin/reply-template", methods=["GET", "POST"])
@upload_limit(reply_letters.MAX_TEMPLATE_BYTES)
@login_required
def reply_template_page():
    error = None
    status = 200
    if request.method == "POST":
        try:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise InvalidData(_("请选择文件"), {"file": _("请选择文件")})
            data = upload.read(reply_letters.MAX_TEMPLATE_BYTES + 1)
            with work() as session:
                _require_admin(session)
                reply_letters.replace_template(session, actor(session), data)
            flash(_("已更换答复函模板"), "success")
            return redirect(url_for("ui.reply_template_page"), 303)
        except RequestEntityTooLarge:
            error, status = _("模板文件过大"), 413
        except Forbidden:
            raise
        except DomainError as exc:
            error, status = exc.message, exc.status
    with work() as session:
        _require_admin(session)
        template, shipped = reply_letters.current_template(actor(session).court_id)
    return render_template(
        "admin_reply_template.html",
        shipped=shipped,
        size=len(template),
        placeholders=reply_letters.PLACEHOLDERS,
        error=error,
        max_mib=reply_letters.MAX_TEMPLATE_BYTES // (1024 * 1024),
    ), status


@ui.get("/admin/reply-template.docx")
@login_required
def reply_template_download():
    with work() as session:
        _require_admin(session)
        template, _shipped = reply_letters.current_template(actor(session).court_id)
    response = send_file(
        io.BytesIO(template),
        mimetype=attachments.TYPES["docx"],
        as_attachment=True,
        download_name="reply_letter.docx",
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
