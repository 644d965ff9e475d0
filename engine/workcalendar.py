"""Working days and Civil-Code month limits: the one calendar module.

Every deadline in the office is either a count of working days (工作日, e.g. "7 working
days") or a count of calendar months (the 3- and 6-month limits, counted per Civil Code
arts. 201–203). Both depend on the State Council holiday calendar, including make-up
working days on weekends (调休), which is published a year at a time. So the calendar is
a table an administrator can edit (`calendar_years` + `calendar_days`), seeded from the
`chinesecalendar` package, and every year nobody has entered falls back to Monday–Friday
*visibly*: results say whether a fallback year was involved so the UI can flag the date
as provisional.

`WorkCalendar` is an immutable in-memory snapshot of those tables. Load it once per
request / sweep and ask it as many questions as needed; it never touches the database,
so computing deadlines for thousands of tasks costs no queries. Dates are plain
`datetime.date` in the business time zone; converting instants is the caller's job
(see `engine.clock.local_now`), which is why datetimes are rejected rather than
silently truncated.

Seeding and CSV import/export write through the caller's session and never commit: the
caller's `unit_of_work` decides, so an import is all-or-nothing.
"""

from __future__ import annotations

import bisect
import calendar
import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import IO

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import InvalidData
from engine.models import CalendarDay, CalendarYear

__all__ = [
    "CSV_COLUMNS",
    "Deadline",
    "ImportSummary",
    "WorkCalendar",
    "export_csv",
    "import_csv",
    "seed_from_chinesecalendar",
]

_ONE_DAY = timedelta(days=1)

# ---------------------------------------------------------------------------------------
# The snapshot
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """A computed last day plus what a user needs to trust it.

    `day` is the last day of the period. `nominal` is the day the arithmetic gave before
    rolling forward off a rest day (equal to `day` when no roll was needed), so a UI can
    explain "期满日 10-01 为法定节假日，顺延至 10-08". `fallback_used` is True when any year
    between the start and `day` had no entered calendar and was assumed Monday–Friday.
    """

    day: date
    nominal: date
    fallback_used: bool

    @property
    def rolled_forward(self) -> bool:
        return self.day != self.nominal


