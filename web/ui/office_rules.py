"""Item-page forms for the rules around the reply: meetings (见面/沟通) and extensions (延期).

The item page includes `_item_meetings.html` and `_item_extensions.html`; they read their
data through the template globals below from the session the page already loaded the
item in. Each form posts here, and comes back to the item page: with a flash message on
success, or re-rendered with the field errors under the form (422).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import InvalidData
from engine.models import Item, User
from engine.services import extensions, meetings
from web.db import actor, reader_of, work
from web.ui import submit_item_form, ui
from web.ui.labels import MEETING_METHOD_LABELS

EXTENSION_STATUS_LABELS = {
    "pending": _l("待审批"),
    "approved": _l("已同意"),
    "refused": _l("不同意"),
}


@ui.app_template_global()
def item_meetings_panel(item: Item) -> dict[str, Any]:
    """Meetings of an item the page loaded through the reader's visibility, and what they may do."""
    reading = reader_of(item)
    if reading is None:
        return {"rows": [], "status": "not_required", "can_record": False, "can_waive": False}
    session, user = reading
    is_open = item.status != "filed"
    return {
        "rows": meetings.for_item(session, item),
        "status": meetings.status(session, item),
        "can_record": is_open and meetings.can_record(user),
        "can_waive": is_open and meetings.can_waive(user),
        "methods": MEETING_METHOD_LABELS,
        "today": clock.local_now().date(),
    }


@ui.app_template_global()
def item_extensions_panel(item: Item) -> dict[str, Any]:
    """Extension requests of an item the page loaded, and whether the reader may ask or decide."""
    reading = reader_of(item)
    if reading is None:
        return {"rows": [], "can_request": False, "can_decide": False}
    session, user = reading
    rows = extensions.for_item(session, item)
    due_on = extensions.current_due_on(item)
    answerable = item.status != "filed" and item.replied_at is None and due_on is not None
    return {
        "rows": rows,
        "statuses": EXTENSION_STATUS_LABELS,
        "can_request": answerable
        and extensions.can_request(user, item)
        and not any(r.status == "pending" for r in rows),
        "can_decide": extensions.can_decide(user),
        "current_due_on": due_on,
        "earliest_due_on": due_on + timedelta(days=1) if due_on else None,
        "latest_due_on": extensions.latest_due_on(session, item) if answerable else None,
    }


@ui.post("/items/<int:item_id>/meetings")
@login_required
def record_meeting(item_id: int):
    form = request.form

    def record(session: Session, user: User) -> tuple[str, str]:
        meetings.record(
            session,
            user,
            item_id,
            form.get("met_on", ""),
            form.get("method", ""),
            form.get("notes", ""),
            form.get("deputy_id") or None,
        )
        return _("已登记见面情况"), "success"

    return submit_item_form(item_id, "meeting", "meetings", record)


@ui.post("/items/<int:item_id>/meeting-waiver")
@login_required
def waive_meeting(item_id: int):
    def waive(session: Session, user: User) -> tuple[str, str]:
        meetings.waive(session, user, item_id, request.form.get("reason", ""))
        return _("已批准免于见面"), "success"

    return submit_item_form(item_id, "waiver", "meetings", waive)


@ui.post("/items/<int:item_id>/extensions")
@login_required
def request_extension(item_id: int):
    form = request.form

    def ask(session: Session, user: User) -> tuple[str, str]:
        extensions.request(
            session, user, item_id, form.get("reason", ""), form.get("requested_due_on", "")
        )
        return _("已提交延期申请，等待分管院长审批"), "success"

    return submit_item_form(item_id, "extension", "extensions", ask)


@ui.post("/extensions/<int:extension_id>/decide")
@login_required
def decide_extension(extension_id: int):
    decision = request.form.get("decision")
    with work() as session:
        item_id = extensions.get(session, actor(session), extension_id).item_id

    def decide(session: Session, user: User) -> tuple[str, str]:
        if decision not in ("approve", "refuse"):
            raise InvalidData(_("请选择同意或不同意"), {"decision": _("请选择同意或不同意")})
        approve = decision == "approve"
        comment = request.form.get("comment", "")
        decided = extensions.decide(session, user, extension_id, approve, comment)
        if not approve:
            return _("已不同意延期"), "success"
        day = decided.requested_due_on.isoformat()
        return _("已同意延期，办理期限延至 %(day)s；告知代表的情况见办理记录", day=day), "success"

    return submit_item_form(item_id, "decision", "extensions", decide, keyed_by=extension_id)
