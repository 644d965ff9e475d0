"""Escalation through the real working-day calendar, on every configured database.

A suggestion is registered and assigned on Friday 2026-09-25, just before the National
Day holidays. Time moves only through `engine.clock.travel_to`; the sweep is the one
`liaison sweep` runs (`engine.scheduler.run_sweep`).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from sqlalchemy import func, select, update

from engine import clock
from engine.db import unit_of_work
from engine.models import Alert, AuditEvent, Escalation, Item, KindSetting, Task, User
from engine.scheduler import SWEEP_SECONDS, run_sweep, start_background_scheduler
from engine.services import accounts, items, tasks
from engine.workcalendar import WorkCalendar
from tests.helpers import complete, open_task, register

BEIJING = ZoneInfo("Asia/Shanghai")
REGISTERED = datetime(2026, 9, 25, 10, 0, tzinfo=BEIJING)  # a Friday
JUST = timedelta(seconds=30)  # "just before" / margin; the clock keeps running after travel_to


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), BEIJING)


def sweep(factory):
    return run_sweep(factory, None)


def load_calendar(factory) -> WorkCalendar:
    with unit_of_work(factory) as session:
        return WorkCalendar.load(session)


def assigned_letter(factory, people, *, claim: bool = False) -> tuple[int, int]:
    """Register on Friday 2026-09-25, assign it to 民一庭; return (item id, draft task id)."""
    clock.travel_to(REGISTERED)
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    draft = open_task(factory, item_id)
    assert draft.bpmn_id == "draft"
    if claim:
        with unit_of_work(factory) as session:
            tasks.claim(session, people["drafter"], draft.id)
    return item_id, draft.id


def escalations(factory, **where) -> list[Escalation]:
    with unit_of_work(factory) as session:
        query = select(Escalation).order_by(Escalation.id)
        for name, value in where.items():
            query = query.where(getattr(Escalation, name) == value)
        return list(session.scalars(query))


def alert_users(factory, *, level: int, task_id: int | None, item_id: int) -> list[str]:
    """Usernames alerted for one level of one task (or of the item when task_id is None)."""
    with unit_of_work(factory) as session:
        task_condition = Alert.task_id.is_(None) if task_id is None else Alert.task_id == task_id
        return sorted(
            session.scalars(
                select(User.username)
                .join(Alert, Alert.user_id == User.id)
                .where(Alert.level == level, Alert.item_id == item_id, task_condition)
            )
        )


def totals(factory) -> tuple[int, int, int]:
    """(escalations, alerts, audit events): a sweep that does nothing changes none."""
    with unit_of_work(factory) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Escalation, Alert, AuditEvent)
        )


def idle(report) -> bool:
    return report.escalation.levels == {1: 0, 2: 0, 3: 0} and report.escalation.alerts == 0


def test_the_seeded_calendar_around_national_day_2026(factory):
    """The facts the scenario relies on, read from the seeded calendar, not assumed."""
    cal = load_calendar(factory)
    assert cal.is_known_year(2026) and not cal.is_known_year(2027)
    # The registration Friday is itself a rest day: the Mid-Autumn Festival.
    assert REGISTERED.date().weekday() == 4
    assert not cal.is_working_day(date(2026, 9, 25))
    assert cal.holiday_name(date(2026, 9, 25)) == "中秋"
    # National Day: Thursday 10-01 to Wednesday 10-07 off, back on Thursday 10-08.
    for day in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, day)), day
    assert cal.holiday_name(date(2026, 10, 5)) == "国庆节"
    assert cal.is_working_day(date(2026, 10, 8))
    # 调休: Sunday 09-20 and Saturday 10-10 are working days; the weekends around are not.
    assert date(2026, 9, 20).weekday() == 6 and cal.is_working_day(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5 and cal.is_working_day(date(2026, 10, 10))
    assert not cal.is_working_day(date(2026, 10, 11))
    # So ten working days from 09-25 run 09-28..30, 10-08, 10-09, 10-10 (Sat), 10-12..15,
    # where a plain Monday–Friday count would end on 10-09.
    assert cal.add_working_days(date(2026, 9, 25), 10) == date(2026, 10, 15)
    plain = WorkCalendar.from_exceptions([], {})
    assert plain.add_working_days(date(2026, 9, 25), 10) == date(2026, 10, 9)


@pytest.mark.parametrize("claimed", [False, True], ids=["unclaimed", "claimed"])
def test_draft_step_escalates_on_the_right_working_day_and_only_once(factory, people, claimed):
    item_id, draft_id = assigned_letter(factory, people, claim=claimed)
    cal = load_calendar(factory)
    due_day = cal.add_working_days(REGISTERED.date(), 10)
    remind_day = cal.subtract_working_days(due_day, 2)
    supervise_day = cal.add_working_days(due_day, 2)
    assert (remind_day, due_day, supervise_day) == (
        date(2026, 10, 13),
        date(2026, 10, 15),
        date(2026, 10, 19),
    )
    with unit_of_work(factory) as session:
        draft = session.get(Task, draft_id)
        assert draft.remind_at == at(remind_day, 9)
        assert draft.due_at == at(due_day, 23, 59, 59)
        assert draft.supervise_at == at(supervise_day, 9)
        assert draft.next_escalation_at == draft.remind_at
        assert draft.due_fallback is False

    # Through the holidays and up to the instant before the reminder: nothing at all.
    for moment in (at(date(2026, 10, 8), 9), at(date(2026, 10, 10), 17), at(remind_day, 9) - JUST):
        clock.travel_to(moment)
        assert idle(sweep(factory)), moment
    assert totals(factory)[:2] == (0, 0)

    # Level 1 just after 09:00 on the reminder day: the holder, or every candidate drafter
    # of 民一庭 (not the drafter of 刑一庭) while nobody has claimed the step.
    clock.travel_to(at(remind_day, 9, 0, 1))
    report = sweep(factory)
    assert report.escalation.levels == {1: 1, 2: 0, 3: 0}
    expected = ["drafter"] if claimed else ["drafter", "drafter_b"]
    assert alert_users(factory, level=1, task_id=draft_id, item_id=item_id) == expected
    before = totals(factory)
    assert idle(sweep(factory)) and totals(factory) == before

    # Overdue only after the end of the due day, to the head of 民一庭.
    clock.travel_to(at(due_day, 23, 59, 59) - JUST)
    assert idle(sweep(factory))
    clock.travel_to(at(due_day + timedelta(days=1), 0, 0, 1))
    assert sweep(factory).escalation.levels == {1: 0, 2: 1, 3: 0}
    assert alert_users(factory, level=2, task_id=draft_id, item_id=item_id) == ["head"]

    # Two working days later (Friday 10-16, Monday 10-19) to the leader, and supervised.
    clock.travel_to(at(date(2026, 10, 17), 12))  # the Saturday between: not a working day
    assert idle(sweep(factory))
    clock.travel_to(at(supervise_day, 9) - JUST)
    assert idle(sweep(factory))
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).supervised is False
    clock.travel_to(at(supervise_day, 9, 0, 1))
    assert sweep(factory).escalation.levels == {1: 0, 2: 0, 3: 1}
    assert alert_users(factory, level=3, task_id=draft_id, item_id=item_id) == ["leader"]

    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert item.supervised is True
        board, total = items.search(
            session, people["leader"], items.ItemQuery(supervised=True, per_page=100)
        )
        assert [i.id for i in board] == [item_id] and total == 1
        draft = session.get(Task, draft_id)
        assert (draft.escalation_level, draft.next_escalation_at) == (3, None)
        actions = Counter(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.item_id == item_id, AuditEvent.action.like("escalated_%")
                )
            )
        )
    assert actions == {"escalated_1": 1, "escalated_2": 1, "escalated_3": 1}
    assert [(e.key, e.level) for e in escalations(factory, task_id=draft_id)] == [
        (f"task:{draft_id}:{level}", level) for level in (1, 2, 3)
    ]
    before = totals(factory)
    assert idle(sweep(factory)) and idle(sweep(factory))
    assert totals(factory) == before


def test_catch_up_after_downtime_records_every_level_once(factory, people):
    item_id, draft_id = assigned_letter(factory, people)
    # The server was off from the registration until late November: one sweep catches up.
    clock.travel_to(at(date(2026, 11, 23), 8, 30))
    report = sweep(factory)
    assert report.escalation.levels == {1: 1, 2: 1, 3: 1}  # the item itself is due in December
    assert [e.level for e in escalations(factory, task_id=draft_id)] == [1, 2, 3]
    with unit_of_work(factory) as session:
        per_person = Counter(
            session.execute(select(Alert.user_id, Alert.task_id, Alert.level)).all()
        )
        assert session.get(Item, item_id).supervised is True
    assert set(per_person.values()) == {1}  # one alert per person, task and level
    assert alert_users(factory, level=1, task_id=draft_id, item_id=item_id) == [
        "drafter",
        "drafter_b",
    ]
    assert alert_users(factory, level=2, task_id=draft_id, item_id=item_id) == ["head"]
    assert alert_users(factory, level=3, task_id=draft_id, item_id=item_id) == ["leader"]
    assert report.escalation.alerts == sum(per_person.values()) == 4
    before = totals(factory)
    clock.travel_to(at(date(2026, 11, 24), 9, 30))
    assert idle(sweep(factory)) and totals(factory) == before


def test_item_deadline_is_three_civil_code_months_from_assignment(factory, people):
    item_id, draft_id = assigned_letter(factory, people)
    cal = load_calendar(factory)
    limit = cal.add_months(REGISTERED.date(), 3)
    assert limit.day == limit.nominal == date(2026, 12, 25)  # a working Friday: no roll
    remind_day = cal.subtract_working_days(limit.day, 3)
    supervise_day = cal.add_working_days(limit.day, 2)
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert REGISTERED <= item.assigned_at < REGISTERED + timedelta(minutes=1)
        assert item.due_at == at(limit.day, 23, 59, 59)
        assert item.remind_at == at(remind_day, 9)
        assert item.supervise_at == at(supervise_day, 9)
        assert item.due_fallback is False

    def item_levels() -> list[int]:
        return [e.level for e in escalations(factory, item_id=item_id, task_id=None)]

    clock.travel_to(at(remind_day, 9) - JUST)
    sweep(factory)  # the draft step has long escalated by now; the item has not
    assert item_levels() == []
    clock.travel_to(at(remind_day, 9, 0, 1))
    assert sweep(factory).escalation.levels == {1: 1, 2: 0, 3: 0}
    # Nobody holds the open draft step, so the item reminder goes to its candidates.
    assert alert_users(factory, level=1, task_id=None, item_id=item_id) == [
        "drafter",
        "drafter_b",
    ]
    clock.travel_to(at(limit.day, 23, 59, 59) - JUST)
    assert idle(sweep(factory))
    clock.travel_to(at(limit.day + timedelta(days=1), 0, 0, 1))
    assert sweep(factory).escalation.levels == {1: 0, 2: 1, 3: 0}
    assert alert_users(factory, level=2, task_id=None, item_id=item_id) == ["head"]
    clock.travel_to(at(supervise_day, 9, 0, 1))
    assert sweep(factory).escalation.levels == {1: 0, 2: 0, 3: 1}
    assert alert_users(factory, level=3, task_id=None, item_id=item_id) == ["leader"]
    assert [(e.key, e.level) for e in escalations(factory, item_id=item_id, task_id=None)] == [
        (f"item:{item_id}:{level}", level) for level in (1, 2, 3)
    ]
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert (item.escalation_level, item.next_escalation_at, item.supervised) == (3, None, True)
    assert idle(sweep(factory))


def test_month_limit_ending_on_a_holiday_rolls_to_the_next_working_day(factory, people):
    """Assigned on 07-01 (no 07-31 problem), three months end on 10-01, National Day."""
    clock.travel_to(datetime(2026, 7, 1, 10, 0, tzinfo=BEIJING))
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    cal = load_calendar(factory)
    limit = cal.add_months(date(2026, 7, 1), 3)
    assert (limit.nominal, limit.day) == (date(2026, 10, 1), date(2026, 10, 8))
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).due_at == at(date(2026, 10, 8), 23, 59, 59)


def test_completing_the_step_stops_its_escalation(factory, people):
    item_id, draft_id = assigned_letter(factory, people, claim=True)
    clock.travel_to(at(date(2026, 10, 13), 9, 0, 1))
    assert sweep(factory).escalation.levels[1] == 1
    complete(factory, people["drafter"], item_id, "draft")
    with unit_of_work(factory) as session:
        draft = session.get(Task, draft_id)
        # Cleared in the completing transaction, not left for the next sweep to find.
        assert (draft.status, draft.next_escalation_at) == ("completed", None)
    clock.travel_to(at(date(2026, 11, 30), 10))  # far past the draft's due and supervise days
    sweep(factory)
    assert [e.level for e in escalations(factory, task_id=draft_id)] == [1]
    with unit_of_work(factory) as session:
        draft = session.get(Task, draft_id)
        assert (draft.escalation_level, draft.next_escalation_at) == (1, None)
        # The step that took its place escalates on its own clock.
        approve = session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))
        assert approve.bpmn_id == "leader_approve"
    assert [e.level for e in escalations(factory, task_id=approve.id)] == [1, 2, 3]


def test_deadline_in_a_year_without_calendar_data_is_flagged_estimated(factory, people, app):
    clock.travel_to(datetime(2026, 12, 24, 10, 0, tzinfo=BEIJING))
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    draft = open_task(factory, item_id)
    cal = load_calendar(factory)
    assert not cal.is_known_year(2027)
    # 2027 is counted Monday–Friday: 01-01 counts as a working day in the fallback.
    assert cal.add_working_days(date(2026, 12, 24), 10) == date(2027, 1, 7)
    assert draft.due_at == at(date(2027, 1, 7), 23, 59, 59)
    assert draft.due_fallback is True
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert item.due_fallback is True and item.due_at.year == 2027
        token = accounts.issue_token(session, "drafter")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    task_json = client.get(f"/api/v1/tasks/{draft.id}", headers=headers).get_json()
    assert task_json["due_estimated"] is True
    assert task_json["due_at"].startswith("2027-01-07T15:59:59")  # 23:59:59 in Beijing
    item_json = client.get(f"/api/v1/items/{item_id}", headers=headers).get_json()
    assert item_json["due_estimated"] is True
    assert item_json["open_tasks"][0]["due_estimated"] is True

    # The same step started in early December stays inside 2026: not estimated.
    clock.travel_to(datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING))
    other_id = register(factory, people["registrar"], title="另一件建议")
    complete(factory, people["registrar"], other_id, "register")
    other = open_task(factory, other_id)
    assert other.due_at.astimezone(BEIJING).year == 2026 and other.due_fallback is False
    other_json = client.get(f"/api/v1/tasks/{other.id}", headers=headers).get_json()
    assert other_json["due_estimated"] is False


def test_alert_api_lists_only_my_alerts_and_marks_them_read(factory, people, app):
    item_id, draft_id = assigned_letter(factory, people)
    clock.travel_to(at(date(2026, 11, 23), 10))
    sweep(factory)
    with unit_of_work(factory) as session:
        mine = set(session.scalars(select(Alert.id).where(Alert.user_id == people["drafter"].id)))
        heads = list(session.scalars(select(Alert.id).where(Alert.user_id == people["head"].id)))
        drafter_token = accounts.issue_token(session, "drafter")
        head_token = accounts.issue_token(session, "head")
    assert len(mine) == 1 and len(heads) == 1
    client = app.test_client()
    as_drafter = {"Authorization": f"Bearer {drafter_token}"}

    listed = client.get("/api/v1/alerts", headers=as_drafter)
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == 1
    assert {a["id"] for a in body["items"]} == mine
    (alert,) = body["items"]
    assert (alert["item_id"], alert["task_id"], alert["level"], alert["read"]) == (
        item_id,
        draft_id,
        1,
        False,
    )

    # Another person's alert does not exist for me, and stays unread.
    response = client.post(f"/api/v1/alerts/{heads[0]}/read", headers=as_drafter)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    response = client.post(f"/api/v1/alerts/{alert['id']}/read", headers=as_drafter)
    assert response.status_code == 200 and response.get_json() == {"marked": 1}
    after = client.get("/api/v1/alerts", headers=as_drafter).get_json()
    assert [a["read"] for a in after["items"]] == [True]
    assert client.get("/api/v1/alerts?unread=true", headers=as_drafter).get_json()["total"] == 0

    head_view = client.get(
        "/api/v1/alerts", headers={"Authorization": f"Bearer {head_token}"}
    ).get_json()
    assert [(a["id"], a["read"]) for a in head_view["items"]] == [(heads[0], False)]
    assert client.get("/api/v1/alerts").status_code == 401


def test_supervise_after_zero_goes_to_the_leader_when_overdue_not_before(factory, people):
    """A kind whose items go to the leader as soon as they are overdue (0 working days)."""
    clock.travel_to(REGISTERED)
    with unit_of_work(factory) as session:
        session.add(
            KindSetting(
                court_id=people["registrar"].court_id,
                kind="suggestion",
                limit_months=None,
                limit_working_days=5,
                due_soon_working_days=1,
                supervise_after_working_days=0,
            )
        )
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    with unit_of_work(factory) as session:
        # Keep the draft step out of the way: this is about the item's own levels.
        session.execute(update(Task).where(Task.item_id == item_id).values(next_escalation_at=None))
        item = session.get(Item, item_id)
        # 09-28, 09-29, 09-30, 10-08, 10-09: due at the end of Friday 10-09.
        assert item.due_at == at(date(2026, 10, 9), 23, 59, 59)
        assert item.remind_at == at(date(2026, 10, 8), 9)
        assert item.supervise_at >= item.due_at

    def item_levels() -> list[int]:
        return [e.level for e in escalations(factory, item_id=item_id, task_id=None)]

    clock.travel_to(at(date(2026, 10, 9), 12))  # the due day itself: reminded, not overdue
    sweep(factory)
    assert item_levels() == [1]
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).supervised is False
    clock.travel_to(at(date(2026, 10, 10), 0, 0, 1))
    assert sweep(factory).escalation.levels == {1: 0, 2: 1, 3: 1}
    assert item_levels() == [1, 2, 3]
    assert alert_users(factory, level=2, task_id=None, item_id=item_id) == ["head"]


def test_the_background_scheduler_job_is_active_and_sweeps(factory, people):
    """`liaison serve` / `liaison scheduler` add the sweep job; it must not start paused."""
    item_id, draft_id = assigned_letter(factory, people)
    clock.travel_to(at(date(2026, 11, 23), 10))
    executed = threading.Event()
    scheduler = start_background_scheduler(factory, None)
    scheduler.add_listener(lambda event: executed.set(), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    try:
        job = scheduler.get_job("sweep")
        assert job.next_run_time is not None  # None would mean a paused job: no sweeps, ever
        assert job.trigger.interval == timedelta(seconds=SWEEP_SECONDS) == timedelta(minutes=1)
        # Run it now on the scheduler's own thread rather than waiting for the minute.
        job.modify(next_run_time=datetime.now(job.next_run_time.tzinfo))
        assert executed.wait(timeout=60)
    finally:
        scheduler.shutdown()
    assert [e.level for e in escalations(factory, task_id=draft_id)] == [1, 2, 3]
