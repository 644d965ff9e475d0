"""Statistics (统计): counts and rates over hand-built items, visibility, the API and the page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from engine import clock
from engine.db import unit_of_work
from engine.errors import Forbidden, InvalidData
from engine.models import (
    Department,
    Item,
    ItemCoDepartment,
    ItemDeputy,
    KindSetting,
    Meeting,
    Rating,
    User,
)
from engine.services import accounts, stats
from tests.conftest import USERS
from tests.helpers import complete, register

API = "/api/v1"
TZ = clock.business_timezone()
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=TZ)


def at(text: str) -> datetime:
    """A business-time instant: `2026-04-20` or `2026-04-20 09:30`."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.fixture
def now(factory):
    clock.travel_to(NOW)
    yield NOW
    clock.reset()


def _department_id(session, name: str) -> int:
    return session.scalar(select(Department.id).where(Department.name == name))


def make(
    factory,
    people,
    *,
    kind: str = "suggestion",
    received: str,
    department: str | None = "民一庭",
    due: str | None = None,
    replied: str | None = None,
    filed: str | None = None,
    status: str = "open",
) -> int:
    """An item registered through the services, then given the facts the test needs."""
    item_id = register(factory, people["registrar"])
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        item.kind = kind
        item.received_at = at(received)
        item.department_id = _department_id(session, department) if department else None
        item.due_at = at(due) if due else None
        item.replied_at = at(replied) if replied else None
        item.filed_at = at(filed) if filed else None
        item.status = status
    return item_id


def rate(factory, item_id: int, rating: str, round_: int = 1) -> None:
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        deputy_id = session.scalar(
            select(ItemDeputy.deputy_id).where(ItemDeputy.item_id == item_id)
        )
        session.add(
            Rating(
                court_id=item.court_id,
                item_id=item_id,
                deputy_id=deputy_id,
                round=round_,
                rating=rating,
                source="paper",
                created_at=clock.now(),
            )
        )


def meet(factory, people, item_id: int) -> None:
    with unit_of_work(factory) as session:
        session.add(
            Meeting(
                court_id=session.get(Item, item_id).court_id,
                item_id=item_id,
                met_on=date(2026, 4, 10),
                method="phone",
                notes="电话沟通",
                recorded_by_id=people["registrar"].id,
                created_at=clock.now(),
            )
        )


@pytest.fixture
def data(factory, people, now) -> dict[str, int]:
    """Eight items; all but `before` were received in 2026 (business time)."""
    ids = {
        # suggestion, answered by its deadline and filed, the deputy met
        "a": make(
            factory,
            people,
            received="2026-02-01 09:00",
            due="2026-05-01 23:59",
            replied="2026-04-20 10:00",
            filed="2026-04-25 10:00",
            status="filed",
        ),
        # suggestion answered late (filed after), no meeting
        "b": make(
            factory,
            people,
            received="2026-03-01 09:00",
            due="2026-06-01 23:59",
            replied="2026-06-05 10:00",
            filed="2026-06-06 10:00",
            status="filed",
        ),
        # suggestion led by 刑一庭 (co-handled by 民一庭), open and past its deadline
        "c": make(
            factory,
            people,
            received="2026-04-01 09:00",
            department="刑一庭",
            due="2026-06-10 23:59",
        ),
        # letter answered, not filed yet, deadline ahead
        "d": make(
            factory,
            people,
            kind="letter",
            received="2026-05-01 09:00",
            due="2026-07-01 23:59",
            replied="2026-05-08 10:00",
        ),
        # letter filed without a recorded reply, in time by its filing date
        "e": make(
            factory,
            people,
            kind="letter",
            received="2026-05-02 09:00",
            due="2026-05-09 23:59",
            filed="2026-05-05 10:00",
            status="filed",
        ),
        # registered yesterday, no department yet, no deadline
        "f": make(factory, people, received="2026-06-14 09:00", department=None),
        # the first minute of the year in business time (still 2025 in UTC)
        "g": make(factory, people, received="2026-01-01 00:00", due="2026-09-01 23:59"),
        # the last minute of 2025: outside the default period
        "before": make(
            factory,
            people,
            received="2025-12-31 23:59",
            due="2026-03-01 23:59",
            replied="2026-02-01 10:00",
            filed="2026-02-02 10:00",
            status="filed",
        ),
    }
    with unit_of_work(factory) as session:
        session.add(
            ItemCoDepartment(item_id=ids["c"], department_id=_department_id(session, "民一庭"))
        )
    meet(factory, people, ids["a"])
    rate(factory, ids["a"], "unsatisfied", 1)
    rate(factory, ids["a"], "satisfied", 2)  # the latest round counts
    rate(factory, ids["b"], "basically_satisfied")
    rate(factory, ids["d"], "unsatisfied")
    rate(factory, ids["before"], "satisfied")  # outside the period
    return ids