def _check_date(value: object, name: str = "date") -> date:
    # datetime is a subclass of date; accepting it would silently use the UTC calendar
    # day for an aware instant, which is wrong for 8 hours of every Beijing day.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date (convert instants first), got {value!r}")
    return value


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _weekdays_through(d: date) -> int:
    """Number of Mon–Fri days from 0001-01-01 (a Monday) through `d` inclusive.

    Lets `working_days_between` count plain weekdays in O(1) and then correct only for
    the (few) exceptions in the span, instead of walking every day.
    """
    weeks, rest = divmod(d.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


@dataclass(frozen=True)
class WorkCalendar:
    """Immutable snapshot of the working-day calendar.

    Build it with `WorkCalendar.load(session)` (or `from_exceptions` in tests). Only
    exceptions that change the Mon–Fri answer in a *known* year are kept: a holiday on
    a weekday, a 调休 working day on a weekend. Holidays stored on weekends (harmless,
    they carry the holiday's name) and rows in years nobody marked known are ignored for
    counting, so a half-entered year can never be mistaken for an entered one.
    """

    known_years: frozenset[int]
    # Frozensets for `in` in the day loop; the same days as sorted tuples for bisect in
    # span counts. Names are for display only, so equality ignores them.
    _holidays: frozenset[date] = field(repr=False)
    _workdays: frozenset[date] = field(repr=False)
    _holidays_sorted: tuple[date, ...] = field(repr=False, compare=False)
    _workdays_sorted: tuple[date, ...] = field(repr=False, compare=False)
    _names: Mapping[date, str] = field(repr=False, compare=False)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_exceptions(
        cls,
        known_years: Iterable[int],
        exceptions: Mapping[date, bool],
        names: Mapping[date, str | None] | None = None,
    ) -> WorkCalendar:
        """Build from {day: is_working}; exceptions outside `known_years` are dropped."""
        years = frozenset(known_years)
        holidays: set[date] = set()
        workdays: set[date] = set()
        for day, is_working in exceptions.items():
            if day.year not in years:
                continue
            weekend = day.weekday() >= 5
            if is_working and weekend:
                workdays.add(day)
            elif not is_working and not weekend:
                holidays.add(day)
        kept_names = {
            day: name
            for day, name in (names or {}).items()
            if name and day.year in years and day in exceptions
        }
        return cls(
            known_years=years,
            _holidays=frozenset(holidays),
            _workdays=frozenset(workdays),
            _holidays_sorted=tuple(sorted(holidays)),
            _workdays_sorted=tuple(sorted(workdays)),
            _names=MappingProxyType(kept_names),
        )

    @classmethod
    def load(cls, session: Session) -> WorkCalendar:
        """Read calendar_years and calendar_days once; the result never queries again."""
        years = set(session.scalars(select(CalendarYear.year)))
        rows = session.execute(select(CalendarDay.day, CalendarDay.is_working, CalendarDay.name))
        exceptions: dict[date, bool] = {}
        names: dict[date, str | None] = {}
        for day, is_working, name in rows:
            exceptions[day] = bool(is_working)
            names[day] = name
        return cls.from_exceptions(years, exceptions, names)

    # -- single days -------------------------------------------------------------------

    def is_known_year(self, year: int) -> bool:
        """True when the year's holidays were entered (seeded or imported)."""
        return year in self.known_years

    def fallback_used(self, start: date, end: date) -> bool:
        """True when any year from start's to end's (either order) is assumed Mon–Fri."""
        _check_date(start, "start")
        _check_date(end, "end")
        low, high = sorted((start.year, end.year))
        return any(year not in self.known_years for year in range(low, high + 1))

    def is_working_day(self, d: date) -> bool:
        """Known year: its exceptions, else Mon–Fri. Unknown year: Mon–Fri."""
        _check_date(d)
        return self._working(d)

    def _working(self, d: date) -> bool:
        # Unchecked hot path: the exception sets only hold known-year days already.
        if d in self._workdays:
            return True
        return d.weekday() < 5 and d not in self._holidays

    def holiday_name(self, d: date) -> str | None:
        """The stored name for an exception day (e.g. "国庆节"), for display."""
        return self._names.get(_check_date(d))

    # -- working-day arithmetic --------------------------------------------------------

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start`; the start day itself is not counted.

        n == 0 returns `start` if it is a working day, else the next working day: "0
        working days from a Saturday" is the first day the office can act, and it keeps
        the result always a working day (callers never have to roll again).
        """
        _check_date(start, "start")
        _check_count(n, "n")
        d = start
        if n == 0:
            while not self._working(d):
                d += _ONE_DAY
            return d
        # A day loop is fine: n is a handful to a few hundred, and each step is two set
        # lookups. It always ends because every year has working days.
        while n:
            d += _ONE_DAY
            if self._working(d):
                n -= 1
        return d

    def subtract_working_days(self, d: date, n: int) -> date:
        """The n-th working day before `d` (d not counted); mirror of add_working_days.

        For "remind 1 working day before the due date": due Thu 10-08-2026 → Wed 09-30.
        n == 0 returns `d` if working, else the previous working day.
        """
        _check_date(d)
        _check_count(n, "n")
        if n == 0:
            while not self._working(d):
                d -= _ONE_DAY
            return d
        while n:
            d -= _ONE_DAY
            if self._working(d):
                n -= 1
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """Count of working days in (start, end]: start excluded, end included.

        That is the inverse of add_working_days for n >= 1 and the natural "how many
        working days have been used / are overdue". If end < start the result is the
        negative count of (end, start], so subtracting the other way round is safe.
        Runs in O(log exceptions), not O(days).
        """
        _check_date(start, "start")
        _check_date(end, "end")
        if end < start:
            return -self.working_days_between(end, start)
        count = _weekdays_through(end) - _weekdays_through(start)
        count -= _count_in(self._holidays_sorted, start, end)
        count += _count_in(self._workdays_sorted, start, end)
        return count

    def working_days_deadline(self, start: date, n: int) -> Deadline:
        """add_working_days with the fallback flag, for storing on a task."""
        day = self.add_working_days(start, n)
        return Deadline(day=day, nominal=day, fallback_used=self.fallback_used(start, day))

    # -- Civil Code months -------------------------------------------------------------

    def add_months(self, start: date, months: int) -> Deadline:
        """A period of `months` calendar months from `start`, per Civil Code arts. 201–203.

        201: the start day is not counted, so the period is measured from the next day
        and ends on the *same-numbered* day of the final month (01-15 + 1 month → 02-15).
        202: if the final month has no such day, its last day (01-31 + 1 → 02-28/29).
        203: if the last day is a legal rest day, the period ends on the first working
        day after it. Rest days include weekend rest days but not 调休 Saturdays, which
        are working days; so we roll with `is_working_day`.
        """
        _check_date(start, "start")
        _check_count(months, "months")
        year, month0 = divmod(start.month - 1 + months, 12)
        year += start.year
        month = month0 + 1
        nominal = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
        day = nominal
        while not self._working(day):
            day += _ONE_DAY
        return Deadline(day=day, nominal=nominal, fallback_used=self.fallback_used(start, day))


def _count_in(sorted_days: tuple[date, ...], start: date, end: date) -> int:
    """How many of `sorted_days` lie in (start, end]."""
    return bisect.bisect_right(sorted_days, end) - bisect.bisect_right(sorted_days, start)


# ---------------------------------------------------------------------------------------
# Seeding from the chinesecalendar package
# ---------------------------------------------------------------------------------------


def _package_years() -> tuple[str, list[int]]:
    """The package version and every year it has data for.

    The candidate range comes from the package's own tables; each year is confirmed by
    asking the package, which raises NotImplementedError for years it does not know, so
    a future release with more (or fewer) years needs no change here.
    """
    import chinese_calendar

    keys = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    if not keys:
        return chinese_calendar.__version__, []
    low, high = min(keys).year, max(keys).year
    years = []
    for year in range(low, high + 1):
        try:
            chinese_calendar.get_holiday_detail(date(year, 1, 1))
            chinese_calendar.get_holiday_detail(date(year, 12, 31))
        except NotImplementedError:
            continue
        years.append(year)
    return chinese_calendar.__version__, years


def _package_name(english: str | None) -> str | None:
    """The package's Chinese holiday name ("国庆节") where it has one."""
    if english is None:
        return None
    from chinese_calendar import Holiday

    try:
        return Holiday(english).chinese
    except ValueError:
        return english


def _package_exceptions(year: int) -> list[dict[str, object]]:
    """calendar_days rows for one year, via the package's public per-day API.

    Stores weekday holidays and weekend 调休 days (the exceptions), plus named holidays
    that fall on a weekend so an exported year shows whole holiday spans.
    """
    from chinese_calendar import get_holiday_detail

    rows: list[dict[str, object]] = []
    day = date(year, 1, 1)
    while day.year == year:
        is_holiday, english = get_holiday_detail(day)
        weekend = day.weekday() >= 5
        if is_holiday != weekend or (is_holiday and english):
            rows.append({"day": day, "is_working": not is_holiday, "name": _package_name(english)})
        day += _ONE_DAY
    return rows


def seed_from_chinesecalendar(session: Session) -> list[int]:
    """Enter every year the installed `chinesecalendar` knows and the table does not.

    Idempotent and never overwrites: a year already in calendar_years (seeded earlier,
    imported or edited by an administrator) is skipped entirely. Stray calendar_days rows
    in a not-yet-known year are kept as they are and only missing days are added. Safe
    to run from several processes at once. Does not commit. Returns the years added.
    """
    version, years = _package_years()
    known = set(session.scalars(select(CalendarYear.year)))
    added: list[int] = []
    now = clock.now()
    for year in years:
        if year in known:
            continue
        rows = _package_exceptions(year)
        try:
            # A savepoint per year: when two processes start on a fresh database and both
            # seed, the loser of each year hits the primary key, skips that year and
            # goes on, instead of failing its whole startup.
            with session.begin_nested():
                existing = set(
                    session.scalars(
                        select(CalendarDay.day).where(
                            CalendarDay.day >= date(year, 1, 1),
                            CalendarDay.day <= date(year, 12, 31),
                        )
                    )
                )
                rows = [row for row in rows if row["day"] not in existing]
                if rows:
                    session.execute(insert(CalendarDay), rows)
                session.add(
                    CalendarYear(year=year, source=f"chinesecalendar {version}", updated_at=now)
                )
                session.flush()
        except IntegrityError:
            continue
        added.append(year)
    return added


# ---------------------------------------------------------------------------------------
# CSV import / export for administrators
# ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("date", "type", "name")
_TYPE_WORDS = {"holiday": False, "休": False, "workday": True, "班": True}
# Header aliases so a sheet with Chinese headings also imports.
_HEADER_ALIASES = {
    "date": "date",
    "日期": "date",
    "type": "type",
    "类型": "type",
    "name": "name",
    "名称": "name",
}
_DATE_RE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NAME_MAX = 100  # calendar_days.name is String(100)


@dataclass(frozen=True)
class ImportSummary:
    """What an import changed, for the administrator's confirmation message."""

    years: list[int]  # years now marked known with source "import", ascending
    holidays: int  # rows imported as holidays (休)
    workdays: int  # rows imported as make-up working days (班)
    replaced: int  # existing calendar_days rows removed from those years


def export_csv(session: Session, fh: IO[str], years: Iterable[int] | None = None) -> int:
    """Write `date,type,name` rows for known years (all, or those in `years`).

    Only known years are exported: rows in unknown years have no effect, and exporting
    them would make a re-import silently mark the year known. Returns rows written.
    """
    known = set(session.scalars(select(CalendarYear.year)))
    wanted = known if years is None else known & set(years)
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    if not wanted:
        return 0
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.is_working, CalendarDay.name)
        .where(
            CalendarDay.day >= date(min(wanted), 1, 1),
            CalendarDay.day <= date(max(wanted), 12, 31),
        )
        .order_by(CalendarDay.day)
    )
    written = 0
    for day, is_working, name in rows:
        if day.year in wanted:
            writer.writerow([day.isoformat(), "workday" if is_working else "holiday", name or ""])
            written += 1
    return written


def _parse_date(text: str) -> date | None:
    """ISO dates, plus the 2026/1/5 form spreadsheets turn them into on save."""
    match = _DATE_RE.fullmatch(text)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _read_text(fh: IO[str] | IO[bytes]) -> str:
    """Accept a text stream or an uploaded binary one (UTF-8, with or without BOM)."""
    data = fh.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidData(
                "the calendar file is not UTF-8 text",
                {"file": f"not UTF-8 (byte {exc.start})"},
            ) from exc
    return data.removeprefix("\ufeff")


def import_csv(session: Session, fh: IO[str] | IO[bytes]) -> ImportSummary:
    """Replace whole years of exceptions from a `date,type,name` CSV. All or nothing.

    Every row is checked before anything is written; if any row is bad the whole file is
    rejected with InvalidData whose `fields` map "row N" (N as a spreadsheet numbers it,
    header = row 1) to "column: reason" (several reasons joined by "; "). Each year that
    appears in the file becomes known with source "import" and its existing exceptions
    are replaced by the file's rows, so a file is the complete list for its years.
    `type` is holiday/workday or 休/班; `name` is optional. Does not commit.
    """
    reader = csv.reader(io.StringIO(_read_text(fh), newline=""))
    header = next(reader, None)
    columns = [_HEADER_ALIASES.get(cell.strip().lower()) for cell in header or []]
    if header is None or "date" not in columns or "type" not in columns:
        raise InvalidData(
            "the calendar file needs a header row date,type,name",
            {"row 1": "header: expected date,type,name"},
        )
    position = {name: columns.index(name) for name in CSV_COLUMNS if name in columns}

    errors: dict[str, str] = {}
    parsed: dict[date, tuple[bool, str | None]] = {}
    first_row: dict[date, int] = {}
    for row_number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines, e.g. trailing ones a spreadsheet adds
        problems: list[str] = []

        def cell(column: str, row: list[str] = row) -> str:
            index = position.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        if len(row) > len(header):
            problems.append(f"row: {len(row)} columns, expected {len(header)}")
        raw_date = cell("date")
        day = _parse_date(raw_date)
        if not raw_date:
            problems.append("date: missing")
        elif day is None:
            problems.append(f"date: not a date ({raw_date})")
        elif day in first_row:
            problems.append(f"date: {day.isoformat()} already given in row {first_row[day]}")
        raw_type = cell("type")
        is_working = _TYPE_WORDS.get(raw_type.lower())
        if is_working is None:
            shown = f" ({raw_type})" if raw_type else ""
            problems.append(f"type: must be holiday, workday, 休 or 班{shown}")
        name = cell("name") or None
        if name is not None and len(name) > _NAME_MAX:
            problems.append(f"name: longer than {_NAME_MAX} characters")
        if problems:
            errors[f"row {row_number}"] = "; ".join(problems)
            continue
        assert day is not None and is_working is not None
        first_row[day] = row_number
        parsed[day] = (is_working, name)

    if errors:
        raise InvalidData(
            f"the calendar file has {len(errors)} bad row(s); nothing was imported", errors
        )
    if not parsed:
        raise InvalidData("the calendar file has no rows", {"file": "no data rows"})

    years = sorted({day.year for day in parsed})
    replaced = 0
    now = clock.now()
    for year in years:
        result = session.execute(
            delete(CalendarDay).where(
                CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
            )
        )
        replaced += result.rowcount or 0
        entry = session.get(CalendarYear, year)
        if entry is None:
            session.add(CalendarYear(year=year, source="import", updated_at=now))
        else:
            entry.source = "import"
            entry.updated_at = now
    session.execute(
        insert(CalendarDay),
        [
            {"day": day, "is_working": is_working, "name": name}
            for day, (is_working, name) in sorted(parsed.items())
        ],
    )
    session.flush()
    holidays = sum(1 for is_working, _ in parsed.values() if not is_working)
    return ImportSummary(
        years=years, holidays=holidays, workdays=len(parsed) - holidays, replaced=replaced
    )


# ---------------------------------------------------------------------------------------
# Day-by-day edits from the administrators' page
# ---------------------------------------------------------------------------------------


def days_of_year(session: Session, year: int) -> list[CalendarDay]:
    """The exceptions entered for `year` (also for a year not yet marked entered)."""
    return list(
        session.scalars(
            select(CalendarDay)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        )
    )


def _touch(session: Session, year: int) -> None:
    """Bump the year's change time so every process reloads its calendar snapshot."""
    entry = session.get(CalendarYear, year)
    if entry is not None:
        entry.updated_at = clock.now()


def set_day(session: Session, day: date, day_type: str, name: str | None) -> CalendarDay:
    """Enter or change one exception: `holiday` (休) on a weekday or `workday` (班, 调休).

    Days may be entered for a year that is not yet marked entered; they take effect
    when the administrator marks the year entered (until then Mon–Fri applies).
    """
    is_working = _TYPE_WORDS.get(str(day_type).strip().lower())
    fields = {}
    if is_working is None:
        fields["type"] = "must be holiday, workday, 休 or 班"
    if name is not None and len(name) > _NAME_MAX:
        fields["name"] = f"longer than {_NAME_MAX} characters"
    if fields:
        raise InvalidData("calendar day is invalid: " + ", ".join(sorted(fields)), fields)
    entry = session.get(CalendarDay, day) or CalendarDay(day=day)
    entry.is_working = is_working
    entry.name = (name or "").strip() or None
    session.add(entry)
    _touch(session, day.year)
    session.flush()
    return entry


def remove_day(session: Session, day: date) -> bool:
    """Remove one exception; the day follows the Mon–Fri rule again."""
    removed = session.execute(delete(CalendarDay).where(CalendarDay.day == day)).rowcount
    _touch(session, day.year)
    return bool(removed)


def mark_year_entered(session: Session, year: int, source: str = "admin") -> None:
    """Declare the year's exceptions complete: deadlines in it stop being estimates."""
    entry = session.get(CalendarYear, year)
    if entry is None:
        session.add(CalendarYear(year=year, source=source, updated_at=clock.now()))
    else:
        entry.source, entry.updated_at = source, clock.now()
    session.flush()
