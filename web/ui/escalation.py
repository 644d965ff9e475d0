"""Alert centre and the leader's supervision board."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import Forbidden, InvalidData
from engine.services import accounts, alerts, items
from web.db import actor, work
from web.ui import page_arg, ui
from web.ui.forms import AlertPreferencesForm

BOARD_ROLES = frozenset({"leader", "president", "admin"})


@ui.get("/alerts")
@login_required
def alert_list():
    page = page_arg()
    with work() as session:
        rows, total = alerts.for_user(
            session, actor(session), unread_only=False, page=page, per_page=50
        )
        return render_template("alerts.html", rows=rows, total=total, page=page)


@ui.get("/alerts/badge")
@login_required
def alert_badge():
    """The bell's count, polled by htmx so a new alert shows without reloading the page."""
    return render_template("_bell_count.html")


@ui.post("/alerts/read")
@login_required
def alert_read():
    alert_id = request.form.get("alert_id", type=int)
    with work() as session:
        alerts.mark_read(session, actor(session), alert_id)
    if alert_id and (item_id := request.form.get("item_id", type=int)):
        return redirect(url_for("ui.item_page", item_id=item_id))
    return redirect(url_for("ui.alert_list"))


@ui.get("/supervision")
@login_required
def supervision_board():
    with work() as session:
        user = actor(session)
        if user.role not in BOARD_ROLES:
            raise Forbidden("the supervision board is for leaders")
        supervised, _ = items.search(
            session, user, items.ItemQuery(supervised=True, sort="due", per_page=200)
        )
        overdue, _ = items.search(
            session, user, items.ItemQuery(overdue=True, status="open", sort="due", per_page=200)
        )
        return render_template("supervision.html", supervised=supervised, overdue=overdue)


@ui.route("/profile/alerts", methods=["GET", "POST"])
@login_required
def alert_preferences():
    """Where a user's escalation mail goes, and whether one daily digest replaces it."""
    form = AlertPreferencesForm()
    if form.validate_on_submit():
        try:
            with work() as session:
                accounts.update_alert_preferences(
                    session,
                    actor(session),
                    email=form.email.data,
                    daily_digest=form.daily_digest.data,
                )
            flash(_("已保存"), "success")
            return redirect(url_for("ui.alert_preferences"))
        except InvalidData as exc:
            for name, message in (exc.fields or {}).items():
                getattr(form, name).errors.append(message)
    with work() as session:
        user = actor(session)
        if request.method == "GET":
            form.email.data, form.daily_digest.data = user.email, user.daily_digest
        return render_template("alert_preferences.html", form=form), 422 if form.errors else 200
