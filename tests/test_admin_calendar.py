"""Administrators edit the holiday calendar and deadline rules (web pages and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import delete, select

from engine.db import unit_of_work
from engine.models import CalendarDay, CalendarYear, KindSetting
from engine.services import deadline_settings
from engine.workcalendar import WorkCalendar

YEAR = 2031  # far from the seeded years, so restoring it cannot disturb other tests


@pytest.fixture
def spare_year(factory):
    """Leave YEAR exactly as unentered as it was, whatever the test did."""
    yield YEAR
    with unit_of_work(factory) as session:
        session.execute(
            delete(CalendarDay).where(
                CalendarDay.day >= date(YEAR, 1, 1), CalendarDay.day <= date(YEAR, 12, 31)
            )
        )
        session.execute(delete(CalendarYear).where(CalendarYear.year == YEAR))


def _calendar(factory) -> WorkCalendar:
    with unit_of_work(factory) as session:
        return WorkCalendar.load(session)


def test_admin_enters_days_then_marks_the_year(browser, factory, spare_year):
    admin = browser("admin")
    page = admin.get(f"/admin/calendar?year={YEAR}")
    assert "未录入" in page
    holiday = date(YEAR, 2, 3)  # a Monday
    response = admin.submit(
        "/admin/calendar/days", {"day": holiday.isoformat(), "type": "holiday", "name": "春节"}
    )
    assert response.status_code == 302
    # Entered but the year is not marked: Mon–Fri still applies and deadlines stay estimates.
    assert _calendar(factory).is_working_day(holiday)
    admin.submit("/admin/calendar/days", {"action": "mark", "year": str(YEAR)})
    calendar = _calendar(factory)
    assert calendar.is_known_year(YEAR)
    assert not calendar.is_working_day(holiday)
    assert "春节" in admin.get(f"/admin/calendar?year={YEAR}")
    admin.submit("/admin/calendar/days", {"action": "remove", "day": holiday.isoformat()})
    assert _calendar(factory).is_working_day(holiday)


def test_bad_day_input_is_a_field_error(browser, spare_year):
    admin = browser("admin")
    response = admin.submit("/admin/calendar/days", {"day": "2031-02-30", "type": "holiday"})
    assert response.status_code == 422
    response = admin.submit("/admin/calendar/days", {"day": "2031-02-03", "type": "maybe"})
    assert response.status_code == 422
    assert "holiday, workday" in response.get_data(as_text=True)


def test_csv_upload_is_all_or_nothing(browser, factory, spare_year):
    admin = browser("admin")
    bad = f"date,type,name\n{YEAR}-01-01,休,元旦\n{YEAR}-13-01,休,错\n{YEAR}-01-02,加班,错\n"
    response = admin.client.post(
        "/admin/calendar",
        data={"csrf_token": admin.csrf(), "file": (_bytes(bad), "cal.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "row 3" in body and "row 4" in body
    with unit_of_work(factory) as session:
        assert session.get(CalendarYear, YEAR) is None
    good = f"date,type,name\n{YEAR}-01-01,休,元旦\n"
    response = admin.client.post(
        "/admin/calendar",
        data={"csrf_token": admin.csrf(), "file": (_bytes(good), "cal.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert not _calendar(factory).is_working_day(date(YEAR, 1, 1))
    exported = admin.client.get("/admin/calendar.csv").get_data(as_text=True)
    assert f"{YEAR}-01-01,holiday,元旦" in exported


def test_calendar_pages_are_for_administrators_only(browser):
    registrar = browser("registrar")
    assert registrar.client.get("/admin/calendar").status_code == 403
    assert registrar.client.get("/admin/calendar.csv").status_code == 403
    response = registrar.submit("/admin/calendar/days", {"action": "mark", "year": str(YEAR)})
    assert response.status_code == 403


def test_deadline_rule_edit_applies_to_new_assignments(browser, factory, people):
    admin = browser("admin")
    response = admin.submit(
        "/admin/deadlines",
        {
            "kind": "suggestion",
            "limit_months": "2",
            "limit_working_days": "",
            "due_soon_working_days": "5",
            "supervise_after_working_days": "1",
        },
    )
    assert response.status_code == 302
    with unit_of_work(factory) as session:
        setting = session.get(KindSetting, (people["admin"].court_id, "suggestion"))
        assert (setting.limit_months, setting.due_soon_working_days) == (2, 5)
        rule = next(
            r for r in deadline_settings.rules(session, setting.court_id) if r.kind == "suggestion"
        )
        assert rule.supervise_after_working_days == 1
    response = admin.submit(
        "/admin/deadlines",
        {
            "kind": "letter",
            "limit_months": "1",
            "limit_working_days": "5",
            "due_soon_working_days": "1",
            "supervise_after_working_days": "1",
        },
    )
    assert response.status_code == 422  # months and working days are either-or
    assert browser("leader").client.get("/admin/deadlines").status_code == 403


def test_cli_calendar_export_and_rejected_import(tmp_path, settings, factory, spare_year):
    env = {**os.environ, "LIAISON_DATABASE_URL": settings.database_url}
    liaison = [sys.executable, "-m", "web.cli"]
    exported = subprocess.run(
        [*liaison, "calendar", "export", "--year", "2026"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert exported.stdout.startswith("date,type,name\n")
    assert "2026-10-01,holiday" in exported.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(f"date,type,name\n{YEAR}-02-30,休,春节\n", encoding="utf-8")
    result = subprocess.run(
        [*liaison, "calendar", "import", str(bad)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "row 2: date: not a date" in result.stderr
    with unit_of_work(factory) as session:
        assert session.scalar(select(CalendarYear).where(CalendarYear.year == YEAR)) is None


def _bytes(text: str):
    import io

    return io.BytesIO(text.encode("utf-8"))
