"""Statistics the office reports (统计): counts and rates per period, item kind and department.

Every figure is about the items **received in the period** [from, to) — dates in business
time (`LIAISON_TIMEZONE`), `to` exclusive; by default the current year to date — that the
caller may see (`visible_items`), optionally led by one department, counted **as of now**:

* received — items whose `received_at` falls in the period;
* finished — filed (归档);
* finished on time — filed, answered (`replied_at`, else `filed_at`) by `due_at`
  (an item that never had a deadline counts as on time);
* replied — the answer is given (`replied_at` set; a re-handling clears it until the
  next answer);
* rated / satisfied / basically satisfied / unsatisfied — deputies' verdicts, one per
  item and deputy: that deputy's latest round;
* meeting required / met — replied items of kinds that require meeting the deputy
  (`kind_settings.meeting_required`, suggestions by default), and those of them with a
  recorded meeting;
* overdue — still open and past `due_at`.

Rates are percentages with one decimal, or None when the denominator is 0:
办结率 finished / received, 按期办结率 finished on time / finished, 答复率 replied /
received, 满意率 (satisfied + basically satisfied) / rated, 见面率 met / meeting required.

Everything is two GROUP BY queries over `items` (with `meetings` and `ratings`); no
workflow state is loaded. Registrars, leaders, the president and administrators see the
whole court; drafters and department heads only the items their department may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Forbidden, InvalidData
from engine.models import ITEM_KINDS, Department, Item, KindSetting, Meeting, Rating, User
from engine.roles import COURT_WIDE_ROLES, DEPARTMENT_SCOPED_ROLES
from engine.services.accounts import department_by_name
from engine.services.meetings import MEETING_REQUIRED_BY_DEFAULT
from engine.services.visibility import visible_items

STATS_ROLES = COURT_WIDE_ROLES | DEPARTMENT_SCOPED_ROLES
MIN_YEAR, MAX_YEAR = 1900, 9998  # keeps every bound convertible to UTC
RATING_FIELDS = {
    "satisfied": "satisfied",
    "basically_satisfied": "basically_satisfied",
    "unsatisfied": "unsatisfied",
}


@dataclass
class Figures:
    """The counts of one row (the total, a kind or a department) and its rates."""

    received: int = 0
    finished: int = 0
    finished_on_time: int = 0
    replied: int = 0
    meeting_required: int = 0
    met: int = 0
    rated: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    overdue: int = 0

    def add(self, other: Figures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rates(self) -> dict[str, float | None]:
        return {
            "finish_rate": percent(self.finished, self.received),  # 办结率
            "on_time_rate": percent(self.finished_on_time, self.finished),  # 按期办结率
            "reply_rate": percent(self.replied, self.received),  # 答复率
            "satisfaction_rate": percent(  # 满意率
                self.satisfied + self.basically_satisfied, self.rated
            ),
            "meeting_rate": percent(self.met, self.meeting_required),  # 见面率
        }


@dataclass
class Row:
    key: str | None  # the kind, or the department's name (None: not yet assigned)
    figures: Figures = field(default_factory=Figures)


@dataclass
class Report:
    start: date  # first day of the period
    end: date  # the day after its last day
    department: str | None  # the department asked for
    scope: str  # "court" or "department": what the caller may see
    as_of: datetime
    total: Figures
    by_kind: list[Row]
    by_department: list[Row]


def percent(numerator: int, denominator: int) -> float | None:
    """`numerator / denominator` as a percentage with one decimal (half up); None for x/0."""
    if not denominator:
        return None
    value = Decimal(numerator * 100) / Decimal(denominator)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def parse_day(name: str, value: Any) -> date | None:
    """A YYYY-MM-DD date (or a date); None when absent; InvalidData naming `name` otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError(value)
            value = date.fromisoformat(value)
        except ValueError:
            message = "日期格式应为 YYYY-MM-DD / a date such as 2026-01-01"
            raise InvalidData(f"{name} must be a date (YYYY-MM-DD)", {name: message}) from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        message = f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间 / year between {MIN_YEAR} and {MAX_YEAR}"
        raise InvalidData(f"{name} is out of range", {name: message})
    return value


def period(start: Any = None, end: Any = None) -> tuple[date, date]:
    """[start, end) from the caller's dates; by default the current year to date."""
    start_day, end_day = parse_day("from", start), parse_day("to", end)
    if end_day is None:
        end_day = clock.local_now().date() + timedelta(days=1)  # today included
    if start_day is None:
        start_day = date((end_day - timedelta(days=1)).year, 1, 1)
    if end_day <= start_day:
        message = "截止日期应晚于起始日期 / must be after `from`"
        raise InvalidData("to must be after from", {"to": message})
    return start_day, end_day


def _instant(day: date) -> datetime:
    """Midnight at the start of `day` in business time."""
    return datetime.combine(day, time(0), tzinfo=clock.business_timezone())


def meeting_kinds(session: Session, court_id: int) -> list[str]:
    """Kinds whose replies require meeting the deputy (the setting, else the default)."""
    settings = dict(
        session.execute(
            select(KindSetting.kind, KindSetting.meeting_required).where(
                KindSetting.court_id == court_id
            )
        ).all()
    )
    return [
        kind
        for kind in ITEM_KINDS
        if (
            settings[kind]
            if settings.get(kind) is not None
            else kind in MEETING_REQUIRED_BY_DEFAULT
        )
    ]


