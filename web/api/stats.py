"""REST API v1 statistics (统计): `GET /stats?from=&to=&department=`."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from engine.services import stats
from web.api import api
from web.db import actor, work


def _figures_json(figures: stats.Figures) -> dict[str, Any]:
    return {**figures.counts(), "rates": figures.rates()}


def report_json(report: stats.Report) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "department": report.department,
        "scope": report.scope,
        "as_of": report.as_of.isoformat(),
        "total": _figures_json(report.total),
        "by_kind": [{"kind": row.key, **_figures_json(row.figures)} for row in report.by_kind],
        "by_department": [
            {"department": row.key, **_figures_json(row.figures)} for row in report.by_department
        ],
    }


@api.get("/stats")
def get_stats():
    with work() as session:
        report = stats.report(
            session,
            actor(session),
            start=request.args.get("from"),
            end=request.args.get("to"),
            department=request.args.get("department") or None,
        )
        return jsonify(report_json(report))
