"""Administrators' pages: the holiday calendar and the per-kind deadline rules."""

from __future__ import annotations

import io
from datetime import date

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine import clock
from engine.errors import Forbidden, InvalidData
from engine.services import deadline_settings
from engine.services.deadline_settings import KindRule
from engine.workcalendar import (
    WorkCalendar,
    days_of_year,
    export_csv,
    import_csv,
    mark_year_entered,
    remove_day,
    set_day,
)
from web.db import actor, work
from web.ui import ui

MAX_CALENDAR_UPLOAD = 512 * 1024


def _require_admin(session) -> None:
    if actor(session).role != "admin":
        raise Forbidden("administrators only")


@ui.get("/admin/calendar")
@login_required
def calendar_page():
    with work() as session:
        _require_admin(session)
        return _render_calendar(session, errors=None), 200


def _render_calendar(session, errors, day_errors=None):
    calendar = WorkCalendar.load(session)
    this_year = clock.local_now().year
    years = [(year, calendar.is_known_year(year)) for year in range(this_year - 2, this_year + 3)]
    shown = request.args.get("year", type=int) or this_year + 1
    shown = min(max(shown, 1900), 2200)
    return render_template(
        "admin_calendar.html",
        years=years,
        errors=errors,
        day_errors=day_errors or {},
        this_year=this_year,
        shown_year=shown,
        shown_known=calendar.is_known_year(shown),
        days=days_of_year(session, shown),
    )


@ui.post("/admin/calendar/days")
@login_required
def calendar_day():
    """Enter, change or remove one day; or mark a year entered."""
    action = request.form.get("action", "set")
    day_errors: dict[str, str] = {}
    try:
        with work() as session:
            _require_admin(session)
            if action == "mark":
                year = int(request.form.get("year", ""))
                mark_year_entered(session, year)
                flash(_("已将 %(year)s 年标记为已录入", year=year), "success")
                return redirect(url_for("ui.calendar_page", year=year))
            day = date.fromisoformat(request.form.get("day", ""))
            if action == "remove":
                remove_day(session, day)
            else:
                set_day(session, day, request.form.get("type", ""), request.form.get("name"))
            flash(_("已保存"), "success")
            return redirect(url_for("ui.calendar_page", year=day.year))
    except ValueError:
        day_errors = {"day": _("请输入日期，如 2027-02-11")}
    except InvalidData as exc:
        day_errors = exc.fields or {"day": exc.message}
    with work() as session:
        _require_admin(session)
        return _render_calendar(session, None, day_errors), 422


@ui.post("/admin/calendar")
@login_required
def calendar_import():
    upload = request.files.get("file")
    errors = None
    if upload is None or not upload.filename:
        errors = {"file": _("请选择文件")}
    else:
        data = upload.read(MAX_CALENDAR_UPLOAD + 1)
        if len(data) > MAX_CALENDAR_UPLOAD:
            errors = {"file": _("文件过大")}
        else:
            try:
                with work() as session:
                    _require_admin(session)
                    summary = import_csv(session, io.BytesIO(data))
                flash(
                    _(
                        "已导入 %(years)s：%(h)s 个节假日，%(w)s 个调休工作日",
                        years=", ".join(map(str, summary.years)),
                        h=summary.holidays,
                        w=summary.workdays,
                    ),
                    "success",
                )
                return redirect(url_for("ui.calendar_page"))
            except InvalidData as exc:
                errors = exc.fields or {"file": exc.message}
    with work() as session:
        _require_admin(session)
        return _render_calendar(session, errors), 422


@ui.get("/admin/calendar.csv")
@login_required
def calendar_export():
    buffer = io.StringIO()
    with work() as session:
        _require_admin(session)
        export_csv(session, buffer)
    return Response(
        "\ufeff" + buffer.getvalue(),  # BOM so Excel opens the Chinese names as UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=calendar.csv"},
    )


@ui.route("/admin/deadlines", methods=["GET", "POST"])
@login_required
def deadline_rules():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            rule = KindRule(
                kind=request.form.get("kind", ""),
                limit_months=_optional_int("limit_months", errors),
                limit_working_days=_optional_int("limit_working_days", errors),
                due_soon_working_days=_optional_int("due_soon_working_days", errors) or 0,
                supervise_after_working_days=_optional_int("supervise_after_working_days", errors)
                or 0,
                rehandle_months=_optional_int("rehandle_months", errors),
            )
            if not errors:
                with work() as session:
                    deadline_settings.save_rule(session, actor(session), rule)
                flash(_("已保存"), "success")
                return redirect(url_for("ui.deadline_rules"))
        except InvalidData as exc:
            errors = exc.fields or {}
    with work() as session:
        _require_admin(session)
        rules = deadline_settings.rules(session, actor(session).court_id)
        return render_template(
            "admin_deadlines.html", rules=rules, errors=errors, edited=request.form.get("kind")
        ), 422 if errors else 200


def _optional_int(name: str, errors: dict[str, str]) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        errors[name] = _("请输入整数")
        return None
    return int(raw)