def report(
    session: Session,
    actor: User,
    start: Any = None,
    end: Any = None,
    department: str | None = None,
) -> Report:
    """The office's figures for [start, end), optionally for one (lead) department."""
    if actor.role not in STATS_ROLES:
        raise Forbidden("此角色不能查看统计 / this role cannot read statistics")
    start_day, end_day = period(start, end)
    conditions = [
        visible_items(actor),
        Item.received_at >= _instant(start_day),
        Item.received_at < _instant(end_day),
    ]
    chosen = None
    if department:
        if "\x00" not in department:  # PostgreSQL text cannot hold NUL: no such name
            chosen = department_by_name(session, actor.court_id, department)
        if chosen is None:
            message = "没有这个部门 / no such department"
            raise InvalidData(f"unknown department {department!r}", {"department": message})
        if actor.role not in COURT_WIDE_ROLES and chosen.id != actor.department_id:
            raise Forbidden("只能查看本部门的统计 / only your own department's statistics")
        conditions.append(Item.department_id == chosen.id)

    now = clock.now()
    cells: dict[tuple[str, int | None], Figures] = {}

    def cell(kind: str, department_id: int | None) -> Figures:
        return cells.setdefault((kind, department_id), Figures())

    replied = Item.replied_at.is_not(None)
    needs_meeting = and_(replied, Item.kind.in_(meeting_kinds(session, actor.court_id)))
    met = and_(needs_meeting, exists().where(Meeting.item_id == Item.id))
    on_time = and_(
        Item.status == "filed",
        or_(Item.due_at.is_(None), func.coalesce(Item.replied_at, Item.filed_at) <= Item.due_at),
    )
    overdue = and_(Item.status == "open", Item.due_at < now)
    item_rows = session.execute(
        select(
            Item.kind,
            Item.department_id,
            func.count(),
            _count_if(Item.status == "filed"),
            _count_if(on_time),
            _count_if(replied),
            _count_if(needs_meeting),
            _count_if(met),
            _count_if(overdue),
        )
        .where(*conditions)
        .group_by(Item.kind, Item.department_id)
    ).all()
    for kind, department_id, *counts in item_rows:
        figures = cell(kind, department_id)
        (
            figures.received,
            figures.finished,
            figures.finished_on_time,
            figures.replied,
            figures.meeting_required,
            figures.met,
            figures.overdue,
        ) = (int(n or 0) for n in counts)

    latest = (
        select(Rating.item_id, Rating.deputy_id, func.max(Rating.round).label("round"))
        .where(Rating.court_id == actor.court_id)
        .group_by(Rating.item_id, Rating.deputy_id)
        .subquery()
    )
    rating_rows = session.execute(
        select(Item.kind, Item.department_id, Rating.rating, func.count())
        .select_from(Rating)
        .join(
            latest,
            and_(
                latest.c.item_id == Rating.item_id,
                latest.c.deputy_id == Rating.deputy_id,
                latest.c.round == Rating.round,
            ),
        )
        .join(Item, Item.id == Rating.item_id)
        .where(*conditions)
        .group_by(Item.kind, Item.department_id, Rating.rating)
    ).all()
    for kind, department_id, rating, count in rating_rows:
        figures = cell(kind, department_id)
        figures.rated += int(count)
        if rating in RATING_FIELDS:
            name = RATING_FIELDS[rating]
            setattr(figures, name, getattr(figures, name) + int(count))

    total = Figures()
    by_kind = {kind: Row(kind) for kind in ITEM_KINDS}
    by_department_id: dict[int | None, Figures] = {}
    for (kind, department_id), figures in cells.items():
        total.add(figures)
        by_kind.setdefault(kind, Row(kind)).figures.add(figures)
        by_department_id.setdefault(department_id, Figures()).add(figures)

    court_wide = actor.role in COURT_WIDE_ROLES
    every: list[Department] = []  # departments listed even without items
    if chosen is not None:
        every = [chosen]
    elif court_wide:
        every = _court_departments(session, actor)
    return Report(
        start=start_day,
        end=end_day,
        department=chosen.name if chosen else None,
        scope="court" if court_wide else "department",
        as_of=now,
        total=total,
        by_kind=list(by_kind.values()),
        by_department=_department_rows(session, by_department_id, every),
    )


def _count_if(condition) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _court_departments(session: Session, actor: User) -> list[Department]:
    return list(
        session.scalars(
            select(Department).where(Department.court_id == actor.court_id).order_by(Department.id)
        )
    )


def _department_rows(
    session: Session,
    figures_by_id: dict[int | None, Figures],
    every: Iterable[Department],
) -> list[Row]:
    """A row per department in `every` (zeros included), then any other with items, then
    items not yet assigned to a department (key None)."""
    rows: list[Row] = []
    listed: set[int] = set()
    for department in every:
        rows.append(Row(department.name, figures_by_id.get(department.id, Figures())))
        listed.add(department.id)
    others = [i for i in figures_by_id if i is not None and i not in listed]
    if others:
        for department in session.scalars(
            select(Department).where(Department.id.in_(others)).order_by(Department.id)
        ):
            rows.append(Row(department.name, figures_by_id[department.id]))
    if None in figures_by_id:
        rows.append(Row(None, figures_by_id[None]))
    return rows
