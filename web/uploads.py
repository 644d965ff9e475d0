"""Per-endpoint request size limits for file uploads.

The app caps every request at MAX_CONTENT_LENGTH; an upload endpoint declares its own,
larger limit with `@upload_limit(bytes)`. The limit is applied by the app's first
before-request hook, because CSRF protection and the NUL check read the body (and so
enforce the cap) before any view runs.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, request

MULTIPART_OVERHEAD = 64 * 1024  # form fields and boundaries around the file itself
_ATTRIBUTE = "upload_limit_bytes"


def upload_limit(file_bytes: int) -> Callable:
    """Let POSTs to the decorated view carry a file of up to `file_bytes`."""

    def mark(view: Callable) -> Callable:
        setattr(view, _ATTRIBUTE, file_bytes + MULTIPART_OVERHEAD)
        return view

    return mark


def is_upload_endpoint() -> bool:
    """Whether this request's view declared an upload limit (its body is a file)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, _ATTRIBUTE, None) is not None


def _apply_upload_limit() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, _ATTRIBUTE, None)
    if limit is not None and request.method in ("POST", "PUT"):
        request.max_content_length = limit


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _apply_upload_limit)