def report(factory, user: User, start=None, end=None, department=None) -> stats.Report:
    with unit_of_work(factory, read_only=True) as session:
        return stats.report(session, user, start, end, department)


def counts_and_rates(figures: stats.Figures) -> dict[str, Any]:
    return {**figures.counts(), **figures.rates()}


def row(rows: list[stats.Row], key: str | None) -> stats.Figures:
    return next(r.figures for r in rows if r.key == key)


ALL_NONE = {
    "finish_rate": None,
    "on_time_rate": None,
    "reply_rate": None,
    "satisfaction_rate": None,
    "meeting_rate": None,
}


def test_court_wide_totals_and_every_rate(factory, people, data):
    result = report(factory, people["registrar"])
    assert (result.start, result.end) == (date(2026, 1, 1), date(2026, 6, 16))
    assert result.scope == "court" and result.department is None
    assert counts_and_rates(result.total) == {
        "received": 7,  # a b c d e f g
        "finished": 3,  # a b e
        "finished_on_time": 2,  # a (reply by due), e (filed by due, no reply recorded)
        "replied": 3,  # a b d
        "meeting_required": 2,  # replied suggestions: a b
        "met": 1,  # a
        "rated": 3,  # a (round 2), b, d
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 1,
        "overdue": 1,  # c
        "finish_rate": 42.9,  # 3 / 7
        "on_time_rate": 66.7,  # 2 / 3
        "reply_rate": 42.9,  # 3 / 7
        "satisfaction_rate": 66.7,  # 2 / 3
        "meeting_rate": 50.0,  # 1 / 2
    }


def test_breakdown_per_kind(factory, people, data):
    result = report(factory, people["leader"])
    assert [r.key for r in result.by_kind] == [
        "suggestion",
        "letter",
        "concern_case",
        "petition",
        "supervision",
    ]
    suggestion = counts_and_rates(row(result.by_kind, "suggestion"))
    assert suggestion == {
        "received": 5,
        "finished": 2,
        "finished_on_time": 1,
        "replied": 2,
        "meeting_required": 2,
        "met": 1,
        "rated": 2,
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 0,
        "overdue": 1,
        "finish_rate": 40.0,
        "on_time_rate": 50.0,
        "reply_rate": 40.0,
        "satisfaction_rate": 100.0,
        "meeting_rate": 50.0,
    }
    letter = row(result.by_kind, "letter")
    assert letter.rates() == {
        "finish_rate": 50.0,
        "on_time_rate": 100.0,
        "reply_rate": 50.0,
        "satisfaction_rate": 0.0,
        "meeting_rate": None,  # letters need no meeting: 0 / 0
    }
    # kinds without items: zeros, and every rate null rather than 0 or an error
    concern = row(result.by_kind, "concern_case")
    assert concern.received == 0 and concern.rates() == ALL_NONE


def test_breakdown_per_department(factory, people, data):
    result = report(factory, people["president"])
    assert [r.key for r in result.by_department] == ["办公室", "民一庭", "刑一庭", None]
    civil = row(result.by_department, "民一庭")
    assert civil.counts() == {
        "received": 5,  # a b d e g (c is only co-handled)
        "finished": 3,
        "finished_on_time": 2,
        "replied": 3,
        "meeting_required": 2,
        "met": 1,
        "rated": 3,
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 1,
        "overdue": 0,
    }
    criminal = row(result.by_department, "刑一庭")
    assert (criminal.received, criminal.overdue, criminal.rates()["finish_rate"]) == (1, 1, 0.0)
    assert row(result.by_department, None).received == 1  # f: not yet assigned
    assert row(result.by_department, "办公室").rates() == ALL_NONE


