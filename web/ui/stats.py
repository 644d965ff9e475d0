"""The statistics page (统计): a period filter and the figures per kind and per department."""

from __future__ import annotations

from datetime import date, timedelta

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from engine import clock
from engine.errors import InvalidData
from engine.roles import COURT_WIDE_ROLES
from engine.services import accounts, stats
from web.db import actor, work
from web.ui import ui
from web.ui.labels import KIND_LABELS


def _quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def _presets() -> list[tuple[str, date, date]]:
    """Quick periods ([from, to), `to` exclusive): year to date, quarters, last year."""
    today = clock.local_now().date()
    tomorrow = today + timedelta(days=1)
    quarter = _quarter_start(today)
    previous = _quarter_start(quarter - timedelta(days=1))
    return [
        (_("本年至今"), date(today.year, 1, 1), tomorrow),
        (_("本季度"), quarter, tomorrow),
        (_("上一季度"), previous, quarter),
        (_("上一年度"), date(today.year - 1, 1, 1), date(today.year, 1, 1)),
    ]


@ui.get("/stats")
@login_required
def stats_page():
    start = request.args.get("from") or None
    end = request.args.get("to") or None
    department = request.args.get("department") or None
    errors: dict[str, str] = {}
    report = None
    with work() as session:
        user = actor(session)
        if user.role in COURT_WIDE_ROLES:
            departments = accounts.department_names(session, user.court_id)
        else:
            departments = [user.department.name] if user.department else []
        try:
            report = stats.report(session, user, start, end, department)
        except InvalidData as exc:
            errors = dict(exc.fields or {"from": exc.message})
    status = 422 if errors else 200
    return render_template(
        "stats.html",
        report=report,
        errors=errors,
        args={"from": start or "", "to": end or "", "department": department or ""},
        departments=departments,
        presets=_presets(),
        kinds=KIND_LABELS,
        last_day=report.end - timedelta(days=1) if report else None,
    ), status
