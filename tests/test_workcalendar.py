"""Working-day calendar: seeding, CSV import/export, known facts, Civil-Code months and
property tests. Database tests run on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import io
import threading
import time
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from engine.db import make_session_factory, unit_of_work
from engine.errors import InvalidData
from engine.models import CalendarDay, CalendarYear
from engine.workcalendar import (
    Deadline,
    WorkCalendar,
    export_csv,
    import_csv,
    seed_from_chinesecalendar,
)

D = date
PACKAGE_SOURCE = f"chinesecalendar {chinese_calendar.__version__}"
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)


def _reset_calendar(db, *, seed: bool) -> None:
    with unit_of_work(db) as session:
        session.execute(delete(CalendarDay))
        session.execute(delete(CalendarYear))
        if seed:
            seed_from_chinesecalendar(session)


@pytest.fixture
def db(factory):
    """The `factory` session factory with empty calendar tables.

    conftest keeps calendar_years / calendar_days between tests as reference data (the
    migration seeds them once), so these tests start from nothing and put the seeded
    calendar back afterwards, pass or fail, for the tests that follow.
    """
    _reset_calendar(factory, seed=False)
    yield factory
    _reset_calendar(factory, seed=True)


def _seed(db) -> list[int]:
    with unit_of_work(db) as session:
        return seed_from_chinesecalendar(session)


def _load(db) -> WorkCalendar:
    with unit_of_work(db) as session:
        return WorkCalendar.load(session)


def _import(db, text: str | bytes):
    stream = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    with unit_of_work(db) as session:
        return import_csv(session, stream)


def _export(db, years=None) -> str:
    out = io.StringIO()
    with unit_of_work(db) as session:
        export_csv(session, out, years)
    return out.getvalue()


def _exceptions(db, year: int) -> dict[date, tuple[bool, str | None]]:
    with unit_of_work(db) as session:
        rows = session.execute(
            select(CalendarDay.day, CalendarDay.is_working, CalendarDay.name).where(
                CalendarDay.day >= D(year, 1, 1), CalendarDay.day <= D(year, 12, 31)
            )
        )
        return {day: (is_working, name) for day, is_working, name in rows}


# ---------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------


def test_seed_loads_every_year_the_package_knows(db):
    added = _seed(db)

    # Discovered from the package, which knows 2004–2026 as of 1.11.0.
    assert added == sorted(added)
    assert added[0] == 2004 and added[-1] >= 2026
    assert added == list(range(added[0], added[-1] + 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(added[-1] + 1, 1, 1))
    with unit_of_work(db) as session:
        years = session.execute(select(CalendarYear.year, CalendarYear.source)).all()
    assert sorted(years) == [(year, PACKAGE_SOURCE) for year in added]
    # Names are the package's Chinese ones.
    assert _exceptions(db, 2026)[D(2026, 10, 1)] == (False, "国庆节")
    assert _exceptions(db, 2026)[D(2026, 2, 28)] == (True, "春节")


def test_seed_is_idempotent_and_never_overwrites(db):
    first = _seed(db)
    # An administrator makes 2026-10-08 a holiday (say a local arrangement).
    _import(db, "date,type,name\n2026-10-08,holiday,本院调整\n")
    with unit_of_work(db) as session:
        session.execute(delete(CalendarDay).where(CalendarDay.day < D(2006, 1, 1)))
        session.execute(delete(CalendarYear).where(CalendarYear.year == 2005))
        before = session.scalar(select(func.count()).select_from(CalendarDay))

    assert _seed(db) == [2005]  # only the missing year comes back
    assert _seed(db) == []
    assert _exceptions(db, 2026) == {D(2026, 10, 8): (False, "本院调整")}
    assert _exceptions(db, 2004) == {}  # known year, its rows deleted: left alone
    with unit_of_work(db) as session:
        after = session.scalar(select(func.count()).select_from(CalendarDay))
        assert session.get(CalendarYear, 2026).source == "import"
    assert after > before
    assert len(first) == len(_load(db).known_years)


def test_seed_keeps_stray_rows_in_an_unknown_year(db):
    with unit_of_work(db) as session:
        session.add(CalendarDay(day=D(2026, 10, 8), is_working=False, name="手工"))
    _seed(db)
    days = _exceptions(db, 2026)
    assert days[D(2026, 10, 8)] == (False, "手工")
    assert days[D(2026, 10, 1)] == (False, "国庆节")


def test_two_processes_seeding_at_once_both_succeed(db):
    """Web and scheduler both migrate on start; the second seeder must not fail."""
    results: dict[str, object] = {}

    def second() -> None:
        try:
            results["second"] = _seed(db)
        except Exception as exc:  # reported below
            results["second"] = exc

    with unit_of_work(db) as session:
        results["first"] = seed_from_chinesecalendar(session)
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # let the second seeder reach the database and wait on us
    thread.join(timeout=60)

    assert results["second"] == []
    assert _load(db).known_years == set(results["first"])


# ---------------------------------------------------------------------------------------
# Known facts (chinesecalendar 1.11.0 data for 2026)
# ---------------------------------------------------------------------------------------


@pytest.fixture
def cal(db) -> WorkCalendar:
    _seed(db)
    return _load(db)


def test_national_day_2026(cal):
    # The 2026 arrangement is 10-01..10-07 off, Sun 09-20 and Sat 10-10 worked
    # (10-08 is an ordinary Thursday in 2026; 10-08 was a holiday in 2025).
    for offset in range(7):
        assert not cal.is_working_day(D(2026, 10, 1) + timedelta(days=offset))
    assert cal.is_working_day(D(2026, 10, 8))
    assert cal.is_working_day(D(2026, 10, 10))  # 调休 Saturday
    assert cal.is_working_day(D(2026, 9, 20))  # 调休 Sunday
    assert not cal.is_working_day(D(2026, 9, 25))  # 中秋, a Friday
    assert not cal.is_working_day(D(2025, 10, 8))
    assert cal.holiday_name(D(2026, 10, 3)) == "国庆节"
    assert cal.holiday_name(D(2026, 10, 8)) is None


def test_working_day_arithmetic_across_a_holiday(cal):
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)  # Saturday 调休
    assert cal.add_working_days(D(2026, 9, 30), 4) == D(2026, 10, 12)
    assert cal.working_days_between(D(2026, 9, 30), D(2026, 10, 12)) == 4
    assert cal.working_days_between(D(2026, 10, 12), D(2026, 9, 30)) == -4
    assert cal.subtract_working_days(D(2026, 10, 8), 1) == D(2026, 9, 30)
    # 7 working days from Friday 2026-09-18 counts Sunday 09-20 (调休).
    assert cal.add_working_days(D(2026, 9, 18), 7) == D(2026, 9, 29)


def test_zero_working_days(cal):
    assert cal.add_working_days(D(2026, 10, 9), 0) == D(2026, 10, 9)
    assert cal.add_working_days(D(2026, 10, 3), 0) == D(2026, 10, 8)
    assert cal.subtract_working_days(D(2026, 10, 3), 0) == D(2026, 9, 30)


def test_unknown_year_falls_back_and_says_so(cal):
    assert not cal.is_known_year(2027) and cal.is_known_year(2026)
    # 2027-01-01 is a Friday; the real calendar will make it a holiday, the fallback
    # cannot know that, and the flag says so.
    assert cal.is_working_day(D(2027, 1, 1))
    assert not cal.is_working_day(D(2027, 1, 2))
    deadline = cal.working_days_deadline(D(2026, 12, 30), 2)
    assert deadline == Deadline(D(2027, 1, 1), D(2027, 1, 1), fallback_used=True)
    assert not cal.working_days_deadline(D(2026, 12, 1), 5).fallback_used
    assert cal.fallback_used(D(2026, 12, 31), D(2027, 1, 1))
    assert cal.fallback_used(D(2027, 1, 1), D(2026, 12, 31))
    assert not cal.fallback_used(D(2004, 1, 1), D(2026, 12, 31))
    assert cal.fallback_used(D(2003, 12, 31), D(2004, 1, 1))


def test_rows_in_an_unknown_year_are_ignored_until_the_year_is_known(db):
    with unit_of_work(db) as session:
        session.add(CalendarDay(day=D(2027, 1, 1), is_working=False, name="元旦"))
    assert _load(db).is_working_day(D(2027, 1, 1))
    with unit_of_work(db) as session:
        session.add(CalendarYear(year=2027, source="manual"))
    assert not _load(db).is_working_day(D(2027, 1, 1))


def test_datetimes_and_negative_counts_are_refused(cal):
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2026, 10, 1, 12))
    with pytest.raises(TypeError):
        cal.add_working_days("2026-10-01", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cal.add_working_days(D(2026, 10, 1), -1)
    with pytest.raises(ValueError):
        cal.add_months(D(2026, 10, 1), -1)


# ---------------------------------------------------------------------------------------
# Civil Code months (arts. 201–203)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "nominal", "day"),
    [
        # No Feb 31 → last day of Feb; 2026-02-28 is a Saturday but a 调休 working day.
        (D(2026, 1, 31), 1, D(2026, 2, 28), D(2026, 2, 28)),
        # 2026-03-07 is an ordinary Saturday → Monday.
        (D(2026, 2, 7), 1, D(2026, 3, 7), D(2026, 3, 9)),
        # Last day on National Day → first working day after the holiday.
        (D(2026, 7, 1), 3, D(2026, 10, 1), D(2026, 10, 8)),
        # Six months ending on a 春节 holiday weekday.
        (D(2025, 8, 17), 6, D(2026, 2, 17), D(2026, 2, 24)),
        (D(2026, 3, 15), 1, D(2026, 4, 15), D(2026, 4, 15)),
        (D(2026, 3, 31), 1, D(2026, 4, 30), D(2026, 4, 30)),
        # Leap year: 2024-02-29 is a Thursday working day.
        (D(2023, 8, 31), 6, D(2024, 2, 29), D(2024, 2, 29)),
        # Dec → Jan, 2026-01-01..03 off, Sunday 01-04 worked.
        (D(2025, 10, 1), 3, D(2026, 1, 1), D(2026, 1, 4)),
    ],
)
def test_add_months(cal, start, months, nominal, day):
    result = cal.add_months(start, months)
    assert (result.nominal, result.day, result.fallback_used) == (nominal, day, False)
    assert result.rolled_forward == (nominal != day)


def test_add_months_into_a_fallback_year(cal):
    # 2027-02-28 is a Sunday; Mon–Fri fallback → Monday, flagged.
    result = cal.add_months(D(2026, 8, 31), 6)
    assert result == Deadline(D(2027, 3, 1), D(2027, 2, 28), fallback_used=True)
    assert cal.add_months(D(2027, 8, 31), 6).nominal == D(2028, 2, 29)
    assert cal.add_months(D(2026, 5, 10), 0).day == D(2026, 5, 11)  # Sunday → Monday


# ---------------------------------------------------------------------------------------
# CSV import / export
# ---------------------------------------------------------------------------------------


def test_export_import_round_trip(db):
    _seed(db)
    original = _load(db)
    text = _export(db, years=[2025, 2026])
    lines = text.splitlines()
    assert lines[0] == "date,type,name"
    assert "2026-10-01,holiday,国庆节" in lines
    assert "2026-10-10,workday,国庆节" in lines
    assert all(line[:4] in {"2025", "2026"} for line in lines[1:])
    before = {2025: _exceptions(db, 2025), 2026: _exceptions(db, 2026)}

    with unit_of_work(db) as session:
        session.execute(delete(CalendarDay))
        session.execute(delete(CalendarYear))
    summary = _import(db, text)

    assert summary.years == [2025, 2026]
    assert summary.replaced == 0
    assert summary.holidays + summary.workdays == len(lines) - 1
    assert {2025: _exceptions(db, 2025), 2026: _exceptions(db, 2026)} == before
    reloaded = _load(db)
    assert reloaded.known_years == {2025, 2026}
    for day in (D(2025, 1, 1) + timedelta(days=i) for i in range(730)):
        assert reloaded.is_working_day(day) == original.is_working_day(day), day
    assert _export(db) == text


def test_full_export_round_trips_unchanged(db):
    _seed(db)
    text = _export(db)
    summary = _import(db, text)
    assert summary.replaced == summary.holidays + summary.workdays
    assert _export(db) == text


def test_import_chinese_types_bom_and_replaces_the_year(db):
    _seed(db)
    count_2026 = len(_exceptions(db, 2026))
    data = (
        "\ufeff日期,类型,名称\r\n"
        "2026/10/8,休,本院调整\r\n2027-01-01,休,元旦\r\n2027-02-06,班,\r\n\r\n"
    )
    summary = _import(db, data.encode("utf-8"))

    assert summary.years == [2026, 2027]
    assert (summary.holidays, summary.workdays) == (2, 1)
    assert summary.replaced == count_2026
    assert _exceptions(db, 2026) == {D(2026, 10, 8): (False, "本院调整")}
    assert _exceptions(db, 2027) == {
        D(2027, 1, 1): (False, "元旦"),
        D(2027, 2, 6): (True, None),
    }
    with unit_of_work(db) as session:
        assert session.get(CalendarYear, 2027).source == "import"
        assert session.get(CalendarYear, 2026).source == "import"
        assert session.get(CalendarYear, 2025).source == PACKAGE_SOURCE
    cal = _load(db)
    assert cal.is_known_year(2027)
    assert not cal.is_working_day(D(2027, 1, 1))
    assert cal.is_working_day(D(2027, 2, 6))  # a Saturday
    assert cal.is_working_day(D(2026, 10, 1))  # 2026 was replaced wholesale
    assert not cal.fallback_used(D(2026, 12, 31), D(2027, 1, 4))


def test_import_reports_how_many_rows_it_replaced(db):
    _seed(db)
    count_2026 = len(_exceptions(db, 2026))
    summary = _import(db, "date,type\n2026-10-08,holiday\n")
    assert summary.replaced == count_2026
    assert summary.years == [2026]


def test_bad_csv_is_rejected_whole_with_every_row(db):
    _seed(db)
    before = _export(db)
    data = (
        "date,type,name\n"
        "2027-01-01,holiday,元旦\n"  # row 2 is fine, but must not be written
        "2027-02-30,holiday,\n"  # row 3
        "2027-02-06,rest,\n"  # row 4
        "2027-01-01,workday,\n"  # row 5: duplicate of row 2
        ",,\n"  # row 6: blank, skipped
        "tomorrow,,x,extra\n"  # row 7: several problems
        f"2027-03-01,休,{'长' * 101}\n"  # row 8
    )
    with pytest.raises(InvalidData) as caught:
        _import(db, data)

    assert caught.value.fields == {
        "row 3": "date: not a date (2027-02-30)",
        "row 4": "type: must be holiday, workday, 休 or 班 (rest)",
        "row 5": "date: 2027-01-01 already given in row 2",
        "row 7": (
            "row: 4 columns, expected 3; date: not a date (tomorrow); "
            "type: must be holiday, workday, 休 or 班"
        ),
        "row 8": "name: longer than 100 characters",
    }
    assert _export(db) == before
    assert not _load(db).is_known_year(2027)


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ("", {"row 1": "header: expected date,type,name"}),
        ("2026-10-08,holiday,x\n", {"row 1": "header: expected date,type,name"}),
        ("date,type,name\n\n", {"file": "no data rows"}),
        (b"date,type\n2026-10-08,\xd0\xdd\n", {"file": "not UTF-8 (byte 21)"}),
    ],
)
def test_unusable_files_are_rejected(db, data, fields):
    with pytest.raises(InvalidData) as caught:
        _import(db, data)
    assert caught.value.fields == fields


# ---------------------------------------------------------------------------------------
# Property tests: one calendar per module/backend, no database access per example
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(db_engine) -> WorkCalendar:
    """Seed a clean calendar in a transaction that is rolled back, and keep the snapshot.

    Rolling back leaves the database as the function-scoped tests expect it.
    """
    session = make_session_factory(db_engine)()
    try:
        session.execute(delete(CalendarDay))
        session.execute(delete(CalendarYear))
        seed_from_chinesecalendar(session)
        return WorkCalendar.load(session)
    finally:
        session.rollback()
        session.close()


def test_snapshot_agrees_with_the_package_on_every_day(seeded):
    assert set(PACKAGE_YEARS) <= seeded.known_years
    day = D(PACKAGE_YEARS[0], 1, 1)
    while day.year in PACKAGE_YEARS:
        assert seeded.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


PROPERTY = settings(max_examples=200, deadline=None)
# 2002–2028 covers fallback years on both sides of the package's 2004–2026.
DAYS = st.dates(min_value=D(2002, 1, 1), max_value=D(2028, 12, 31))
YEAR_ENDS = st.builds(
    lambda year, day, december: D(year, 12, day) if december else D(year + 1, 1, day - 19),
    st.integers(2002, 2027),
    st.integers(20, 31),
    st.booleans(),
)
ANY_START = st.one_of(DAYS, YEAR_ENDS)
COUNTS = st.integers(min_value=0, max_value=400)


def _brute_count(cal: WorkCalendar, start: date, end: date) -> int:
    day, count = start, 0
    while day < end:
        day += timedelta(days=1)
        count += cal.is_working_day(day)
    return count


def _expected_fallback(cal: WorkCalendar, start: date, end: date) -> bool:
    return any(
        not cal.is_known_year(y) for y in range(min(start, end).year, max(start, end).year + 1)
    )


@PROPERTY
@given(start=ANY_START, n=COUNTS)
def test_adding_then_counting_gives_n(seeded, start, n):
    end = seeded.add_working_days(start, n)
    assert seeded.is_working_day(end)
    assert end >= start
    if n >= 1 or seeded.is_working_day(start):
        assert seeded.working_days_between(start, end) == n
    else:  # 0 from a rest day is the next working day
        assert seeded.working_days_between(start, end) == 1
    assert seeded.working_days_deadline(start, n).fallback_used == _expected_fallback(
        seeded, start, end
    )


@PROPERTY
@given(start=ANY_START, n=COUNTS)
def test_add_working_days_is_monotone_in_n(seeded, start, n):
    here, after = seeded.add_working_days(start, n), seeded.add_working_days(start, n + 1)
    assert here <= after
    if n >= 1:
        assert here < after
        # Nothing between consecutive results is a working day.
        assert seeded.working_days_between(here, after) == 1


@PROPERTY
@given(start=ANY_START, n=st.integers(min_value=1, max_value=400))
def test_subtract_undoes_add_from_a_working_day(seeded, start, n):
    start = seeded.add_working_days(start, 0)
    assert seeded.subtract_working_days(seeded.add_working_days(start, n), n) == start


@PROPERTY
@given(d=ANY_START, n=st.integers(min_value=0, max_value=400))
def test_subtract_lands_on_a_working_day_before(seeded, d, n):
    earlier = seeded.subtract_working_days(d, n)
    assert seeded.is_working_day(earlier)
    assert earlier <= d
    if n >= 1:
        assert seeded.working_days_between(earlier, d) == n - 1 + seeded.is_working_day(d)


@PROPERTY
@given(start=ANY_START, span=st.integers(min_value=-800, max_value=800))
def test_between_matches_a_day_by_day_count(seeded, start, span):
    end = start + timedelta(days=span)
    if end >= start:
        assert seeded.working_days_between(start, end) == _brute_count(seeded, start, end)
    else:
        assert seeded.working_days_between(start, end) == -_brute_count(seeded, end, start)


@PROPERTY
@given(start=ANY_START, months=st.integers(min_value=0, max_value=24))
def test_add_months_lands_on_the_first_working_day_from_the_nominal_day(seeded, start, months):
    result = seeded.add_months(start, months)
    assert seeded.is_working_day(result.day)
    assert result.nominal <= result.day <= result.nominal + timedelta(days=14)
    day = result.nominal
    while day < result.day:
        assert not seeded.is_working_day(day)
        day += timedelta(days=1)
    year, month0 = divmod(start.year * 12 + start.month - 1 + months, 12)
    assert (result.nominal.year, result.nominal.month) == (year, month0 + 1)
    assert result.nominal.day == start.day or (
        result.nominal.day < start.day
        and (result.nominal + timedelta(days=1)).day == 1  # clamped to month end
    )
    assert result.fallback_used == _expected_fallback(seeded, start, result.day)


@PROPERTY
@given(start=ANY_START, later=st.integers(0, 60), months=st.integers(min_value=0, max_value=12))
def test_add_months_is_monotone(seeded, start, later, months):
    assert seeded.add_months(start, months).day <= seeded.add_months(start, months + 1).day
    other = start + timedelta(days=later)
    assert seeded.add_months(start, months).day <= seeded.add_months(other, months).day


@PROPERTY
@given(
    start=st.builds(D, st.integers(2002, 2027), st.just(12), st.integers(15, 31)),
    n=st.integers(min_value=1, max_value=30),
)
def test_year_boundaries(seeded, start, n):
    end = seeded.add_working_days(start, n)
    assert seeded.working_days_between(start, end) == _brute_count(seeded, start, end) == n
    crosses_unknown = start.year not in PACKAGE_YEARS or end.year not in PACKAGE_YEARS
    assert seeded.fallback_used(start, end) == crosses_unknown
