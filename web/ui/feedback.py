"""Deputy feedback (代表评价) pages.

`public` is the deputies' side: `/feedback/<token>`, no login, a small mobile page with
the item's status and answer and the rating form (CSRF-protected like every form). A
bad, altered or expired link gets a friendly page (404 / 410), never the staff layout.

On the staff side, the item page includes `_item_feedback.html`, which reads its data
through `item_feedback_panel`, and registrars post ratings received on paper here.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import Session

from engine.errors import Conflict, DomainError, InvalidData
from engine.models import Item, User
from engine.services import feedback, items
from web.db import reader_of, work
from web.ui import submit_item_form, ui
from web.ui.labels import RATING_LABELS

public = Blueprint("feedback", __name__, template_folder="../templates/ui")

SOURCE_LABELS = {"link": _l("链接"), "paper": _l("纸质")}
STAGE_LABELS = {
    "handling": _l("办理中"),
    "answered": _l("已答复"),
    "rehandling": _l("重新办理中"),
    "filed": _l("已办结"),
}


def _settings():
    return current_app.extensions["liaison"]["settings"]


# --- the deputy's page ----------------------------------------------------------------------


def _render(view: feedback.FeedbackPage | None, status: int = 200, **context):
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(
        "feedback.html",
        view=view,
        ratings=RATING_LABELS,
        stages=STAGE_LABELS,
        **context,
    ), status


@public.after_request
def _private(response):
    """The token is in the URL: keep it out of caches, referrers and search engines."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@public.errorhandler(DomainError)
def _refused(exc: DomainError):
    if exc.status == 410:
        message = _("评价链接已过期。如需评价，请与法院联络员联系，我们会重新发送链接。")
    else:
        message = _("评价链接无效。请确认链接完整，或与法院联络员联系。")
    return _render(None, exc.status, failure=message)


@public.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError):
    return _render(None, 400, failure=_("页面已失效，请重新打开评价链接后再提交。"))


@public.get("/feedback/<token>")
def page(token: str):
    with work() as session:
        view = feedback.page(session, token, _settings().secret_key)
    return _render(view, thanks=request.args.get("done") == "1")


@public.post("/feedback/<token>")
def submit(token: str):
    secret = _settings().secret_key
    values = {"rating": request.form.get("rating", ""), "comment": request.form.get("comment", "")}
    try:
        with work() as session:
            feedback.rate(session, token, secret, values["rating"], values["comment"])
        return redirect(url_for("feedback.page", token=token, done=1), 303)
    except InvalidData as exc:
        errors, status, message = exc.fields or {}, 422, None
    except Conflict as exc:
        errors, status, message = {}, 409, exc.message
    with work() as session:
        view = feedback.page(session, token, secret)
    return _render(view, status, errors=errors, values=values, message=message)


# --- the staff side -------------------------------------------------------------------------


@ui.app_template_global()
def item_feedback_panel(item: Item) -> dict[str, Any]:
    """Links and ratings of an item the page loaded through the reader's visibility."""
    reading = reader_of(item)
    if reading is None:
        return {"deputies": [], "rounds": [], "links": {}}
    session, user = reading
    rounds = feedback.for_item(session, item)
    by_deputy: dict[int, dict[int, Any]] = {}
    for group in rounds:
        for row in group.ratings:
            by_deputy.setdefault(row.deputy_id, {})[group.round] = row
    links = {}
    if feedback.may_share_links(user):
        settings = _settings()
        links = {
            link.deputy_id: link
            for link in feedback.links(session, item, settings.secret_key, settings.base_url)
        }
    answered = feedback.answered_rounds(item)
    return {
        "deputies": sorted(item.deputies, key=lambda d: d.id),
        "rounds": sorted({g.round for g in rounds} | set(answered)),
        "by_deputy": by_deputy,
        "links": links,
        "answered": item.replied_at is not None,
        "answered_rounds": answered,
        "can_record": user.role in feedback.PAPER_ROLES and bool(answered),
        "ratings": RATING_LABELS,
        "sources": SOURCE_LABELS,
        "valid_days": feedback.LINK_VALID_DAYS,
    }


@ui.post("/items/<int:item_id>/ratings")
@login_required
def record_paper_rating(item_id: int):
    form = request.form

    def record(session: Session, user: User) -> tuple[str, str]:
        round_before = items.get(session, user, item_id).round
        feedback.record_paper(
            session,
            user,
            item_id,
            form.get("deputy_id", ""),
            form.get("rating", ""),
            form.get("comment", ""),
            form.get("round") or None,
        )
        if items.get(session, user, item_id).round > round_before:
            return _("已登记代表评价：不满意。本件已转入重新办理。"), "warning"
        return _("已登记代表评价"), "success"

    return submit_item_form(item_id, "rating", "feedback", record)