def test_one_department(factory, people, data):
    result = report(factory, people["admin"], department="民一庭")
    assert result.department == "民一庭"
    assert result.total.counts() == row(result.by_department, "民一庭").counts()
    assert [r.key for r in result.by_department] == ["民一庭"]
    assert result.total.received == 5


def test_period_boundaries_are_business_days(factory, people, data):
    registrar = people["registrar"]
    # [2026-05-01, 2026-05-02): d only
    may_day = report(factory, registrar, "2026-05-01", "2026-05-02")
    assert may_day.total.received == 1 and row(may_day.by_kind, "letter").replied == 1
    # 2025 holds only the item received a minute before midnight, business time
    last_year = report(factory, registrar, "2025-01-01", "2026-01-01")
    assert last_year.total.received == 1
    assert (last_year.total.rated, last_year.total.satisfied) == (1, 1)
    # `to` alone: from 1 January of its year
    assert report(factory, registrar, None, "2026-01-02").start == date(2026, 1, 1)
    assert report(factory, registrar, None, "2026-01-02").total.received == 1  # g


def test_empty_period_gives_zero_counts_and_null_rates(factory, people, data):
    result = report(factory, people["registrar"], "2024-01-01", "2024-07-01")
    assert set(result.total.counts().values()) == {0}
    assert result.total.rates() == ALL_NONE


def test_meeting_requirement_follows_the_kind_setting(factory, people, data):
    with unit_of_work(factory) as session:
        court_id = people["registrar"].court_id
        setting = session.get(KindSetting, (court_id, "letter"))
        if setting is None:
            setting = KindSetting(court_id=court_id, kind="letter")
            session.add(setting)
        setting.meeting_required = True
    result = report(factory, people["registrar"])
    assert (result.total.meeting_required, result.total.met) == (3, 1)  # a b d; a
    assert result.total.rates()["meeting_rate"] == 33.3


def test_department_roles_see_their_visible_items_only(factory, people, data):
    drafter = report(factory, people["drafter"])  # 民一庭: leads a b d e g, co-handles c
    assert drafter.scope == "department"
    assert drafter.total.received == 6 and drafter.total.overdue == 1
    assert [r.key for r in drafter.by_department] == ["民一庭", "刑一庭"]
    head = report(factory, people["head"], department="民一庭")  # the items it leads
    assert head.total.received == 5
    other = report(factory, people["drafter_other"])  # 刑一庭
    assert other.total.received == 1 and [r.key for r in other.by_department] == ["刑一庭"]
    with pytest.raises(Forbidden):
        report(factory, people["drafter"], department="刑一庭")
    with pytest.raises(Forbidden):
        report(factory, people["designer"])


@pytest.mark.parametrize(
    ("start", "end", "department", "field"),
    [
        ("2026-13-01", None, None, "from"),
        ("2026/01/01", None, None, "from"),
        ("2026-1-1", None, None, "from"),
        (None, "tomorrow", None, "to"),
        ("0001-01-01", None, None, "from"),
        ("2026-03-01", "2026-03-01", None, "to"),
        ("2026-03-01", "2026-02-01", None, "to"),
        (None, None, "不存在的庭", "department"),
        (None, None, "民一庭\x00", "department"),
    ],
)
def test_bad_periods_and_departments_name_the_field(
    factory, people, now, start, end, department, field
):
    with pytest.raises(InvalidData) as refused:
        report(factory, people["registrar"], start, end, department)
    assert field in refused.value.fields


def test_percent_rounds_half_up_to_one_decimal():
    assert stats.percent(0, 0) is None
    assert stats.percent(0, 5) == 0.0
    assert stats.percent(1, 3) == 33.3
    assert stats.percent(2, 3) == 66.7
    assert stats.percent(1, 8) == 12.5
    assert stats.percent(1, 16) == 6.3  # 6.25 → 6.3, not banker's 6.2
    assert stats.percent(7, 7) == 100.0


def test_a_suggestion_walked_through_its_steps_is_counted(factory, people, now):
    registrar = people["registrar"]
    item_id = register(factory, registrar)
    complete(factory, registrar, item_id, "register")
    complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["leader"], item_id, "approve")
    complete(factory, registrar, item_id, "reply")  # records the meeting first
    complete(factory, registrar, item_id, "file")
    rate(factory, item_id, "satisfied")
    total = report(factory, registrar).total
    assert counts_and_rates(total) == {
        "received": 1,
        "finished": 1,
        "finished_on_time": 1,
        "replied": 1,
        "meeting_required": 1,
        "met": 1,
        "rated": 1,
        "satisfied": 1,
        "basically_satisfied": 0,
        "unsatisfied": 0,
        "overdue": 0,
        "finish_rate": 100.0,
        "on_time_rate": 100.0,
        "reply_rate": 100.0,
        "satisfaction_rate": 100.0,
        "meeting_rate": 100.0,
    }


# --- the API ----------------------------------------------------------------------------


@pytest.fixture
def tokens(people, factory) -> dict[str, str]:
    with unit_of_work(factory) as session:
        return {username: accounts.issue_token(session, username) for username in USERS}


def get(app, tokens, user: str | None, path: str):
    headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
    return app.test_client().get(API + path, headers=headers)


def test_api_answers_the_report(app, tokens, data):
    response = get(app, tokens, "registrar", "/stats")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["from"], body["to"], body["scope"], body["department"]) == (
        "2026-01-01",
        "2026-06-16",
        "court",
        None,
    )
    assert body["total"]["received"] == 7
    assert body["total"]["rates"] == {
        "finish_rate": 42.9,
        "on_time_rate": 66.7,
        "reply_rate": 42.9,
        "satisfaction_rate": 66.7,
        "meeting_rate": 50.0,
    }
    kinds = {r["kind"]: r for r in body["by_kind"]}
    assert kinds["concern_case"]["rates"]["finish_rate"] is None
    departments = {r["department"]: r for r in body["by_department"]}
    assert departments["民一庭"]["received"] == 5 and departments[None]["received"] == 1

    document = get(app, tokens, None, "/openapi.json").get_json()
    schema = {**document, "$ref": "#/components/schemas/StatsReport"}
    assert not [e.message for e in Draft202012Validator(schema).iter_errors(body)]

    one = get(app, tokens, "leader", "/stats?from=2026-05-01&to=2026-05-03&department=民一庭")
    assert one.status_code == 200
    assert one.get_json()["total"]["received"] == 2  # d e
    assert one.get_json()["department"] == "民一庭"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-02-30", "from"),
        ("from=yesterday", "from"),
        ("to=2026-01-01T00:00", "to"),
        ("from=2026-03-01&to=2026-01-01", "to"),
        ("department=不存在的庭", "department"),
        ("department=%00", "department"),
        ("from=%00", "from"),
    ],
)
def test_api_422_names_the_field(app, tokens, now, query, field):
    response = get(app, tokens, "registrar", f"/stats?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_api_access(app, tokens, now):
    assert get(app, tokens, None, "/stats").status_code == 401
    assert get(app, tokens, "designer", "/stats").status_code == 403
    assert get(app, tokens, "drafter", "/stats?department=刑一庭").status_code == 403
    drafter = get(app, tokens, "drafter", "/stats?department=民一庭")
    assert drafter.status_code == 200 and drafter.get_json()["scope"] == "department"


# --- the page ---------------------------------------------------------------------------


def test_page_shows_rates_and_tables(browser, data):
    registrar = browser("registrar")
    page = registrar.get("/stats")
    assert 'data-testid="nav-stats"' in page
    for text in ("办结率", "按期办结率", "答复率", "满意率", "见面率", "42.9%", "66.7%", "50.0%"):
        assert text in page, text
    assert 'data-testid="stats-by-kind"' in page and 'data-testid="stats-by-department"' in page
    assert "2026-01-01 至 2026-06-15" in page
    narrowed = registrar.get("/stats?from=2026-05-01&to=2026-05-02&department=民一庭")
    assert 'data-col="received">1<' in narrowed


def test_page_refuses_bad_input_and_designers(browser, data):
    registrar = browser("registrar")
    registrar.get("/stats?from=2026-13-01", status=422)
    assert "YYYY-MM-DD" in registrar.last
    registrar.get("/stats?department=不存在的庭", status=422)
    designer = browser("designer")
    assert 'data-testid="nav-stats"' not in designer.get("/inbox")
    designer.get("/stats", status=403)
    drafter = browser("drafter")
    assert "仅含本部门可见的事项" in drafter.get("/stats")
